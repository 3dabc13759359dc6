// Times shrink's oneDNN runtime (fp32 and int8) on two ONNX models: a ResNet-style CNN for
// 1x28x28 images (the bundled, trained examples/models/fmnist-resnet.onnx) and a 4-layer
// transformer encoder (sequence 128, hidden 256; bench/runtime_torch.py exports it), at batch 1
// and 64 with 1 and 2 threads. Every time is the median of several runs after warm-up runs
// (which plan and tune: docs/runtime.md). bench/run-runtime-bench runs this next to ONNX
// Runtime and PyTorch.
//
//   shrink_bench_runtime --cnn CNN.onnx --transformer TR.onnx --out DIR [--repeats N]
//                        [--threads 1,2] [--profile] [--reference] [--only MODEL] [--no-layers]
//       Imports both models and cleans them up (the CLI's default pipeline), quantizes them with
//       the `quantize` pass's defaults (the CNN calibrated on 256 Fashion-MNIST training images,
//       the transformer on 16 random sequences), writes DIR/cnn.int8.onnx and
//       DIR/transformer.int8.onnx (what ONNX Runtime runs), reloads them, checks int8 accuracy
//       against fp32, and prints a table plus one tab-separated line per measurement: result
//       <engine> <model> <batch> <threads> <median ms> <min ms> <max ms> It then reports the
//       fraction of per-core peak (64 fp32 flop/cycle, 256 int8 op/cycle at the measured clock)
//       reached by each model's largest convolution or GEMM, both inside the model (the step's own
//       time) and alone. --profile prints every step of the batch-64 plans;
//       --only cnn|transformer times one model; --no-layers skips the layers alone.
//   shrink_bench_runtime --once MODEL.onnx [--batch B] [--threads T]
//       Loads MODEL and runs one batch (for peak-memory measurements with /usr/bin/time).

#include "shrink/compress/quantize.h"
#include "shrink/core/error.h"
#include "shrink/exec/onednn.h"
#include "shrink/exec/reference.h"
#include "shrink/io/datasets.h"
#include "shrink/io/onnx.h"
#include "shrink/ir/shape_inference.h"
#include "shrink/ir/stats.h"
#include "shrink/pass/pass_manager.h"
#include "shrink/transforms/builtin.h"

#include "exec/onednn_models.h"
#include "exec/qdq_graphs.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

using namespace shrink;
using namespace shrink::testing;

namespace {

using Clock = std::chrono::steady_clock;

struct Timing {
  double median = 0.0, min = 0.0, max = 0.0;
  double cpu_median = 0.0; ///< Process CPU time per run: robust to other processes' load.
};

double cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return 1e3 * static_cast<double>(ts.tv_sec) + 1e-6 * static_cast<double>(ts.tv_nsec);
}

Timing time_runs(Executor& exec, const Graph& g, const std::vector<Tensor>& inputs, int repeats) {
  const auto t = Clock::now();
  exec.run(g, inputs); // warm-up: planning, weight packing, first touch of buffers
  const double first = std::chrono::duration<double>(Clock::now() - t).count();
  // The oneDNN plan tunes itself in its first runs (docs/runtime.md): time what it settles on.
  if (auto* onednn = dynamic_cast<OneDnnExecutor*>(&exec))
    for (int i = 0; i < 30 && !onednn->plan_info().tuned; ++i)
      exec.run(g, inputs);
  // Slow configurations (the reference executor) get fewer repeats, at least 3.
  if (first > 2.0) repeats = std::max(3, std::min(repeats, static_cast<int>(30.0 / first)));
  std::vector<double> ms, cpu;
  for (int i = 0; i < repeats; ++i) {
    const double c0 = cpu_ms();
    const auto t0 = Clock::now();
    exec.run(g, inputs);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    cpu.push_back(cpu_ms() - c0);
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu.begin(), cpu.end());
  return {ms[ms.size() / 2], ms.front(), ms.back(), cpu[cpu.size() / 2]};
}

double cpuinfo_mhz() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("cpu MHz", 0) == 0) return std::atof(line.substr(line.find(':') + 1).c_str());
  return 0.0;
}

// Measures the core clock with a chain of dependent integer adds (one cycle each); the best of
// several tries, because other processes may take the core away.
double measured_mhz() {
  const int64_t iters = 50'000'000;
  double best = 0.0;
  for (int rep = 0; rep < 5; ++rep) {
    uint64_t x = 0;
    const double c0 = cpu_ms();
    for (int64_t i = 0; i < iters; ++i) {
      asm volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                   "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0"
                   : "+r"(x));
    }
    const double s = 1e-3 * (cpu_ms() - c0);
    best = std::max(best, 8.0 * static_cast<double>(iters) / s / 1e6);
  }
  return best;
}

// Measures one core's peak directly: a loop of independent 512-bit FMAs (fp32) or VNNI dot
// products (u8 x s8 -> s32) with enough accumulators to hide their latency. Returns G(FL)OP/s
// per second of CPU time (so that other processes taking the core do not lower it), the best of
// several tries. On a core with two 512-bit FMA pipes this is 64 flop/cycle and 256
// int8 op/cycle times the clock it really runs at, which /proc/cpuinfo does not report.
double measured_peak_gops(bool int8) {
  const int64_t iters = 20'000'000;
  double best = 0.0;
  for (int rep = 0; rep < 5; ++rep) {
    const double c0 = cpu_ms();
    for (int64_t i = 0; i < iters; ++i) {
      if (int8) {
        asm volatile("vpdpbusd %%zmm12, %%zmm13, %%zmm0\n\tvpdpbusd %%zmm12, %%zmm13, %%zmm1\n\t"
                     "vpdpbusd %%zmm12, %%zmm13, %%zmm2\n\tvpdpbusd %%zmm12, %%zmm13, %%zmm3\n\t"
                     "vpdpbusd %%zmm12, %%zmm13, %%zmm4\n\tvpdpbusd %%zmm12, %%zmm13, %%zmm5\n\t"
                     "vpdpbusd %%zmm12, %%zmm13, %%zmm6\n\tvpdpbusd %%zmm12, %%zmm13, %%zmm7\n\t"
                     "vpdpbusd %%zmm12, %%zmm13, %%zmm8\n\tvpdpbusd %%zmm12, %%zmm13, %%zmm9\n\t"
                     "vpdpbusd %%zmm12, %%zmm13, %%zmm10\n\tvpdpbusd %%zmm12, %%zmm13, %%zmm11"
                     :
                     :
                     : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                       "xmm9", "xmm10", "xmm11");
      } else {
        asm volatile(
            "vfmadd231ps %%zmm12, %%zmm13, %%zmm0\n\tvfmadd231ps %%zmm12, %%zmm13, %%zmm1\n\t"
            "vfmadd231ps %%zmm12, %%zmm13, %%zmm2\n\tvfmadd231ps %%zmm12, %%zmm13, %%zmm3\n\t"
            "vfmadd231ps %%zmm12, %%zmm13, %%zmm4\n\tvfmadd231ps %%zmm12, %%zmm13, %%zmm5\n\t"
            "vfmadd231ps %%zmm12, %%zmm13, %%zmm6\n\tvfmadd231ps %%zmm12, %%zmm13, %%zmm7\n\t"
            "vfmadd231ps %%zmm12, %%zmm13, %%zmm8\n\tvfmadd231ps %%zmm12, %%zmm13, %%zmm9\n\t"
            "vfmadd231ps %%zmm12, %%zmm13, %%zmm10\n\tvfmadd231ps %%zmm12, %%zmm13, %%zmm11"
            :
            :
            : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
              "xmm10", "xmm11");
      }
    }
    const double s = 1e-3 * (cpu_ms() - c0);
    // 12 instructions of 16 lanes: 2 flops per fp32 lane, 8 ops (4 multiply-adds) per int8 lane.
    best = std::max(best, 12.0 * 16.0 * (int8 ? 8.0 : 2.0) * static_cast<double>(iters) / s / 1e9);
  }
  return best;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// Uniform [0, 1) values: the CNN's pixel range, and the transformer's timing input.
Tensor uniform_input(const Shape& sample, int64_t batch, uint64_t seed) {
  Shape s = {batch};
  s.insert(s.end(), sample.begin(), sample.end());
  Tensor t = Tensor::random(s, seed);
  float* p = t.data_mutable<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] = 0.5f * (p[i] + 1.f);
  return t;
}

/// The `quantize` pass with its defaults (static int8, minmax calibration on `calibration`), as
/// a user's recipe runs it.
Graph quantize_model(const Graph& fp32, const DataSource& calibration, Executor& executor) {
  Graph q = fp32.clone();
  PassContext ctx;
  ctx.executor = &executor;
  ctx.calibration = &calibration;
  QuantizePass(QuantizeOptions{}).run(q, ctx);
  return q;
}

void cleanup(Graph& g) {
  PassManager pm = PassManager::from_text(kCleanupPipeline);
  PassContext ctx;
  pm.run(g, ctx);
  infer_shapes(g);
}

// Loads an exported QDQ model the way a user would run it: import, then the default cleanup,
// which keeps QDQ pairs (const-fold never folds DequantizeLinear) and fuses back what the
// exporter had to spell out (Gelu before opset 20 is written as its Erf formula).
Graph load_int8(const std::string& path) {
  Graph g = load_onnx(path);
  cleanup(g);
  const GraphStats s = graph_stats(g);
  auto count = [&](const char* op) {
    auto it = s.ops.find(op);
    return it == s.ops.end() ? 0LL : static_cast<long long>(it->second);
  };
  std::printf("%s: %lld QuantizeLinear, %lld DequantizeLinear after import and cleanup\n",
              path.c_str(), count("QuantizeLinear"), count("DequantizeLinear"));
  return g;
}

struct Model {
  std::string name;
  Graph fp32;
  Graph int8;
  Shape sample;                     // input shape without the batch
  std::vector<std::string> largest; // the conv/GEMM nodes with the most FLOPs (at most two)
  double largest_flops;             // their FLOPs per sample
};

// The Conv/MatMul/Gemm nodes with the most FLOPs per sample (two when they tie, like a
// transformer's two FFN GEMMs, whose epilogues differ), and those FLOPs.
std::pair<std::vector<std::string>, double> largest_layers(const Graph& g) {
  double most = 0.0;
  for (const Node* n : g.nodes())
    if (n->op() == "Conv" || n->op() == "MatMul" || n->op() == "Gemm")
      most = std::max(most, static_cast<double>(node_flops(*n)));
  std::vector<std::string> names;
  for (const Node* n : g.nodes())
    if ((n->op() == "Conv" || n->op() == "MatMul" || n->op() == "Gemm") &&
        static_cast<double>(node_flops(*n)) == most && names.size() < 2)
      names.push_back(n->name());
  return {names, most};
}

double max_abs_diff_ratio(const Tensor& a, const Tensor& b, double* sqnr_db) {
  double err = 0.0, sig = 0.0, peak = 0.0, diff = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.at(i), y = b.at(i);
    err += (x - y) * (x - y);
    sig += y * y;
    peak = std::max(peak, std::fabs(y));
    diff = std::max(diff, std::fabs(x - y));
  }
  *sqnr_db = 10.0 * std::log10(sig / std::max(err, 1e-30));
  return diff / std::max(peak, 1e-30);
}

// Top-1 accuracy of `g` on the first `count` Fashion-MNIST test images.
double fmnist_top1(OneDnnExecutor& exec, const Graph& g, int64_t count) {
  auto test = fashion_mnist("test", count);
  int64_t correct = 0;
  for (int64_t start = 0; start < test->size(); start += 250) {
    Batch b = test->batch(start, 250);
    const Tensor logits = exec.run(g, b.inputs)[0];
    const int64_t n = logits.shape()[0], k = logits.shape()[1];
    for (int64_t i = 0; i < n; ++i) {
      int64_t arg = 0;
      for (int64_t j = 1; j < k; ++j)
        if (logits.at(i * k + j) > logits.at(i * k + arg)) arg = j;
      correct += arg == b.labels->at(i);
    }
  }
  return static_cast<double>(correct) / static_cast<double>(test->size());
}

// The QDQ form of a one-layer graph whose input "x" is fed as u8 directly (the graph input is
// the quantized tensor), so that the layer is timed without the input's QuantizeLinear.
Graph int8_input(const Graph& fp32) {
  std::map<std::string, ActQuant> p = {{"x", act_quant_for_range(-1.f, 1.f)}};
  Graph g = make_qdq(fp32, p);
  Value* x = g.find_value("x");
  Node* q = x->uses().at(0).node;
  TensorType t = x->type();
  t.dtype = DType::u8;
  Value* xq = g.add_input("xq", t);
  g.replace_all_uses(q->output(), xq);
  g.erase(q);
  g.erase_value(x);
  infer_shapes(g);
  return g;
}

// One 3x3 convolution (bias + ReLU) or one GEMM (bias) as a graph, fp32 or int8.
Graph conv_layer(int64_t c, int64_t hw, bool int8) {
  Graph g("conv_layer");
  Value* x = g.add_input("x", batch_type({c, hw, hw}));
  g.set_outputs({g.add_op("Relu", {conv(g, x, c, c, 3, 1, 5, "conv")}, {}, "relu")});
  infer_shapes(g);
  return int8 ? int8_input(g) : std::move(g);
}

// One GEMM (bias), optionally followed by GELU (erf form), fp32 or int8. With `requantize`
// the int8 graph ends in QuantizeLinear to u8, as fc1 does inside the transformer, so that the
// step's epilogue is bias (+ GELU) + requantization.
Graph gemm_layer(int64_t k, int64_t n, bool int8, bool gelu = false, bool requantize = false) {
  Graph g("gemm_layer");
  Value* x = g.add_input("x", batch_type({k}));
  Value* y = linear(g, x, k, n, 5, "fc");
  if (gelu) y = g.add_op("Gelu", {y}, {}, "gelu");
  g.set_outputs({y});
  infer_shapes(g);
  if (!int8) return g;
  Graph q = int8_input(g);
  if (requantize) {
    Value* out = q.outputs()[0];
    Value* s = q.add_initializer("out_scale", Tensor::scalar(0.02f));
    Value* z = q.add_initializer("out_zp", shrink::testing::detail::scalar_of(DType::u8, 16));
    q.set_outputs({q.add_op("QuantizeLinear", {out, s, z}, {}, "out_q")});
    infer_shapes(q);
  }
  return q;
}

Tensor layer_input(const Shape& sample, int64_t rows, bool int8) {
  Tensor f = scaled_random(
      [&] {
        Shape s = {rows};
        s.insert(s.end(), sample.begin(), sample.end());
        return s;
      }(),
      9, 1.f);
  if (!int8) return f;
  Tensor q(DType::u8, f.shape());
  for (int64_t i = 0; i < f.numel(); ++i)
    q.data_mutable<uint8_t>()[i] = static_cast<uint8_t>(128 + 127 * f.data<float>()[i]);
  return q;
}

void print_result(const char* engine, const std::string& model, int64_t batch, int threads,
                  const Timing& t) {
  std::printf("result\t%s\t%s\t%lld\t%d\t%.3f\t%.3f\t%.3f\n", engine, model.c_str(),
              static_cast<long long>(batch), threads, t.median, t.min, t.max);
  std::printf("cpu\t%s\t%s\t%lld\t%d\t%.3f\n", engine, model.c_str(), static_cast<long long>(batch),
              threads, t.cpu_median);
}

// Wall and process CPU time per run of the step covering node `name` in the executor's last
// plan, in seconds.
std::pair<double, double> step_seconds(const OneDnnPlanInfo& info, const std::string& name,
                                       std::string* kind) {
  for (const OneDnnStepInfo& s : info.steps)
    if (std::find(s.nodes.begin(), s.nodes.end(), name) != s.nodes.end()) {
      *kind = s.kind + " " + s.implementation;
      const double runs = static_cast<double>(std::max<int64_t>(1, info.timed_runs));
      return {s.seconds / runs, s.cpu_seconds / runs};
    }
  return {-1.0, -1.0};
}

std::vector<int> parse_threads(const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');)
    out.push_back(std::max(0, std::atoi(item.c_str())));
  return out;
}

int run_once(const std::string& path, int64_t batch, int threads) {
  Graph g = load_onnx(path);
  const Value* in = g.inputs().at(0);
  Shape sample;
  if (!in->type().dims) throw Error(path + ": input '" + in->name() + "' has no known rank");
  const std::vector<Dim>& dims = *in->type().dims;
  for (size_t d = 1; d < dims.size(); ++d)
    sample.push_back(dims[d].value);
  OneDnnExecutor exec({threads});
  const Tensor y = exec.run(g, {uniform_input(sample, batch, 7)})[0];
  std::printf("ran %s: output %s\n", path.c_str(), shape_str(y.shape()).c_str());
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  std::string cnn_path, tr_path, out_dir = ".", once;
  int repeats = 15;
  int64_t batch_once = 64;
  std::vector<int> thread_list = {1, 2};
  bool profile = false, reference = false, layers_alone = true;
  std::string only; // time only this model ("cnn" or "transformer")
  for (int i = 1; i < argc; ++i) {
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (!std::strcmp(argv[i], "--cnn")) {
      cnn_path = next();
    } else if (!std::strcmp(argv[i], "--transformer")) {
      tr_path = next();
    } else if (!std::strcmp(argv[i], "--out")) {
      out_dir = next();
    } else if (!std::strcmp(argv[i], "--repeats")) {
      repeats = std::max(1, std::atoi(next().c_str()));
    } else if (!std::strcmp(argv[i], "--threads")) {
      thread_list = parse_threads(next());
    } else if (!std::strcmp(argv[i], "--once")) {
      once = next();
    } else if (!std::strcmp(argv[i], "--batch")) {
      batch_once = std::max(1, std::atoi(next().c_str()));
    } else if (!std::strcmp(argv[i], "--profile")) {
      profile = true;
    } else if (!std::strcmp(argv[i], "--reference")) {
      reference = true;
    } else if (!std::strcmp(argv[i], "--only")) {
      only = next();
    } else if (!std::strcmp(argv[i], "--no-layers")) {
      layers_alone = false;
    } else {
      cnn_path.clear();
      once.clear();
      break;
    }
  }
  if (once.empty() && (cnn_path.empty() || tr_path.empty())) {
    std::cerr << "usage: shrink_bench_runtime --cnn CNN.onnx --transformer TR.onnx --out DIR "
                 "[--repeats N] [--threads 1,2] [--profile] [--reference] [--only MODEL] "
                 "[--no-layers]\n"
                 "       shrink_bench_runtime --once MODEL.onnx [--batch B] [--threads T]\n";
    return 2;
  }
  try {
    if (!once.empty()) return run_once(once, batch_once, thread_list.at(0));

    const double mhz_info = cpuinfo_mhz();
    const double mhz_adds = measured_mhz();
    const double peak_fp32 = measured_peak_gops(false), peak_int8 = measured_peak_gops(true);
    // The clock the vector units really run at: the FMA loop reaches 64 flop/cycle.
    const double mhz = peak_fp32 / 64.0 * 1e3;
    std::printf("load average at start: %s\n", load_average().c_str());
    std::printf("clock: %.0f MHz from the FMA loop (peak / 64 flop/cycle), %.0f MHz from "
                "dependent adds, %.0f MHz in /proc/cpuinfo\n",
                mhz, mhz_adds, mhz_info);
    std::printf("per-core peak measured: %.1f GFLOP/s fp32 FMA, %.1f GOP/s int8 VNNI (%.0f "
                "op/cycle at that clock)\n\n",
                peak_fp32, peak_int8, peak_int8 / mhz * 1e3);
    std::printf("clock\t%.0f\t%.0f\t%.0f\t%.1f\t%.1f\n", mhz, mhz_adds, mhz_info, peak_fp32,
                peak_int8);

    std::vector<Model> models;
    {
      OneDnnExecutor calib;
      Graph cnn = load_onnx(cnn_path);
      cleanup(cnn);
      save_onnx(quantize_model(cnn, *fashion_mnist("train", 256), calib),
                out_dir + "/cnn.int8.onnx");
      Graph cnn_q = load_int8(out_dir + "/cnn.int8.onnx");
      auto [cnn_big, cnn_big_flops] = largest_layers(cnn);
      models.push_back({"cnn",
                        std::move(cnn),
                        std::move(cnn_q),
                        {1, 28, 28},
                        cnn_big,
                        static_cast<double>(cnn_big_flops)});

      Graph tr = load_onnx(tr_path);
      cleanup(tr);
      save_onnx(quantize_model(tr, TensorDataSource({uniform_input({128, 256}, 16, 101)}), calib),
                out_dir + "/transformer.int8.onnx");
      Graph tr_q = load_int8(out_dir + "/transformer.int8.onnx");
      auto [tr_big, tr_big_flops] = largest_layers(tr);
      models.push_back({"transformer",
                        std::move(tr),
                        std::move(tr_q),
                        {128, 256},
                        tr_big,
                        static_cast<double>(tr_big_flops)});
    }
    for (const Model& m : models) {
      const GraphStats s = graph_stats(m.fp32);
      std::string names;
      for (const std::string& n : m.largest)
        names += (names.empty() ? "'" : ", '") + n + "'";
      std::printf("%s: %lld nodes after cleanup, %s parameters, %s FLOPs per sample; largest "
                  "layers %s (%s FLOPs per sample)\n",
                  m.name.c_str(), static_cast<long long>(s.nodes),
                  human_count(static_cast<double>(s.parameters)).c_str(),
                  human_count(static_cast<double>(s.flops)).c_str(), names.c_str(),
                  human_count(m.largest_flops).c_str());
    }

    // The int8 models must compute what the fp32 models compute, or their times mean nothing.
    {
      OneDnnExecutor exec;
      const double top_fp = fmnist_top1(exec, models[0].fp32, 2000);
      const double top_q = fmnist_top1(exec, models[0].int8, 2000);
      std::printf("cnn top-1 on the first 2000 Fashion-MNIST test images: fp32 %.2f%%, int8 "
                  "%.2f%%\n",
                  100.0 * top_fp, 100.0 * top_q);
      const std::vector<Tensor> in = {uniform_input({128, 256}, 4, 7)};
      double sqnr = 0.0;
      const double rel = max_abs_diff_ratio(exec.run(models[1].int8, in)[0],
                                            exec.run(models[1].fp32, in)[0], &sqnr);
      std::printf("transformer int8 vs fp32 output: SQNR %.1f dB, max |diff| / max |fp32| %.4f\n\n",
                  sqnr, rel);
    }

    std::printf("%-12s %5s %7s %12s %14s %14s %9s\n", "model", "batch", "threads", "reference",
                "onednn fp32", "onednn int8", "int8/fp32");
    struct InModel {
      std::string model, layer, kind;
      bool int8;
      int threads;
      double seconds, cpu_seconds, flops;
    };
    std::vector<InModel> in_model;
    for (const Model& m : models) {
      if (!only.empty() && m.name != only) continue;
      for (int64_t batch : {1, 64}) {
        const std::vector<Tensor> in = {uniform_input(m.sample, batch, 7)};
        Timing ref;
        if (reference) {
          ReferenceExecutor r;
          ref = time_runs(r, m.fp32, in, 3);
          print_result("shrink reference", m.name, batch, 1, ref);
        }
        for (int threads : thread_list) {
          // Per-step CPU time (a system call per step) only where the fraction of peak needs
          // it: at batch 1 it would be a tenth of the CNN's run time.
          OneDnnOptions eo;
          eo.threads = threads;
          eo.step_cpu_time = batch == 64;
          OneDnnExecutor exec(eo);
          const Timing fp = time_runs(exec, m.fp32, in, repeats);
          const OneDnnPlanInfo info_fp = exec.plan_info();
          const Timing q = time_runs(exec, m.int8, in, repeats);
          const OneDnnPlanInfo info_q = exec.plan_info();
          print_result("shrink fp32", m.name, batch, threads, fp);
          print_result("shrink int8", m.name, batch, threads, q);
          std::printf("%-12s %5lld %7d %12s %14.3f %14.3f %8.2fx\n", m.name.c_str(),
                      static_cast<long long>(batch), threads,
                      reference ? std::to_string(ref.median).substr(0, 10).c_str() : "-", fp.median,
                      q.median, fp.median / q.median);
          std::fflush(stdout);
          if (batch == 64)
            for (const std::string& layer : m.largest)
              for (bool int8 : {false, true}) {
                std::string kind;
                const auto [sec, cpu] = step_seconds(int8 ? info_q : info_fp, layer, &kind);
                in_model.push_back(
                    {m.name, layer, kind, int8, threads, sec, cpu, m.largest_flops * 64});
              }
          if (profile && batch == 64 && threads == thread_list.front()) {
            std::printf("%s fp32 plan (batch 64, %d threads):\n%s", m.name.c_str(), threads,
                        info_fp.str().c_str());
            std::printf("%s int8 plan (batch 64, %d threads):\n%s", m.name.c_str(), threads,
                        exec.plan_info().str().c_str());
          }
        }
      }
    }

    // The fraction of peak divides the work by the CPU time the step used (all threads), so it
    // is the fraction of per-core peak per core-second and does not drop when other processes
    // take the cores; "wall" is the same with wall time times the thread count.
    std::printf("\nlargest conv/GEMM of each model inside the model, batch 64 (fraction of "
                "per-core peak at %.0f MHz: 64 flop/cycle fp32, 256 op/cycle int8):\n",
                mhz);
    std::printf("%-30s %-5s %7s %9s %9s %12s %8s %8s  %s\n", "layer", "type", "threads", "wall ms",
                "cpu ms", "G(FL)OP/s", "of peak", "wall", "step");
    for (const InModel& r : in_model) {
      const double gops = r.flops / r.cpu_seconds / 1e9;
      const double peak = (r.int8 ? 256.0 : 64.0) * mhz / 1e3;
      const double wall = r.flops / r.seconds / 1e9 / (peak * r.threads);
      std::printf("%-30s %-5s %7d %9.3f %9.3f %12.1f %7.1f%% %7.1f%%  %s\n", r.layer.c_str(),
                  r.int8 ? "int8" : "fp32", r.threads, r.seconds * 1e3, r.cpu_seconds * 1e3, gops,
                  100.0 * gops / peak, 100.0 * wall, r.kind.c_str());
      std::printf("peak\t%s\t%s\t%s\t%d\t%.4f\n", r.model.c_str(), r.layer.c_str(),
                  r.int8 ? "int8" : "fp32", r.threads, gops / peak);
    }

    // The same layer shapes alone, fed directly (int8: a u8 input, no QuantizeLinear first).
    std::printf("\nthe same layers alone, batch 64:\n");
    std::printf("%-40s %7s %10s %10s %12s %8s\n", "layer", "threads", "wall ms", "cpu ms",
                "G(FL)OP/s", "of peak");
    struct Layer {
      std::string name;
      bool int8;
      Graph g;
      Shape sample;
      int64_t rows;
      double ops; // per row
    };
    std::vector<Layer> layers;
    for (bool int8 : {false, true}) {
      const char* t = int8 ? " int8" : " fp32";
      layers.push_back({std::string("conv 256->256 3x3 4x4 +bias+relu") + t, int8,
                        conv_layer(256, 4, int8), Shape{256, 4, 4}, 64,
                        2.0 * 256 * 256 * 9 * 4 * 4});
      layers.push_back({std::string("gemm 8192x256 x 256x1024 +bias") + t, int8,
                        gemm_layer(256, 1024, int8), Shape{256}, 64 * 128, 2.0 * 256 * 1024});
    }
    // fc1's int8 epilogue taken apart: the same GEMM writing u8, without and with the GELU.
    layers.push_back({"gemm 8192x256 x 256x1024 +bias ->u8 int8", true,
                      gemm_layer(256, 1024, true, false, true), Shape{256}, 64 * 128,
                      2.0 * 256 * 1024});
    layers.push_back({"gemm 8192x256 x 256x1024 +bias+gelu ->u8 int8", true,
                      gemm_layer(256, 1024, true, true, true), Shape{256}, 64 * 128,
                      2.0 * 256 * 1024});
    if (!layers_alone) layers.clear();
    for (const Layer& l : layers) {
      const std::vector<Tensor> in = {layer_input(l.sample, l.rows, l.int8)};
      for (int threads : thread_list) {
        OneDnnOptions eo;
        eo.threads = threads;
        eo.step_cpu_time = true;
        OneDnnExecutor exec(eo);
        const Timing t = time_runs(exec, l.g, in, repeats);
        const double gops = l.ops * static_cast<double>(l.rows) / (t.cpu_median * 1e6);
        const double peak = (l.int8 ? 256.0 : 64.0) * mhz / 1e3;
        std::printf("%-40s %7d %10.3f %10.3f %12.1f %7.1f%%\n", l.name.c_str(), threads, t.median,
                    t.cpu_median, gops, 100.0 * gops / peak);
        if (threads == thread_list.front())
          for (const OneDnnStepInfo& st : exec.plan_info().steps)
            std::printf("    step %s %s: %.3f ms wall, %.3f ms cpu per run\n", st.kind.c_str(),
                        st.implementation.c_str(),
                        1e3 * st.seconds / std::max<int64_t>(1, exec.plan_info().timed_runs),
                        1e3 * st.cpu_seconds / std::max<int64_t>(1, exec.plan_info().timed_runs));
      }
    }
    std::printf("\nload average at end: %s\n", load_average().c_str());
  } catch (const std::exception& e) {
    std::cerr << "shrink_bench_runtime: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
