// The bundled reference models (examples/models) import, verify, and reproduce the metric their
// training script recorded (in <name>.metrics.json) in both executors.
//
// The oneDNN runtime scores the whole test / validation set. The reference executor is much
// slower, so it scores a prefix of the same data and must agree with the oneDNN runtime there,
// prediction by prediction; the full-set reference numbers are recorded in
// examples/models/README.md (`shrink eval`).

#include "shrink/core/error.h"
#include "shrink/exec/onednn.h"
#include "shrink/exec/reference.h"
#include "shrink/io/datasets.h"
#include "shrink/io/onnx.h"
#include "shrink/ir/evaluate.h"
#include "shrink/ir/verifier.h"
#include "shrink/pass/pass_manager.h"
#include "shrink/transforms/builtin.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

using namespace shrink;

namespace {

const std::string kModels = std::string(SHRINK_TEST_DIR) + "/../examples/models/";

// Reads one number field of a metrics.json file written by the training scripts.
double recorded_metric(const std::string& model, const std::string& key) {
  std::ifstream in(kModels + model + ".metrics.json");
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  std::smatch m;
  const std::string s = text.str();
  REQUIRE(std::regex_search(s, m, std::regex("\"" + key + "\": ([0-9.eE+-]+)")));
  return std::stod(m[1].str());
}

} // namespace

TEST_CASE("fmnist-resnet reproduces its recorded test accuracy", "[models][slow]") {
  Graph g = load_onnx(kModels + "fmnist-resnet.onnx");
  REQUIRE(verify(g).empty());
  const double recorded = recorded_metric("fmnist-resnet", "test_accuracy");
  auto test = fashion_mnist("test");

  OneDnnExecutor fast;
  EvalResult full = evaluate(g, *test, "accuracy", fast, {/*batch_size=*/256});
  INFO(full.str());
  CHECK(full.samples == 10000);
  CHECK(std::abs(full.value - recorded) <= 0.001); // 0.1 points

  // The reference executor gives the same predictions on a prefix of the test set.
  constexpr int64_t kPrefix = 256;
  ReferenceExecutor ref;
  Batch b = test->batch(0, kPrefix);
  std::vector<Tensor> a = ref.run(g, b.inputs);
  std::vector<Tensor> o = fast.run(g, b.inputs);
  CHECK(max_relative_error(a[0], o[0]) < 1e-4);
  EvalResult fast_prefix = evaluate(g, *test, "accuracy", fast, {128, kPrefix});
  EvalResult ref_prefix = evaluate(g, *test, "accuracy", ref, {128, kPrefix});
  CHECK(ref_prefix.value == fast_prefix.value);
}

TEST_CASE("fortunes-gpt reproduces its recorded validation perplexity", "[models][slow]") {
  Graph g = load_onnx(kModels + "fortunes-gpt.onnx");
  REQUIRE(verify(g).empty());
  const double recorded = recorded_metric("fortunes-gpt", "val_perplexity");
  CharTokenizer tokenizer = CharTokenizer::load(kModels + "fortunes-gpt.vocab.json");
  REQUIRE(tokenizer.context() == 128);
  auto val = fortunes("validation", tokenizer, tokenizer.context());

  OneDnnExecutor fast;
  EvalResult full = evaluate(g, *val, "perplexity", fast, {/*batch_size=*/32});
  INFO(full.str());
  // The training script also scores the last partial window (under 128 of 264k characters).
  CHECK(std::abs(full.value - recorded) / recorded <= 0.005);

  // The reference executor agrees on the first windows.
  constexpr int64_t kPrefix = 16;
  ReferenceExecutor ref;
  EvalResult fast_prefix = evaluate(g, *val, "perplexity", fast, {8, kPrefix});
  EvalResult ref_prefix = evaluate(g, *val, "perplexity", ref, {8, kPrefix});
  CHECK(std::abs(ref_prefix.value - fast_prefix.value) / fast_prefix.value < 1e-5);
}

TEST_CASE("lowrank whitening beats plain SVD on fmnist-resnet's calibration outputs",
          "[models][lowrank]") {
  Graph teacher = load_onnx(kModels + "fmnist-resnet.onnx");
  PassContext clean;
  PassManager::from_text(kCleanupPipeline).run(teacher, clean);
  auto calibration = fashion_mnist("train", 128);
  OneDnnExecutor exec;
  Batch b = calibration->batch(0, 128);
  const Tensor reference = exec.run(teacher, b.inputs)[0];

  // Relative L2 error of the logits on the calibration images after factorizing at 40% rank.
  auto error_after = [&](const std::string& pipeline) {
    Graph g = teacher.clone();
    PassContext ctx;
    ctx.executor = &exec;
    ctx.calibration = calibration.get();
    PassManager::from_text(pipeline).run(g, ctx);
    const Tensor out = exec.run(g, b.inputs)[0];
    double num = 0, den = 0;
    for (int64_t i = 0; i < out.numel(); ++i) {
      const double d = out.data<float>()[i] - reference.data<float>()[i];
      num += d * d;
      den += static_cast<double>(reference.data<float>()[i]) * reference.data<float>()[i];
    }
    return std::sqrt(num / den);
  };
  const double plain = error_after("lowrank{ratio=0.4}");
  const double whitened = error_after("lowrank{ratio=0.4,whiten=true}");
  INFO("plain " << plain << ", whitened " << whitened);
  CHECK(plain > 0.0);
  CHECK(whitened < plain);
}
