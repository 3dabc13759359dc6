// Distill a pruned student from the bundled Fashion-MNIST teacher, then quantize it to int8.
//
// A program of its own that links shrink through CMake's find_package (examples/CMakeLists.txt):
//
//   cmake -S . -B build -G Ninja && ninja -C build && cmake --install build --prefix /tmp/shrink
//   cmake -S examples -B build-example -G Ninja -DCMAKE_PREFIX_PATH=/tmp/shrink
//   ninja -C build-example && build-example/distill_then_quantize
//   examples/models/fmnist-resnet.onnx
//
// The same steps as a recipe: prune-channels, distill, quantize (docs/recipes.md).

#include "shrink/exec/onednn.h"
#include "shrink/io/datasets.h"
#include "shrink/io/model.h"
#include "shrink/ir/evaluate.h"
#include "shrink/ir/shape_inference.h"
#include "shrink/ir/stats.h"
#include "shrink/pass/pass_manager.h"
#include "shrink/torch/factory.h"

#include <cstdio>
#include <exception>
#include <string>

namespace {

void show(const char* step, const shrink::Graph& graph, const shrink::DataSource& test,
          shrink::Executor& exec) {
  shrink::Graph copy = graph.clone();
  shrink::infer_shapes(copy);
  shrink::GraphStats s = shrink::graph_stats(copy);
  double acc = shrink::evaluate(graph, test, "accuracy", exec, {/*batch_size=*/250}).value;
  std::printf("%-16s %10s %11s %10s  accuracy %.4f\n", step,
              shrink::human_count(static_cast<double>(s.parameters)).c_str(),
              shrink::human_bytes(static_cast<double>(s.parameter_bytes)).c_str(),
              shrink::human_count(static_cast<double>(s.flops)).c_str(), acc);
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s TEACHER.onnx [OUT.onnx] [TRAIN_SAMPLES] [EPOCHS]\n", argv[0]);
    return 2;
  }
  try {
    const std::string out = argc > 2 ? argv[2] : "student.int8.onnx";
    const int64_t train_samples = argc > 3 ? std::stoll(argv[3]) : 10000;
    const std::string epochs = argc > 4 ? argv[4] : "2";

    shrink::Graph teacher = shrink::load_model(argv[1]);
    auto train = shrink::random_subset(shrink::fashion_mnist("train"), train_samples, 0);
    auto calibration = shrink::random_subset(shrink::fashion_mnist("train"), 512, 1);
    auto test = shrink::fashion_mnist("test");

    shrink::OneDnnExecutor exec;
    std::unique_ptr<shrink::Trainer> trainer = shrink::make_torch_trainer();
    shrink::PassContext ctx;
    ctx.executor = &exec;
    ctx.trainer = trainer.get();
    ctx.train = train.get();
    ctx.calibration = calibration.get();
    ctx.teacher = &teacher;

    shrink::Graph student = teacher.clone();
    show("teacher", student, *test, exec);
    shrink::PassManager::from_text("fold-batchnorm,prune-channels{ratio=0.25}").run(student, ctx);
    show("pruned", student, *test, exec);
    shrink::PassManager::from_text("distill{epochs=" + epochs + ",temperature=4,alpha=0.9}")
        .run(student, ctx);
    show("distilled", student, *test, exec);
    shrink::PassManager::from_text("quantize").run(student, ctx);
    show("int8", student, *test, exec);
    shrink::save_model(student, out);
    std::printf("wrote %s\n", out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
