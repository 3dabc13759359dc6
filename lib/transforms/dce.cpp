#include "shrink/transforms/dce.h"

#include "shrink/pass/registry.h"

namespace shrink {

namespace {
const char* const kSummary =
    "Removes nodes whose outputs are unused and not graph outputs, and unused initializers.";

bool is_dead(const Graph& graph, const Node* node) {
  for (const Value* out : node->outputs())
    if (!out->uses().empty() || graph.is_output(out)) return false;
  return true;
}
} // namespace

std::pair<int64_t, int64_t> remove_dead_code(Graph& graph) {
  int64_t nodes = 0;
  // In program order a node's users come after it, so one backward sweep also removes the
  // producers that die when their last user goes; a graph that is not in program order needs
  // more sweeps.
  for (bool progress = true; progress;) {
    progress = false;
    std::vector<Node*> order = graph.nodes();
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      if (!is_dead(graph, *it)) continue;
      graph.erase(*it);
      ++nodes;
      progress = true;
    }
  }
  int64_t initializers = 0;
  for (Value* v : graph.initializers()) {
    if (!v->uses().empty() || graph.is_output(v) || v->is_graph_input()) continue;
    graph.erase_value(v);
    ++initializers;
  }
  return {nodes, initializers};
}

DcePass::DcePass(const Options& options) {
  OptionReader reader("dce", options);
  reader.finish();
}

const PassInfo& DcePass::info() const {
  static const PassInfo info{"dce", kSummary, {}, {}, {}, {}};
  return info;
}

PassResult DcePass::run(Graph& graph, PassContext& ctx) {
  auto [nodes, initializers] = remove_dead_code(graph);
  PassResult result;
  result.changed = nodes + initializers > 0;
  result.stats["nodes_removed"] = static_cast<double>(nodes);
  result.stats["initializers_removed"] = static_cast<double>(initializers);
  return result;
}

SHRINK_REGISTER_PASS(register_dce_pass, DcePass, "dce", kSummary);

} // namespace shrink
