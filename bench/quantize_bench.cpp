// Measures the `quantize` pass on the bundled models (docs/benchmarks.md, "Quantization").
//
//   shrink_bench_quantize fmnist [--model M.onnx] [--calib 512] [--method minmax] [--threads 2]
//                                [--repeats 30] [--out int8.onnx] [--no-eval] [--no-timing]
//       Imports fmnist-resnet, runs the cleanup pipeline, quantizes it to static int8 (QDQ) with
//       the first `--calib` Fashion-MNIST training images through the oneDNN runtime, and
//       prints: the quantization time, fp32 and int8 top-1 on the 10k test set, the median
//       batch-64 latency of fp32 and int8 in the oneDNN runtime, the ONNX file sizes, and the
//       per-layer report. `--no-eval --no-timing` only quantizes (for peak-RSS runs under
//       /usr/bin/time -v). `--options "k=v,..."` adds quantize options; `max_drop` evaluates on
//       the last 2000 training images. `--log 1` prints the pass's per-layer log.
//   shrink_bench_quantize gpt [--model M.onnx] [--vocab V.json] [--calib 128] [--group 64]
//                             [--eval-windows -1] [--threads 2]
//       Weight-only int4 on fortunes-gpt: validation perplexity of fp32, round-to-nearest int4
//       and GPTQ int4 (group `--group`), calibrated on the first `--calib` training windows.

#include "shrink/compress/quantize.h"
#include "shrink/core/error.h"
#include "shrink/exec/onednn.h"
#include "shrink/io/datasets.h"
#include "shrink/io/onnx.h"
#include "shrink/ir/evaluate.h"
#include "shrink/ir/stats.h"
#include "shrink/pass/pass_manager.h"
#include "shrink/transforms/builtin.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

using namespace shrink;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Args {
  std::map<std::string, std::string> kv;
  std::string get(const std::string& k, const std::string& def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  bool flag(const std::string& k) const { return kv.count(k) != 0; }
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) throw Error("unexpected argument '" + k + "'");
    k = k.substr(2);
    if (k == "no-eval" || k == "no-timing")
      a.kv[k] = "1";
    else if (i + 1 < argc)
      a.kv[k] = argv[++i];
    else
      throw Error("option --" + k + " needs a value");
  }
  return a;
}

double median_ms(Executor& exec, const Graph& g, const std::vector<Tensor>& in, int repeats) {
  exec.run(g, in); // plans and packs the weights
  exec.run(g, in);
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = Clock::now();
    exec.run(g, in);
    t.push_back(seconds_since(t0) * 1e3);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

Graph cleaned(const std::string& path) {
  Graph g = load_onnx(path);
  PassContext ctx;
  PassManager::from_text(kCleanupPipeline).run(g, ctx);
  return g;
}

int fmnist(const Args& a) {
  const std::string model = a.get("model", "examples/models/fmnist-resnet.onnx");
  const int64_t calib_n = std::stoll(a.get("calib", "512"));
  const std::string method = a.get("method", "minmax");
  const int threads = std::stoi(a.get("threads", "2"));
  const int repeats = std::stoi(a.get("repeats", "30"));
  const std::string out = a.get("out", "/tmp/fmnist-resnet.int8.onnx");
  const std::string extra = a.get("options", "");

  const auto t_load = Clock::now();
  Graph fp32 = cleaned(model);
  const double load_s = seconds_since(t_load);
  auto calib = first_samples(fashion_mnist("train"), calib_n);
  OneDnnExecutor exec({threads});
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = calib.get();
  ctx.log = a.flag("log") ? &std::cout : nullptr;
  // For max_drop: the last 2000 training images, which calibration (the first ones) does not
  // read and the reported test accuracy does not depend on.
  std::vector<int64_t> held_out(2000);
  for (int64_t i = 0; i < 2000; ++i)
    held_out[static_cast<size_t>(i)] = 58000 + i;
  SubsetDataSource selection(fashion_mnist("train"), held_out, "last 2000 training images");
  ctx.eval = &selection;
  Graph q = fp32.clone();
  // The per-layer SQNR costs one extra float and int8 run; off unless asked for.
  const std::string sqnr =
      extra.find("measure_sqnr") == std::string::npos ? ",measure_sqnr=false" : "";
  const std::string pipeline = "quantize{method=" + method + ",samples=" + std::to_string(calib_n) +
                               sqnr + (extra.empty() ? "" : "," + extra) + "}";
  const auto t0 = Clock::now();
  PipelineReport rep = PassManager::from_text(pipeline).run(q, ctx);
  const double quant_s = seconds_since(t0);
  const PassRecord* rec = rep.find("quantize");
  std::printf("model %s (import + cleanup %.2f s)\n", model.c_str(), load_s);
  std::printf("pipeline %s, %lld calibration images, %d threads\n", pipeline.c_str(),
              static_cast<long long>(calib_n), threads);
  std::printf("quantize: %.2f s (calibration %.2f s, rewrite %.2f s), %g layers int8\n", quant_s,
              rec->stats.at("seconds_calibration"), rec->stats.at("seconds_rewrite"),
              rec->stats.at("layers_quantized"));
  for (const std::string& w : rep.warnings())
    std::printf("warning: %s\n", w.c_str());
  if (a.flag("no-eval") && a.flag("no-timing")) return 0;

  save_onnx(fp32, "/tmp/fmnist-resnet.fp32.onnx");
  save_onnx(q, out);
  const double fp_bytes =
      static_cast<double>(std::filesystem::file_size("/tmp/fmnist-resnet.fp32.onnx"));
  const double q_bytes = static_cast<double>(std::filesystem::file_size(out));
  std::printf("onnx size: fp32 %.0f bytes, int8 %.0f bytes (%.2fx smaller), original %.0f bytes\n",
              fp_bytes, q_bytes, fp_bytes / q_bytes,
              static_cast<double>(std::filesystem::file_size(model)));
  if (!a.flag("no-eval")) {
    auto test = fashion_mnist("test");
    EvalOptions eo;
    eo.batch_size = 256;
    const EvalResult rf = evaluate(fp32, *test, "accuracy", exec, eo);
    const EvalResult rq = evaluate(q, *test, "accuracy", exec, eo);
    std::printf("top-1: fp32 %.4f, int8 %.4f, drop %.2f points\n", rf.value, rq.value,
                100.0 * (rf.value - rq.value));
  }
  if (!a.flag("no-timing")) {
    auto test = fashion_mnist("test");
    const std::vector<Tensor> in = test->batch(0, 64).inputs;
    const double fp_ms = median_ms(exec, fp32, in, repeats);
    const double q_ms = median_ms(exec, q, in, repeats);
    std::printf("batch 64, %d threads, median of %d: fp32 %.3f ms, int8 %.3f ms (%.2fx)\n", threads,
                repeats, fp_ms, q_ms, fp_ms / q_ms);
    std::printf("int8 plan: %lld int8 conv, %lld int8 matmul, %lld reference steps\n",
                static_cast<long long>(exec.plan_info().count("int8 conv")),
                static_cast<long long>(exec.plan_info().count("int8 matmul")),
                static_cast<long long>(exec.plan_info().count("reference")));
    if (a.flag("profile")) std::printf("%s\n", exec.plan_info().str().c_str());
  }
  return 0;
}

int gpt(const Args& a) {
  const std::string model = a.get("model", "examples/models/fortunes-gpt.onnx");
  const std::string vocab = a.get("vocab", "examples/models/fortunes-gpt.vocab.json");
  const int64_t calib_n = std::stoll(a.get("calib", "128"));
  const std::string group = a.get("group", "64");
  const std::string bits = a.get("bits", "4");
  const int64_t eval_n = std::stoll(a.get("eval-windows", "-1"));
  const int threads = std::stoi(a.get("threads", "2"));
  Graph fp32 = cleaned(model);
  const CharTokenizer tok = CharTokenizer::load(vocab);
  auto train = fortunes("train", tok, 128);
  auto val = fortunes("validation", tok, 128);
  auto calib = first_samples(train, calib_n);
  OneDnnExecutor exec({threads});
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = calib.get();
  EvalOptions eo;
  eo.batch_size = 32;
  eo.limit = eval_n;
  const EvalResult base = evaluate(fp32, *val, "perplexity", exec, eo);
  std::printf("fp32: perplexity %.4f on %lld windows of %s\n", base.value,
              static_cast<long long>(base.samples), val->describe().c_str());
  for (const char* gptq : {"false", "true"}) {
    Graph q = fp32.clone();
    const std::string pipeline = "quantize{mode=weight-only,bits=" + bits + ",group_size=" + group +
                                 ",gptq=" + gptq + ",batch_size=16,measure_sqnr=false}";
    const auto t0 = Clock::now();
    PassManager::from_text(pipeline).run(q, ctx);
    const double s = seconds_since(t0);
    const EvalResult r = evaluate(q, *val, "perplexity", exec, eo);
    const std::string path = std::string("/tmp/fortunes-gpt.int") + bits +
                             (std::strcmp(gptq, "true") == 0 ? ".gptq" : ".rtn") + ".onnx";
    save_onnx(q, path);
    std::printf("%s: perplexity %.4f (+%.4f vs fp32), quantize %.2f s, %s %.0f bytes\n",
                pipeline.c_str(), r.value, r.value - base.value, s, path.c_str(),
                static_cast<double>(std::filesystem::file_size(path)));
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) {
      std::fprintf(stderr, "usage: shrink_bench_quantize fmnist|gpt [options]\n");
      return 2;
    }
    const Args a = parse_args(argc, argv);
    const std::string what = argv[1];
    if (what == "fmnist") return fmnist(a);
    if (what == "gpt") return gpt(a);
    std::fprintf(stderr, "unknown benchmark '%s' (fmnist or gpt)\n", what.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
