#include "shrink/ir/dot.h"

#include "shrink/ir/graph.h"
#include "shrink/ir/text.h"

#include <unordered_map>
#include <unordered_set>

namespace shrink {

namespace {

// A DOT double-quoted string. Label lines are joined with "\n" by the caller after escaping, so
// a backslash or newline inside a name cannot change the layout.
std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      continue;
    } else {
      out += c;
    }
  }
  return out;
}

std::string label(const std::vector<std::string>& lines) {
  std::string s = "\"";
  for (size_t i = 0; i < lines.size(); ++i)
    s += (i ? "\\n" : "") + esc(lines[i]);
  return s + "\"";
}

} // namespace

std::string to_dot(const Graph& graph) {
  std::unordered_map<const Value*, std::string> source; // value -> DOT id of what produces it
  std::unordered_set<const Value*> initializers;
  for (const Value* v : graph.initializers())
    initializers.insert(v);

  std::string s = "digraph " + label({graph.name()}) + " {\n";
  s += "  rankdir=TB;\n";
  s += "  node [fontname=\"Helvetica\", fontsize=10];\n";
  s += "  edge [fontname=\"Helvetica\", fontsize=9];\n";

  for (size_t i = 0; i < graph.inputs().size(); ++i) {
    const Value* v = graph.inputs()[i];
    if (!v) continue;
    std::string id = "in" + std::to_string(i);
    source[v] = id;
    s += "  " + id + " [label=" + label({"%" + v->name(), print_type(v->type())}) +
         ", shape=invhouse, style=filled, fillcolor=\"#dbe9f6\"];\n";
  }

  std::vector<Node*> nodes = graph.nodes();
  for (size_t j = 0; j < nodes.size(); ++j)
    for (const Value* v : nodes[j]->outputs())
      if (v) source[v] = "n" + std::to_string(j);

  std::string edges;
  for (size_t j = 0; j < nodes.size(); ++j) {
    const Node* n = nodes[j];
    std::string id = "n" + std::to_string(j);
    std::vector<std::string> lines = {n->op(), n->name()};
    for (int i = 0; i < n->num_inputs(); ++i) {
      const Value* v = n->input(i);
      if (!v) continue;
      if (initializers.count(v)) {
        lines.push_back("%" + v->name() + ": " + print_type(v->type()));
        continue;
      }
      auto it = source.find(v);
      if (it == source.end()) continue; // not a value of this graph: the verifier reports it
      edges += "  " + it->second + " -> " + id + " [label=" + label({print_type(v->type())}) +
               ", tooltip=" + label({"%" + v->name()}) + "];\n";
    }
    s += "  " + id + " [label=" + label(lines) +
         ", shape=box, style=\"rounded,filled\", fillcolor=\"#f2f2f2\"];\n";
  }

  for (size_t k = 0; k < graph.outputs().size(); ++k) {
    const Value* v = graph.outputs()[k];
    if (!v) continue;
    std::string id = "out" + std::to_string(k);
    std::string from;
    if (initializers.count(v)) {
      from = "const" + std::to_string(k);
      s += "  " + from + " [label=" + label({"%" + v->name(), print_type(v->type())}) +
           ", shape=note];\n";
    } else {
      auto it = source.find(v);
      if (it == source.end()) continue; // not a value of this graph: the verifier reports it
      from = it->second;
    }
    s += "  " + id + " [label=" + label({"%" + v->name()}) +
         ", shape=house, style=filled, fillcolor=\"#e2f0d9\"];\n";
    edges += "  " + from + " -> " + id + " [label=" + label({print_type(v->type())}) + "];\n";
  }

  return s + edges + "}\n";
}

} // namespace shrink
