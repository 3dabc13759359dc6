// `shrink info MODEL`: what a model is made of and what it costs.

#include "cli.h"

#include "shrink/compress/dependency.h"

#include "shrink/core/error.h"
#include "shrink/io/model.h"
#include "shrink/ir/dot.h"
#include "shrink/ir/shape_inference.h"
#include "shrink/ir/stats.h"
#include "shrink/ir/text.h"
#include "shrink/pass/pass_manager.h"
#include "shrink/transforms/builtin.h"

#include <fstream>
#include <iostream>
#include <sstream>

namespace shrink::cli {

namespace {
const char* kInfoHelp = R"(usage: shrink info MODEL [options]

Prints a model's inputs, outputs, parameter count, size in bytes, FLOPs per sample and op counts.
MODEL is a .onnx file or a .mir file (IR text).

options:
  --cleanup          run the lossless cleanup pipeline first (const-fold, fold-batchnorm, fuse, dce)
  --pipeline TEXT    run this pass pipeline first (e.g. "fold-batchnorm,dce")
  --dim NAME=SIZE    count FLOPs with symbolic dimension NAME at SIZE (repeatable; e.g.
                     --dim T=128 for a sequence model; unbound symbols count as 1)
  --prune-groups     list the groups of coupled channels / heads structured pruning sees
  --print            also print the graph in the IR text form
  --dot FILE         write the graph as Graphviz DOT to FILE
  --json             machine-readable output
  --help             this text
)";

std::string io_list(const std::vector<Value*>& values) {
  std::ostringstream out;
  for (size_t i = 0; i < values.size(); ++i)
    out << (i ? ", " : "") << values[i]->name() << ": " << print_type(values[i]->type());
  return out.str();
}
} // namespace

int cmd_info(const std::vector<std::string>& argv) {
  Args args(argv, {"cleanup", "print", "json", "prune-groups", "help"}, {"pipeline", "dot", "dim"});
  if (args.flag("help")) {
    std::cout << kInfoHelp;
    return kExitOk;
  }
  if (args.positional().size() != 1) throw UsageError{"expected exactly one MODEL argument"};
  const std::string path = args.positional()[0];
  Graph graph = load_model(path);

  std::string pipeline = args.value("pipeline");
  if (args.flag("cleanup")) pipeline = pipeline.empty() ? kCleanupPipeline : pipeline;
  if (!pipeline.empty()) {
    PassContext ctx;
    PassManager::from_text(pipeline).run(graph, ctx);
  }
  std::string shape_note;
  try {
    infer_shapes(graph);
  } catch (const std::exception& e) {
    shape_note = e.what();
  }
  SymbolSizes sizes;
  for (const std::string& d : args.values("dim")) {
    const size_t eq = d.find('=');
    int64_t size = -1;
    try {
      if (eq != std::string::npos) size = std::stoll(d.substr(eq + 1));
    } catch (const std::exception&) {
    }
    if (eq == std::string::npos || eq == 0 || size <= 0)
      throw UsageError{"--dim expects NAME=SIZE with a positive size, got '" + d + "'"};
    sizes[d.substr(0, eq)] = size;
  }
  GraphStats s = graph_stats(graph, sizes);
  std::string per = "per sample";
  for (const auto& [name, size] : sizes)
    per += (per == "per sample" ? " at " : ", ") + name + "=" + std::to_string(size);

  if (args.has("dot")) {
    std::ofstream out(args.value("dot"));
    if (!out) throw Error("cannot write DOT file '" + args.value("dot") + "'");
    out << to_dot(graph);
  }
  if (args.flag("json")) {
    std::cout << "{\"model\": \"" << json_escape(path) << "\", \"nodes\": " << s.nodes
              << ", \"parameters\": " << s.parameters << ", \"bytes\": " << s.parameter_bytes
              << ", \"flops\": " << s.flops
              << ", \"flops_complete\": " << (s.complete ? "true" : "false") << ", \"inputs\": [";
    for (size_t i = 0; i < graph.inputs().size(); ++i)
      std::cout << (i ? ", " : "") << "{\"name\": \"" << json_escape(graph.inputs()[i]->name())
                << "\", \"type\": \"" << print_type(graph.inputs()[i]->type()) << "\"}";
    std::cout << "], \"outputs\": [";
    for (size_t i = 0; i < graph.outputs().size(); ++i)
      std::cout << (i ? ", " : "") << "{\"name\": \"" << json_escape(graph.outputs()[i]->name())
                << "\", \"type\": \"" << print_type(graph.outputs()[i]->type()) << "\"}";
    std::cout << "], \"ops\": {";
    bool first = true;
    for (const auto& [op, n] : s.ops) {
      std::cout << (first ? "" : ", ") << "\"" << op << "\": " << n;
      first = false;
    }
    std::cout << "}}\n";
    return kExitOk;
  }
  std::cout << "model       " << path << "\n"
            << "inputs      " << io_list(graph.inputs()) << "\n"
            << "outputs     " << io_list(graph.outputs()) << "\n"
            << "nodes       " << s.nodes << "\n"
            << "parameters  " << human_count(static_cast<double>(s.parameters)) << " ("
            << s.parameters << ")\n"
            << "size        " << human_bytes(static_cast<double>(s.parameter_bytes)) << "\n"
            << "FLOPs       " << human_count(static_cast<double>(s.flops)) << " " << per
            << (s.complete ? "" : " (lower bound: some shapes are unknown)") << "\n"
            << "ops        ";
  for (const auto& [op, n] : s.ops)
    std::cout << " " << op << " x" << n;
  std::cout << "\n";
  if (!shape_note.empty()) std::cout << "note: shape inference failed: " << shape_note << "\n";
  if (args.flag("prune-groups")) std::cout << "\n" << describe_groups(find_prune_groups(graph));
  if (args.flag("print")) std::cout << "\n" << print(graph);
  return kExitOk;
}

} // namespace shrink::cli
