// Measures what compression pipelines do to a bundled reference model: parameters, FLOPs, the
// task metric on the full test / validation set, and oneDNN-runtime latency, each against the
// unchanged model measured in the same run.
//
//   shrink_bench_compress --model fmnist-resnet \
//       "prune-channels{ratio=0.5,global=true}" "lowrank{budget=0.5,whiten=true}" ...
//   shrink_bench_compress --model fortunes-gpt "prune-heads{ratio=0.5}" ...
//   shrink_bench_compress --lowrank-scale [--params 10000000]
//
// Every pipeline starts from the cleaned model (the lossless cleanup pipeline). Data: the
// Fashion-MNIST test set (10000 images) or the fortunes validation text (windows of 128
// characters); calibration and training data come from the training splits. Latency is the
// median of --repeats runs at --batch (64) with --threads (1) after a warm-up. The output is a
// Markdown table, one row per pipeline.
//
// A `distill` step fine-tunes with the LibTorch trainer against the cleaned teacher on the
// training split (its per-epoch evaluation reads the eval set; pass keep_best=false so that the
// test set does not pick the weights).
//
// --lowrank-scale times `lowrank` on every eligible layer of a synthetic model of --params
// parameters (a stack of square MatMuls) and reports wall time and the peak resident memory it
// added, against the model's size.

#include "shrink/core/error.h"
#include "shrink/exec/onednn.h"
#include "shrink/io/datasets.h"
#include "shrink/io/model.h"
#include "shrink/ir/evaluate.h"
#include "shrink/ir/graph.h"
#include "shrink/ir/shape_inference.h"
#include "shrink/ir/stats.h"
#include "shrink/pass/pass_manager.h"
#include "shrink/torch/trainer.h"
#include "shrink/transforms/builtin.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace shrink;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Peak resident set size of this process so far, in bytes.
double peak_rss_bytes() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024.0;
}

// Current resident set size, in bytes (from /proc/self/statm).
double current_rss_bytes() {
  std::ifstream in("/proc/self/statm");
  double pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * 4096.0;
}

struct Task {
  std::string model_path;
  std::string metric;
  std::shared_ptr<const DataSource> eval;
  std::shared_ptr<const DataSource> calibration;
  std::shared_ptr<const DataSource> train;
  SymbolSizes sizes; // symbol bindings for FLOPs per sample
  Tensor latency_input;
};

Task make_task(const std::string& name, const std::string& models_dir, int64_t batch) {
  Task t;
  if (name == "fmnist-resnet") {
    t.model_path = models_dir + "/fmnist-resnet.onnx";
    t.metric = "accuracy";
    t.eval = fashion_mnist("test");
    auto train = fashion_mnist("train");
    t.train = train;
    t.calibration = random_subset(train, 512, 0);
    t.latency_input = t.eval->batch(0, batch).inputs[0];
  } else if (name == "fortunes-gpt") {
    t.model_path = models_dir + "/fortunes-gpt.onnx";
    t.metric = "perplexity";
    CharTokenizer tok = CharTokenizer::load(models_dir + "/fortunes-gpt.vocab.json");
    t.eval = fortunes("validation", tok, tok.context());
    auto train = fortunes("train", tok, tok.context());
    t.train = train;
    t.calibration = random_subset(train, 128, 0);
    t.sizes["T"] = tok.context();
    t.latency_input = t.eval->batch(0, batch).inputs[0];
  } else {
    throw Error("unknown --model '" + name + "': use fmnist-resnet or fortunes-gpt");
  }
  return t;
}

double median_latency_ms(OneDnnExecutor& exec, const Graph& g, const Tensor& input, int repeats) {
  exec.run(g, {input});
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = Clock::now();
    exec.run(g, {input});
    ms.push_back(seconds_since(t0) * 1e3);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

struct Row {
  std::string pipeline;
  GraphStats stats;
  double metric = 0;
  double latency_ms = 0;
  double seconds = 0;
};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

int run_pipelines(const std::string& model, const std::vector<std::string>& pipelines,
                  const std::string& models_dir, int64_t batch, int threads, int repeats) {
  Task task = make_task(model, models_dir, batch);
  Graph base = load_model(task.model_path);
  PassContext clean_ctx;
  PassManager::from_text(kCleanupPipeline).run(base, clean_ctx);
  infer_shapes(base);

  OneDnnOptions opts;
  opts.threads = threads;
  OneDnnExecutor exec(opts);
  EvalOptions eval_opts;
  eval_opts.batch_size = model == "fortunes-gpt" ? 32 : 256;

  // Pipelines with `distill` fine-tune on the training split with the cleaned teacher.
  TorchTrainer trainer(threads);
  std::vector<Row> rows;
  auto measure = [&](const std::string& label, const Graph& g, double pass_seconds) {
    Row r;
    r.pipeline = label;
    r.stats = graph_stats(g, task.sizes);
    r.metric = evaluate(g, *task.eval, task.metric, exec, eval_opts).value;
    r.latency_ms = median_latency_ms(exec, g, task.latency_input, repeats);
    r.seconds = pass_seconds;
    exec.clear_cache();
    std::cerr << label << ": " << task.metric << " " << r.metric << ", " << r.latency_ms << " ms\n";
    rows.push_back(r);
  };
  measure("(cleaned teacher)", base, 0);

  for (const std::string& p : pipelines) {
    Graph g = base.clone();
    PassContext ctx;
    ctx.executor = &exec;
    ctx.calibration = task.calibration.get();
    ctx.train = task.train.get();
    ctx.eval = task.eval.get();
    ctx.teacher = &base;
    ctx.trainer = &trainer;
    ctx.log = &std::cerr;
    const auto t0 = Clock::now();
    try {
      PassManager::from_text(p).run(g, ctx);
    } catch (const Error& e) {
      std::cerr << p << ": " << e.what() << "\n";
      return 1;
    }
    const double secs = seconds_since(t0);
    infer_shapes(g);
    measure(p, g, secs);
  }

  const Row& b = rows.front();
  std::cout << "| pipeline | params | FLOPs | " << task.metric << " | latency b" << batch << " "
            << threads << "t (ms) | speed-up | pass time (s) |\n|---|---|---|---|---|---|---|\n";
  for (const Row& r : rows) {
    const bool acc = task.metric == "accuracy";
    std::cout << "| `" << r.pipeline << "` | "
              << human_count(static_cast<double>(r.stats.parameters)) << " ("
              << fmt("%.1f", 100.0 * r.stats.parameters / b.stats.parameters) << "%) | "
              << human_count(static_cast<double>(r.stats.flops)) << " ("
              << fmt("%.1f", 100.0 * r.stats.flops / b.stats.flops) << "%) | "
              << (acc ? fmt("%.2f%%", 100 * r.metric) : fmt("%.3f", r.metric)) << " | "
              << fmt("%.2f", r.latency_ms) << " | " << fmt("%.2fx", b.latency_ms / r.latency_ms)
              << " | " << fmt("%.1f", r.seconds) << " |\n";
  }
  return 0;
}

// A stack of `layers` square MatMuls with ReLUs, about `params` weights in all.
Graph synthetic_mlp(int64_t params, int layers) {
  const auto width = static_cast<int64_t>(std::sqrt(static_cast<double>(params) / layers));
  Graph g("synthetic_mlp");
  Value* h =
      g.add_input("x", TensorType{DType::f32, std::vector<Dim>{Dim::sym("N"), Dim::known(width)}});
  std::mt19937 rng(0);
  std::normal_distribution<float> dist(0.0f, 1.0f / std::sqrt(static_cast<float>(width)));
  for (int l = 0; l < layers; ++l) {
    Tensor w(DType::f32, {width, width});
    float* p = w.data_mutable<float>();
    for (int64_t i = 0; i < width * width; ++i)
      p[i] = dist(rng);
    h = g.add_op("MatMul", {h, g.add_initializer("w" + std::to_string(l), std::move(w))}, {},
                 "fc" + std::to_string(l));
    if (l + 1 < layers) h = g.add_op("Relu", {h}, {}, "relu" + std::to_string(l));
  }
  g.set_outputs({h});
  infer_shapes(g);
  return g;
}

int run_lowrank_scale(int64_t params, const std::string& svd) {
  Graph g = synthetic_mlp(params, 4);
  const double model_bytes = static_cast<double>(g.parameter_bytes());
  const double rss_before = current_rss_bytes();
  const double peak_before = peak_rss_bytes();
  PassContext ctx;
  const auto t0 = Clock::now();
  const std::string pipeline = "lowrank{ratio=0.25,svd=" + svd + "}";
  PassManager::from_text(pipeline).run(g, ctx);
  const double secs = seconds_since(t0);
  const double peak_after = peak_rss_bytes();
  std::cout << "| model params | model bytes | `" << pipeline
            << "` time (s) | peak RSS (MiB) | peak / model bytes | params after |\n"
               "|---|---|---|---|---|---|\n";
  std::cout << "| " << human_count(static_cast<double>(params)) << " | " << human_bytes(model_bytes)
            << " | " << fmt("%.2f", secs) << " | "
            << fmt("%.0f", std::max(peak_after, peak_before) / 1048576.0) << " | "
            << fmt("%.2f", (std::max(peak_after, rss_before) - rss_before) / model_bytes + 1.0)
            << " | " << human_count(static_cast<double>(g.num_parameters())) << " |\n";
  std::cerr << "rss before pass " << rss_before / 1048576.0 << " MiB, peak before "
            << peak_before / 1048576.0 << " MiB, peak after " << peak_after / 1048576.0 << " MiB\n";
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  std::string model = "fmnist-resnet";
  std::string models_dir = std::string(SHRINK_SOURCE_DIR) + "/examples/models";
  int64_t batch = 64, params = 10'000'000;
  int threads = 1, repeats = 15;
  bool scale = false;
  std::string svd = "auto";
  std::vector<std::string> pipelines;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw Error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--model")
      model = next();
    else if (a == "--models-dir")
      models_dir = next();
    else if (a == "--batch")
      batch = std::stoll(next());
    else if (a == "--threads")
      threads = std::stoi(next());
    else if (a == "--repeats")
      repeats = std::stoi(next());
    else if (a == "--lowrank-scale")
      scale = true;
    else if (a == "--svd")
      svd = next();
    else if (a == "--params")
      params = std::stoll(next());
    else if (a == "--help") {
      std::cout << "usage: shrink_bench_compress [--model fmnist-resnet|fortunes-gpt] [--batch N] "
                   "[--threads N] [--repeats N] PIPELINE...\n"
                   "       shrink_bench_compress --lowrank-scale [--params N] [--svd "
                   "auto|exact|randomized]\n";
      return 0;
    } else if (a.rfind("--", 0) == 0) {
      std::cerr << "unknown option " << a << "\n";
      return 2;
    } else {
      pipelines.push_back(a);
    }
  }
  try {
    if (scale) return run_lowrank_scale(params, svd);
    return run_pipelines(model, pipelines, models_dir, batch, threads, repeats);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
