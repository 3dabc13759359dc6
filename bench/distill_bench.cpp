// Distillation benchmarks: accuracy of a small student trained with KD from fmnist-resnet
// against the same student trained on hard labels only, and the bridge's training throughput
// and peak memory (compared with bench/distill_torch_baseline.py, the same model in PyTorch).
//
//   shrink_bench_distill accuracy [epochs=3] [train_limit=-1]
//   shrink_bench_distill throughput [mode=student|kd] [steps=60] [batch=128] [threads=2]
//
// Run from the repository root (reads examples/models/fmnist-resnet.onnx).

#include "shrink/io/datasets.h"
#include "shrink/io/model.h"
#include "shrink/ir/evaluate.h"
#include "shrink/ir/text.h"
#include "shrink/torch/graph_module.h"
#include "shrink/torch/trainer.h"

#include <ATen/Parallel.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/sgd.h>

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <string>

using namespace shrink;

namespace {

// The student: five 3x3 conv + BN + ReLU layers (16-32-64-64-128 channels, two max pools), global
// average pooling and a linear classifier: 98K parameters, 1/15 of the teacher's 1.5M. The same
// network is `Student` in bench/distill_torch_baseline.py.
Graph student_graph(uint64_t seed) {
  std::string text = "graph @student(%x: f32[N,1,28,28]) {\n";
  const int64_t ch[6] = {1, 16, 32, 64, 64, 128};
  std::string prev = "%x";
  for (int i = 1; i <= 5; ++i) {
    const std::string k = std::to_string(i), ci = std::to_string(ch[i - 1]),
                      co = std::to_string(ch[i]);
    text += "  %w" + k + " = const f32[" + co + "," + ci + ",3,3] zeros\n";
    for (const char* p : {"s", "b", "m", "v"})
      text += "  %" + std::string(p) + k + " = const f32[" + co + "] zeros\n";
    text += "  %c" + k + " = Conv(" + prev + ", %w" + k + ") {pads=[1,1,1,1]}\n";
    text += "  %n" + k + " = BatchNormalization(%c" + k + ", %s" + k + ", %b" + k + ", %m" + k +
            ", %v" + k + ")\n";
    text += "  %r" + k + " = Relu(%n" + k + ")\n";
    prev = "%r" + k;
    if (i == 1 || i == 3) {
      text += "  %p" + k + " = MaxPool(" + prev + ") {kernel_shape=[2,2], strides=[2,2]}\n";
      prev = "%p" + k;
    }
  }
  text += "  %g = GlobalAveragePool(" + prev + ")\n  %f = Flatten(%g)\n";
  text += "  %wf = const f32[10,128] zeros\n  %bf = const f32[10] zeros\n";
  text += "  %y = Gemm(%f, %wf, %bf) {transB=1}\n  return %y\n}\n";
  Graph g = parse(text);
  // He-uniform weights (variance 2 / fan_in), unit BN scale and variance.
  uint64_t s = seed;
  for (Value* v : g.initializers()) {
    const std::string& n = v->name();
    Tensor t = v->initializer().clone();
    if (n[0] == 'w') {
      const int64_t fan_in = t.numel() / t.dim(0);
      Tensor r = Tensor::random(t.shape(), ++s);
      const float a = static_cast<float>(std::sqrt(6.0 / static_cast<double>(fan_in)));
      for (int64_t i = 0; i < t.numel(); ++i)
        t.data_mutable<float>()[i] = r.data<float>()[i] * a;
    } else if (n[0] == 's' || n[0] == 'v') {
      for (int64_t i = 0; i < t.numel(); ++i)
        t.data_mutable<float>()[i] = 1.0f;
    }
    g.set_initializer(v, t);
  }
  return g;
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

int accuracy(int epochs, int64_t limit) {
  Graph teacher = load_model("examples/models/fmnist-resnet.onnx");
  std::shared_ptr<const DataSource> train = fashion_mnist("train", limit);
  auto test = fashion_mnist("test");
  std::cout << "teacher " << teacher.num_parameters() << " parameters, student "
            << student_graph(1).num_parameters() << "\n";
  TorchTrainer trainer;
  DistillOptions o;
  o.train.epochs = epochs;
  o.train.batch_size = 128;
  o.train.optimizer = "sgd";
  o.train.learning_rate = 0.1;
  o.train.weight_decay = 5e-4;
  o.train.schedule = "one-cycle";
  o.train.seed = 0;
  o.augment = "crop-flip";
  o.eval_batch_size = 500;
  std::cout << "| run | alpha | T | epochs | test accuracy (best epoch) | per epoch | train s |\n"
               "|---|---|---|---|---|---|---|\n";
  for (double alpha : {0.0, 0.9}) {
    Graph s = student_graph(1);
    o.alpha = alpha;
    o.temperature = 4.0;
    DistillReport r = trainer.distill(s, teacher, *train, test.get(), o, {}, &std::cerr);
    std::string per;
    double secs = 0;
    for (const DistillEpoch& e : r.epochs) {
      std::ostringstream t;
      t << std::fixed << std::setprecision(2) << 100 * e.metric;
      per += (per.empty() ? "" : " / ") + t.str();
      secs += e.seconds;
    }
    std::cout << "| " << (alpha == 0 ? "hard labels only" : "KD from fmnist-resnet") << " | "
              << alpha << " | " << (alpha == 0 ? "-" : "4") << " | " << epochs << " | "
              << std::fixed << std::setprecision(2) << 100 * r.best_metric << "% (" << r.best_epoch
              << ") | " << per << " | " << std::setprecision(0) << secs << " |\n"
              << std::flush;
  }
  return 0;
}

int throughput(const std::string& mode, int64_t steps, int64_t batch, int threads) {
  at::set_num_threads(threads);
  Graph g = student_graph(1);
  GraphModule s(g);
  GraphModule t(mode == "kd" ? load_model("examples/models/fmnist-resnet.onnx") : student_graph(2));
  t->eval();
  s->train();
  torch::optim::SGD opt(s->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  auto train = fashion_mnist("train");
  const int64_t warm = 5;
  std::chrono::steady_clock::time_point start;
  for (int64_t i = 0; i < warm + steps; ++i) {
    if (i == warm) start = std::chrono::steady_clock::now();
    Batch b = train->batch((i * batch) % (train->size() - batch), batch);
    torch::Tensor x = to_torch(b.inputs[0]);
    torch::Tensor y = to_torch(*b.labels);
    torch::Tensor out = s->forward({x})[0];
    torch::Tensor loss = torch::nn::functional::cross_entropy(out, y);
    if (mode == "kd") {
      torch::Tensor tl;
      {
        torch::NoGradGuard ng;
        tl = t->forward({x})[0];
      }
      loss = 0.1 * loss + 0.9 * 16.0 *
                              at::kl_div(at::log_softmax(out / 4.0, 1),
                                         at::log_softmax(tl / 4.0, 1), at::Reduction::Sum, true) /
                              static_cast<double>(batch);
    }
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "bridge " << mode << ": " << std::fixed << std::setprecision(1)
            << static_cast<double>(steps * batch) / secs << " samples/s (" << steps << " steps of "
            << batch << ", " << threads << " threads), peak RSS " << peak_rss_mb() << " MB\n";
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    const std::string what = argc > 1 ? argv[1] : "throughput";
    if (what == "accuracy")
      return accuracy(argc > 2 ? std::stoi(argv[2]) : 3, argc > 3 ? std::stoll(argv[3]) : -1);
    if (what == "throughput")
      return throughput(argc > 2 ? argv[2] : "student", argc > 3 ? std::stoll(argv[3]) : 60,
                        argc > 4 ? std::stoll(argv[4]) : 128, argc > 5 ? std::stoi(argv[5]) : 2);
    std::cerr << "usage: shrink_bench_distill accuracy|throughput ...\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
