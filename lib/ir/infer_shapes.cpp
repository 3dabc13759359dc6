// Whole-graph shape inference: one pass over the nodes in program order.
#include "shrink/core/error.h"
#include "shrink/ir/graph.h"
#include "shrink/ir/op_table.h"
#include "shrink/ir/shape_inference.h"

#include <exception>
#include <string>
#include <vector>

namespace shrink {

namespace {

std::string node_prefix(const Node& node) {
  return "node '" + node.name() + "' (" + node.op() + ")";
}

// Messages from the op functions already name the node; others (an unknown op, a foreign
// exception) get the name added so that every line of the report says where.
std::string with_node(const Node& node, const std::string& message) {
  if (message.find("node '" + node.name() + "'") != std::string::npos) return message;
  return node_prefix(node) + ": " + message;
}

} // namespace

void infer_shapes(Graph& graph) {
  std::vector<std::string> problems;
  for (Node* node : graph.nodes()) {
    std::string problem;
    try {
      std::vector<TensorType> types = infer_node_types(*node);
      if (static_cast<int>(types.size()) != node->num_outputs()) {
        problem = node_prefix(*node) + ": shape inference gave " + std::to_string(types.size()) +
                  " types for " + std::to_string(node->num_outputs()) + " outputs";
      } else {
        for (int i = 0; i < node->num_outputs(); ++i)
          node->output(i)->set_type(std::move(types[i]));
      }
    } catch (const UnsupportedError&) {
      problem = node_prefix(*node) + ": operator '" + node->op() +
                "' is not in the op table; its output types are unknown";
    } catch (const std::exception& e) {
      problem = with_node(*node, e.what());
    }
    if (!problem.empty()) {
      problems.push_back(problem);
      // Unranked outputs let later nodes infer what they can without repeating this error,
      // and do not leave a stale shape from an earlier run behind.
      for (Value* out : node->outputs())
        out->set_type(TensorType::unranked(out->type().dtype));
    }
  }
  graph.touch();
  if (problems.empty()) return;
  std::string message = "shape inference failed for " + std::to_string(problems.size()) +
                        (problems.size() == 1 ? " node" : " nodes") + " of graph '" + graph.name() +
                        "':";
  for (const std::string& p : problems) {
    // Keep multi-line messages readable as one indented entry.
    std::string entry;
    for (char c : p)
      entry += c == '\n' ? std::string("\n    ") : std::string(1, c);
    message += "\n  " + entry;
  }
  throw Error(message);
}

} // namespace shrink
