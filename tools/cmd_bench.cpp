// `shrink bench MODEL`: latency of a model on the oneDNN runtime.

#include "cli.h"

#include "shrink/core/error.h"
#include "shrink/exec/onednn.h"
#include "shrink/io/datasets.h"
#include "shrink/io/model.h"
#include "shrink/ir/stats.h"
#include "shrink/pass/pass_manager.h"
#include "shrink/pass/registry.h"
#include "shrink/recipe/default_environment.h"
#include "shrink/recipe/recipe.h"
#include "shrink/transforms/builtin.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>

namespace shrink::cli {

namespace {
const char* kBenchHelp = R"(usage: shrink bench MODEL [options]

Measures the latency of MODEL (.onnx or .mir) on the oneDNN runtime: the plan is compiled and
warmed up first, then every run is timed; the median, 10th and 90th percentile and throughput
are printed. Inputs are deterministic random values (floats uniform in [-1, 1), integer inputs
such as token ids in [0, 16)).

options:
  --batch N          the batch dimension (the first symbolic dimension of every input; default 1)
  --dim NAME=VALUE   the value of another symbolic dimension, e.g. --dim T=128; repeatable
  --threads LIST     oneDNN threads, one run per value: "2" or "1,2" (default 0: all cores)
  --iterations N     timed runs per configuration (default 50)
  --warmup N         untimed runs first (default 5; more until the plan has tuned itself)
  --int8             also benchmark int8: a QDQ model runs on the int8 primitives and, for
                     comparison, on the fp32 path; a float model is first quantized with the
                     `quantize` pass (static int8, calibrated on --data or on the random inputs)
  --data SPEC        calibration data for --int8 (as for `shrink eval`; default random inputs)
  --no-cleanup       time the file as it is; by default the lossless cleanup pipeline runs
                     first (as `shrink opt` does), so that patterns exporters write out (GELU
                     as its erf formula, Identity, constant subgraphs) reach the fast kernels
  --profile          after each configuration, print the plan: every step (fused nodes, post-ops,
                     oneDNN implementation) with its time per run
  --json             machine-readable output
  --quiet            print only the JSON or nothing
  --help             this text
)";

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Timing {
  std::string variant;
  int threads = 0;
  double median_ms = 0, p10_ms = 0, p90_ms = 0, per_second = 0;
  std::string profile; ///< The plan with per-step times (OneDnnPlanInfo::str).
};

std::vector<Tensor> bench_inputs(const Graph& g, int64_t batch,
                                 const std::map<std::string, int64_t>& dims) {
  std::vector<Tensor> inputs;
  uint64_t seed = 1;
  for (const Value* in : g.inputs()) {
    const TensorType& t = in->type();
    if (!t.ranked()) throw Error("input '" + in->name() + "' has no known rank");
    Shape shape;
    bool batch_used = false;
    for (const Dim& d : *t.dims) {
      if (d.is_known()) {
        shape.push_back(d.value);
      } else if (d.is_symbolic() && dims.count(d.symbol)) {
        shape.push_back(dims.at(d.symbol));
      } else if (!batch_used) {
        shape.push_back(batch);
        batch_used = true;
      } else {
        throw UsageError{"input '" + in->name() + "' has another unknown dimension" +
                         (d.is_symbolic() ? " '" + d.symbol + "'" : std::string()) +
                         ": give its value with --dim " +
                         (d.is_symbolic() ? d.symbol : std::string("NAME")) + "=VALUE"};
      }
    }
    if (is_float(t.dtype)) {
      inputs.push_back(Tensor::random(shape, seed++, t.dtype));
    } else {
      Tensor r = Tensor::random(shape, seed++);
      Tensor ids(DType::i64, shape);
      for (int64_t i = 0; i < r.numel(); ++i)
        ids.data_mutable<int64_t>()[i] = static_cast<int64_t>((r.at(i) + 1.0) * 8.0) % 16;
      inputs.push_back(ids.cast(t.dtype));
    }
  }
  return inputs;
}

Timing time_runs(const Graph& g, const std::vector<Tensor>& inputs, int threads, bool int8,
                 int warmup, int iterations, const std::string& variant, ProgressBar& bar) {
  OneDnnOptions o;
  o.threads = threads;
  o.int8 = int8;
  OneDnnExecutor exec(o);
  for (int i = 0; i < warmup; ++i)
    exec.run(g, inputs);
  // The plan tunes itself in its first runs (Winograd and thread trials, docs/runtime.md).
  for (int i = 0; i < 30 && !exec.plan_info().tuned; ++i)
    exec.run(g, inputs);
  std::vector<double> ms;
  for (int i = 0; i < iterations; ++i) {
    const double t0 = now();
    exec.run(g, inputs);
    ms.push_back((now() - t0) * 1e3);
    bar.update(i + 1, iterations, variant);
  }
  bar.clear();
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[static_cast<size_t>(p * (ms.size() - 1) + 0.5)]; };
  Timing t;
  t.variant = variant;
  t.threads = exec.threads();
  t.median_ms = pct(0.5);
  t.p10_ms = pct(0.1);
  t.p90_ms = pct(0.9);
  t.profile = exec.plan_info().str();
  t.per_second = inputs.empty() || inputs[0].rank() == 0
                     ? 1e3 / t.median_ms
                     : static_cast<double>(inputs[0].dim(0)) * 1e3 / t.median_ms;
  return t;
}

bool has_qdq(const Graph& g) {
  for (const Node* n : g.nodes())
    if (n->op() == "QuantizeLinear" || n->op() == "DequantizeLinear") return true;
  return false;
}

int64_t positive(const Args& args, const std::string& key, int64_t def, int64_t min) {
  if (!args.has(key)) return def;
  try {
    size_t used = 0;
    int64_t v = std::stoll(args.value(key), &used);
    if (used == args.value(key).size() && v >= min) return v;
  } catch (const std::exception&) {
  }
  throw UsageError{"--" + key + " needs an integer >= " + std::to_string(min) + ", got '" +
                   args.value(key) + "'"};
}
} // namespace

int cmd_bench(const std::vector<std::string>& argv) {
  Args args(argv, {"int8", "json", "quiet", "profile", "no-cleanup", "help"},
            {"batch", "dim", "threads", "iterations", "warmup", "data"});
  if (args.flag("help")) {
    std::cout << kBenchHelp;
    return kExitOk;
  }
  if (args.positional().size() != 1) throw UsageError{"expected exactly one MODEL argument"};
  const int64_t batch = positive(args, "batch", 1, 1);
  const int iterations = static_cast<int>(positive(args, "iterations", 50, 1));
  const int warmup = static_cast<int>(positive(args, "warmup", 5, 0));
  std::map<std::string, int64_t> dims;
  for (const std::string& d : args.values("dim")) {
    auto eq = d.find('=');
    try {
      if (eq == std::string::npos) throw std::invalid_argument(d);
      dims[d.substr(0, eq)] = std::stoll(d.substr(eq + 1));
    } catch (const std::exception&) {
      throw UsageError{"--dim '" + d + "': expected NAME=VALUE, e.g. T=128"};
    }
  }
  std::vector<int> thread_counts;
  {
    std::stringstream ss(args.value("threads", "0"));
    for (std::string item; std::getline(ss, item, ',');) {
      try {
        thread_counts.push_back(std::stoi(item));
      } catch (const std::exception&) {
        throw UsageError{"--threads needs numbers such as 2 or 1,2; got '" + args.value("threads") +
                         "'"};
      }
    }
  }
  const bool json = args.flag("json"), quiet = args.flag("quiet");
  const std::string path = args.positional()[0];
  Graph graph = load_model(path);
  const int64_t nodes_in_file = graph.num_nodes();
  if (!args.flag("no-cleanup")) {
    PassContext cleanup;
    PassManager::from_text(kCleanupPipeline).run(graph, cleanup);
  }
  std::vector<Tensor> inputs = bench_inputs(graph, batch, dims);

  std::vector<std::pair<std::string, const Graph*>> variants;
  Graph quantized;
  const bool qdq = has_qdq(graph);
  if (args.flag("int8") && !qdq) {
    if (!PassRegistry::global().contains("quantize"))
      throw Error("--int8 needs the 'quantize' pass, which this build does not have");
    std::shared_ptr<const DataSource> calibration;
    if (args.has("data")) {
      calibration = open_data_spec(parse_data_spec(args.value("data"), "calibration")).source;
    } else {
      calibration = std::make_shared<TensorDataSource>(inputs, std::nullopt, "random inputs");
    }
    quantized = graph.clone();
    PassContext ctx;
    ctx.calibration = calibration.get();
    OneDnnExecutor calib_exec;
    ctx.executor = &calib_exec;
    PassManager::from_text("quantize").run(quantized, ctx);
    variants = {{"fp32", &graph}, {"int8", &quantized}};
  } else if (args.flag("int8")) {
    variants = {{"qdq-as-fp32", &graph}, {"int8", &graph}};
  } else {
    variants = {{qdq ? "int8" : "fp32", &graph}};
  }

  ProgressBar bar(quiet || json);
  std::vector<Timing> timings;
  for (int threads : thread_counts)
    for (const auto& [name, g] : variants)
      timings.push_back(
          time_runs(*g, inputs, threads, name != "qdq-as-fp32", warmup, iterations, name, bar));

  if (json) {
    std::cout << "{\"model\": \"" << json_escape(path)
              << "\", \"cleanup\": " << (args.flag("no-cleanup") ? "false" : "true")
              << ", \"batch\": " << batch << ", \"iterations\": " << iterations
              << ", \"results\": [";
    for (size_t i = 0; i < timings.size(); ++i) {
      const Timing& t = timings[i];
      char line[256];
      std::snprintf(line, sizeof line,
                    "%s{\"variant\": \"%s\", \"threads\": %d, \"median_ms\": %.4f, "
                    "\"p10_ms\": %.4f, \"p90_ms\": %.4f, \"samples_per_second\": %.2f}",
                    i ? ", " : "", t.variant.c_str(), t.threads, t.median_ms, t.p10_ms, t.p90_ms,
                    t.per_second);
      std::cout << line;
    }
    std::cout << "]}\n";
    return kExitOk;
  }
  if (quiet) return kExitOk;
  std::cout << "model " << path << " ("
            << (args.flag("no-cleanup")
                    ? std::to_string(nodes_in_file) + " nodes, as in the file"
                    : std::to_string(nodes_in_file) + " -> " + std::to_string(graph.num_nodes()) +
                          " nodes after cleanup")
            << "), batch " << batch << ", " << iterations << " timed runs after " << warmup
            << " warm-up runs (oneDNN)\n";
  char head[160];
  std::snprintf(head, sizeof head, "%-12s %7s %11s %11s %11s %13s %8s", "variant", "threads",
                "median ms", "p10 ms", "p90 ms", "samples/s", "speedup");
  std::cout << head << "\n";
  for (const Timing& t : timings) {
    double base = t.median_ms;
    for (const Timing& b : timings)
      if (b.threads == t.threads) {
        base = b.median_ms;
        break;
      }
    char line[200];
    std::snprintf(line, sizeof line, "%-12s %7d %11.3f %11.3f %11.3f %13.1f %7.2fx",
                  t.variant.c_str(), t.threads, t.median_ms, t.p10_ms, t.p90_ms, t.per_second,
                  base / t.median_ms);
    std::cout << line << "\n";
  }
  if (args.flag("profile"))
    for (const Timing& t : timings)
      std::cout << "\nplan of " << t.variant << ", " << t.threads << " thread(s):\n" << t.profile;
  return kExitOk;
}

} // namespace shrink::cli
