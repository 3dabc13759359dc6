// `shrink opt MODEL --pipeline P -o OUT`: run passes, show what each did, check the outputs.

#include "cli.h"

#include "shrink/core/error.h"
#include "shrink/exec/reference.h"
#include "shrink/io/model.h"
#include "shrink/ir/shape_inference.h"
#include "shrink/ir/stats.h"
#include "shrink/ir/text.h"
#include "shrink/pass/pass_manager.h"
#include "shrink/pass/registry.h"
#include "shrink/transforms/builtin.h"

#include <cstdio>
#include <iostream>
#include <sstream>

namespace shrink::cli {

namespace {
const char* kOptHelp = R"HELP(usage: shrink opt MODEL [options]

Runs a pass pipeline on MODEL (.onnx or .mir), prints what every pass did and how the model's
size and cost changed, and writes the result.

options:
  --pipeline TEXT   passes to run (default: the lossless cleanup pipeline
                    "fixpoint(remove-identity,const-fold,fold-batchnorm,fuse,dce)")
  -o, --output FILE write the result (.onnx or .mir)
  --check           run the model before and after on the same random inputs (reference
                    executor) and report the largest relative difference
  --batch N         batch size for --check (symbolic dimensions are set to N; default 2)
  --seed N          seed of the random inputs for --check (default 0)
  --print           print the resulting graph in the IR text form
  --quiet           print nothing but errors
  --help            this text
)HELP";

// Random inputs for every graph input; symbolic dims become `batch`.
std::vector<Tensor> random_inputs(const Graph& g, int64_t batch, uint64_t seed) {
  std::vector<Tensor> inputs;
  for (const Value* in : g.inputs()) {
    const TensorType& t = in->type();
    if (!t.ranked())
      throw Error("--check: input '" + in->name() + "' has no known rank; cannot make inputs");
    Shape shape;
    for (const Dim& d : *t.dims) {
      if (!d.is_known() && !d.is_symbolic())
        throw Error("--check: input '" + in->name() + "' has an unknown dimension");
      shape.push_back(d.is_known() ? d.value : batch);
    }
    if (!is_float(t.dtype))
      throw Error("--check: input '" + in->name() + "' is " + dtype_name(t.dtype) +
                  "; --check makes float inputs only");
    inputs.push_back(Tensor::random(shape, seed++, t.dtype));
  }
  return inputs;
}

void print_record(const PassRecord& r, int depth) {
  std::ostringstream stats;
  for (const auto& [k, v] : r.stats)
    stats << " " << k << "=" << v;
  char line[256];
  std::snprintf(line, sizeof line, "%-*s%-*s %8.3f s  %-7s nodes %-5lld params %-9s", depth * 2, "",
                22 - depth * 2, r.name.c_str(), r.seconds, r.changed ? "changed" : "-",
                static_cast<long long>(r.nodes_after),
                human_count(static_cast<double>(r.params_after)).c_str());
  std::cout << line << stats.str() << "\n";
  for (const auto& c : r.children)
    print_record(c, depth + 1);
}
} // namespace

int cmd_opt(const std::vector<std::string>& argv) {
  std::vector<std::string> normalized = argv;
  for (auto& a : normalized)
    if (a == "-o") a = "--output";
  Args args(normalized, {"check", "print", "quiet", "help"},
            {"pipeline", "output", "batch", "seed"});
  if (args.flag("help")) {
    std::cout << kOptHelp;
    return kExitOk;
  }
  if (args.positional().size() != 1) throw UsageError{"expected exactly one MODEL argument"};
  const std::string path = args.positional()[0];
  const bool quiet = args.flag("quiet");
  Graph graph = load_model(path);
  PassManager pm = PassManager::from_text(args.value("pipeline", kCleanupPipeline));

  Graph before = graph.clone();
  infer_shapes(before);
  GraphStats s0 = graph_stats(before);
  PassContext ctx;
  PipelineReport report = pm.run(graph, ctx);
  infer_shapes(graph);
  GraphStats s1 = graph_stats(graph);

  if (!quiet) {
    std::cout << "pipeline " << pm.str() << "\n";
    for (const PassRecord& r : report.passes)
      print_record(r, 0);
    for (const std::string& w : report.warnings())
      std::cout << "warning: " << w << "\n";
    auto row = [](const char* what, double a, double b, std::string (*fmt)(double)) {
      char line[160];
      std::snprintf(line, sizeof line, "%-12s %12s -> %-12s (%.1f%%)", what, fmt(a).c_str(),
                    fmt(b).c_str(), a > 0 ? 100.0 * b / a : 100.0);
      std::cout << line << "\n";
    };
    std::cout << "\n";
    row("nodes", static_cast<double>(s0.nodes), static_cast<double>(s1.nodes), human_count);
    row("parameters", static_cast<double>(s0.parameters), static_cast<double>(s1.parameters),
        human_count);
    row("size", static_cast<double>(s0.parameter_bytes), static_cast<double>(s1.parameter_bytes),
        human_bytes);
    row("FLOPs", static_cast<double>(s0.flops), static_cast<double>(s1.flops), human_count);
  }
  if (args.flag("check")) {
    int64_t batch = std::stoll(args.value("batch", "2"));
    auto inputs = random_inputs(before, batch, std::stoull(args.value("seed", "0")));
    ReferenceExecutor ex;
    auto a = ex.run(before, inputs);
    auto b = ex.run(graph, inputs);
    double worst = 0;
    for (size_t i = 0; i < a.size(); ++i)
      worst = std::max(worst, max_relative_error(b[i], a[i]));
    if (!quiet)
      std::cout << "check        outputs before and after differ by at most " << worst
                << " (relative, batch " << batch << ")\n";
  }
  if (args.has("output")) {
    save_model(graph, args.value("output"));
    if (!quiet) std::cout << "wrote        " << args.value("output") << "\n";
  }
  if (args.flag("print")) std::cout << "\n" << print(graph);
  return kExitOk;
}

int cmd_passes(const std::vector<std::string>& argv) {
  Args args(argv, {"help"}, {});
  if (args.flag("help")) {
    std::cout << "usage: shrink passes\n\nLists every registered pass with its summary.\n";
    return kExitOk;
  }
  for (const PassEntry& e : PassRegistry::global().entries()) {
    char line[64];
    std::snprintf(line, sizeof line, "%-20s ", e.name.c_str());
    std::cout << line << e.summary << "\n";
  }
  return kExitOk;
}

} // namespace shrink::cli
