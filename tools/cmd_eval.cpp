// `shrink eval MODEL --data SPEC`: score a model on a data set.

#include "cli.h"

#include "shrink/core/error.h"
#include "shrink/exec/onednn.h"
#include "shrink/exec/reference.h"
#include "shrink/io/model.h"
#include "shrink/ir/evaluate.h"
#include "shrink/recipe/default_environment.h"
#include "shrink/recipe/recipe.h"

#include <cstdio>
#include <iostream>
#include <memory>

namespace shrink::cli {

namespace {
const char* kEvalHelp = R"(usage: shrink eval MODEL --data SPEC [options]

Runs MODEL (.onnx or .mir) over a data set and prints a metric.

SPEC is a data source in the form SOURCE or SOURCE{key=value,...}, as in recipes
(docs/recipes.md):
  fashion-mnist{split=test}                       Fashion-MNIST (split train or test)
  npy{inputs=x.npy,labels=y.npy}                  arrays used exactly as stored
  text{path=file.txt,window=128,vocab=v.json}     a text file cut into token windows
  fortunes{window=128,vocab=v.json}               the Debian fortunes collection

options:
  --data SPEC        the data set (required)
  --metric NAME      accuracy (default), cross-entropy, perplexity or bits-per-char
  --samples N        use N samples picked at random with --seed (default: all)
  --seed N           seed for --samples (default 0)
  --batch N          samples per run (default 64)
  --executor NAME    onednn (default) or reference
  --threads N        oneDNN threads (default 0: all cores)
  --quiet            print only the value
  --json             machine-readable output
  --help             this text
)";
} // namespace

int cmd_eval(const std::vector<std::string>& argv) {
  Args args(argv, {"quiet", "json", "help"},
            {"data", "metric", "samples", "seed", "batch", "executor", "threads"});
  if (args.flag("help")) {
    std::cout << kEvalHelp;
    return kExitOk;
  }
  if (args.positional().size() != 1) throw UsageError{"expected exactly one MODEL argument"};
  if (!args.has("data"))
    throw UsageError{"--data SPEC is required (e.g. fashion-mnist{split=test})"};
  const std::string executor_name = args.value("executor", "onednn");
  if (executor_name != "onednn" && executor_name != "reference")
    throw UsageError{"--executor must be onednn or reference"};
  auto number = [&](const std::string& key, int64_t def) -> int64_t {
    if (!args.has(key)) return def;
    try {
      size_t used = 0;
      int64_t v = std::stoll(args.value(key), &used);
      if (used != args.value(key).size() || v < 0) throw std::invalid_argument("");
      return v;
    } catch (const std::exception&) {
      throw UsageError{"--" + key + " needs a non-negative integer, got '" + args.value(key) + "'"};
    }
  };
  DataSpec spec = parse_data_spec(args.value("data"), "eval");
  if (args.has("metric")) spec.metric = args.value("metric");
  if (args.has("samples")) spec.samples = number("samples", -1);
  spec.batch_size = number("batch", 64);
  if (spec.batch_size < 1) throw UsageError{"--batch must be >= 1"};
  const bool quiet = args.flag("quiet"), json = args.flag("json");

  Graph graph = load_model(args.positional()[0]);
  OpenedData data = open_data_spec(spec, static_cast<uint64_t>(number("seed", 0)));
  std::unique_ptr<Executor> executor;
  if (executor_name == "reference")
    executor = std::make_unique<ReferenceExecutor>();
  else
    executor =
        std::make_unique<OneDnnExecutor>(OneDnnOptions{static_cast<int>(number("threads", 0))});
  ProgressBar bar(quiet || json);
  EvalOptions options;
  options.batch_size = spec.batch_size;
  options.progress = bar.fn();
  EvalResult r = evaluate(graph, *data.source, spec.effective_metric(), *executor, options);
  bar.clear();
  if (json) {
    std::printf("{\"model\": \"%s\", \"data\": \"%s\", \"metric\": \"%s\", \"value\": %.17g, "
                "\"samples\": %lld, \"predictions\": %lld, \"seconds\": %.6g, "
                "\"samples_per_second\": %.6g, \"executor\": \"%s\"}\n",
                json_escape(args.positional()[0]).c_str(), json_escape(r.data).c_str(),
                r.metric.c_str(), r.value, static_cast<long long>(r.samples),
                static_cast<long long>(r.predictions), r.seconds, r.samples_per_second,
                r.executor.c_str());
  } else if (quiet) {
    std::printf("%.6f\n", r.value);
  } else {
    std::cout << r.str() << "\n";
  }
  return kExitOk;
}

} // namespace shrink::cli
