#include "shrink/ir/verifier.h"

#include "shrink/core/error.h"
#include "shrink/ir/graph.h"
#include "shrink/ir/op_table.h"
#include "shrink/ir/text.h"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace shrink {

namespace {

std::string node_ref(const Node* n) {
  return "node '" + n->name() + "' (" + n->op() + ")";
}

std::string value_ref(const Value* v) {
  return "%" + v->name();
}

std::string plural(int n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// "2..3 inputs", "1 input", "at least 1 input".
std::string arity_text(int lo, int hi, const char* word) {
  if (hi < 0) return "at least " + plural(lo, word);
  if (lo == hi) return plural(lo, word);
  return std::to_string(lo) + ".." + std::to_string(hi) + " " + word + "s";
}

class Verifier {
public:
  explicit Verifier(const Graph& g) : g_(g) {}

  std::vector<std::string> run() {
    collect();
    check_names();
    check_graph_inputs();
    check_initializers();
    check_nodes();
    check_use_lists();
    check_order_and_cycles();
    check_graph_outputs();
    return std::move(diags_);
  }

private:
  void report(std::string message) { diags_.push_back(std::move(message)); }

  // Pointers are only dereferenced once they are known to belong to the graph: a dangling input
  // (a value of another graph, or an erased one) must be reported, not followed.
  void collect() {
    nodes_ = g_.nodes();
    for (size_t i = 0; i < nodes_.size(); ++i)
      node_index_[nodes_[i]] = i;
    auto add = [this](const Value* v) {
      if (v && known_values_.insert(v).second) values_.push_back(v);
    };
    for (const Value* v : g_.inputs())
      add(v);
    for (const Value* v : g_.initializers())
      add(v);
    for (const Node* n : nodes_)
      for (const Value* v : n->outputs())
        add(v);
  }

  bool in_graph(const Value* v) const { return known_values_.count(v) != 0; }
  bool in_graph(const Node* n) const { return node_index_.count(n) != 0; }

  void check_names() {
    std::map<std::string, int> value_count, node_count;
    for (const Value* v : values_) {
      if (&v->graph() != &g_) report("value " + value_ref(v) + " belongs to another graph");
      if (v->name().empty())
        report("a value has an empty name" +
               (v->producer() && in_graph(v->producer())
                    ? " (output " + std::to_string(v->producer_index()) + " of " +
                          node_ref(v->producer()) + ")"
                    : std::string()));
      else
        ++value_count[v->name()];
    }
    for (const auto& [name, count] : value_count) {
      if (count > 1)
        report("value name %" + name + " is used by " + std::to_string(count) + " values");
      else if (g_.find_value(name) == nullptr || !in_graph(g_.find_value(name)) ||
               g_.find_value(name)->name() != name)
        report("value %" + name + " is not found by its name (the graph's name index is stale)");
    }
    for (const Node* n : nodes_) {
      if (&n->graph() != &g_) report(node_ref(n) + ": belongs to another graph");
      if (n->name().empty())
        report("a node of op " + n->op() + " has an empty name");
      else
        ++node_count[n->name()];
    }
    for (const auto& [name, count] : node_count) {
      if (count > 1)
        report("node name '" + name + "' is used by " + std::to_string(count) + " nodes");
      else if (g_.find_node(name) == nullptr || !in_graph(g_.find_node(name)))
        report("node '" + name + "' is not found by its name (the graph's name index is stale)");
    }
  }

  void check_graph_inputs() {
    std::unordered_set<const Value*> seen;
    for (size_t i = 0; i < g_.inputs().size(); ++i) {
      const Value* v = g_.inputs()[i];
      std::string where = "graph input " + std::to_string(i);
      if (!v) {
        report(where + " is absent (null)");
        continue;
      }
      if (!seen.insert(v).second) report(where + " " + value_ref(v) + " is listed twice");
      if (!v->is_graph_input())
        report(where + " " + value_ref(v) + " is not marked as a graph input");
      if (v->producer())
        report(where + " " + value_ref(v) + " has a producer node; inputs are not computed");
      if (v->is_initializer()) report(where + " " + value_ref(v) + " is also an initializer");
    }
  }

  void check_initializers() {
    for (const Value* v : g_.initializers()) {
      const Tensor& t = v->initializer();
      TensorType actual = TensorType::of(t.dtype(), t.shape());
      if (actual != v->type())
        report("initializer " + value_ref(v) + ": its tensor is " + print_type(actual) +
               " but the value's type is " + print_type(v->type()) +
               " (use Graph::set_initializer, which keeps them equal)");
      if (v->producer())
        report("initializer " + value_ref(v) + " has a producer node " + node_ref(v->producer()));
      if (t.quant()) {
        const QuantParams& q = *t.quant();
        if (q.scales.size() != q.zero_points.size())
          report("initializer " + value_ref(v) + ": quantization has " +
                 plural(static_cast<int>(q.scales.size()), "scale") + " but " +
                 plural(static_cast<int>(q.zero_points.size()), "zero point"));
      }
    }
  }

  void check_nodes() {
    for (const Node* n : nodes_) {
      for (int k = 0; k < n->num_outputs(); ++k) {
        const Value* v = n->outputs()[k];
        if (!v) {
          report(node_ref(n) + ": output " + std::to_string(k) + " is absent (null)");
          continue;
        }
        if (v->producer() != n || v->producer_index() != k) {
          std::string actual = !v->producer() ? "no producer"
                               : !in_graph(v->producer())
                                   ? "a producer outside the graph"
                                   : "output " + std::to_string(v->producer_index()) + " of " +
                                         node_ref(v->producer());
          report(node_ref(n) + ": output " + std::to_string(k) + " " + value_ref(v) +
                 " should record this node as its producer, but records " + actual);
        }
        if (v->is_initializer() || v->is_graph_input())
          report(node_ref(n) + ": output " + std::to_string(k) + " " + value_ref(v) +
                 " is also a graph input or initializer");
      }
      for (int i = 0; i < n->num_inputs(); ++i) {
        const Value* v = n->inputs()[i];
        if (v && !in_graph(v))
          report(node_ref(n) + ": input " + std::to_string(i) +
                 " is not a value of this graph (a value of another graph, or an erased one)");
      }
      check_schema(n);
    }
  }

  void check_schema(const Node* n) {
    const OpSchema* s = find_op(n->op());
    if (!s) {
      std::vector<std::string> known;
      for (const OpSchema* op : all_ops())
        known.push_back(op->name);
      std::string near = closest_name(n->op(), known);
      report(node_ref(n) + ": unknown op '" + n->op() + "'" +
             (near.empty() ? std::string(" (not in the op table)")
                           : " (did you mean '" + near + "'?)"));
      return;
    }
    int ins = n->num_inputs();
    if (ins < s->min_inputs || (s->max_inputs >= 0 && ins > s->max_inputs))
      report(node_ref(n) + ": expects " + arity_text(s->min_inputs, s->max_inputs, "input") +
             ", has " + std::to_string(ins));
    for (int i = 0; i < std::min(ins, s->min_inputs); ++i)
      if (!n->inputs()[i])
        report(node_ref(n) + ": required input " + std::to_string(i) + " is absent");
    int outs = n->num_outputs();
    if (outs < s->min_outputs || (s->max_outputs >= 0 && outs > s->max_outputs))
      report(node_ref(n) + ": expects " + arity_text(s->min_outputs, s->max_outputs, "output") +
             ", has " + std::to_string(outs));
    std::vector<std::string> names;
    for (const auto& [name, kind] : s->attrs)
      names.push_back(name);
    for (const auto& [key, value] : n->attrs()) {
      auto it = std::find_if(s->attrs.begin(), s->attrs.end(),
                             [&](const auto& a) { return a.first == key; });
      if (it == s->attrs.end()) {
        std::string near = closest_name(key, names);
        report(node_ref(n) + ": unknown attribute '" + key + "'" +
               (near.empty() ? std::string() : " (did you mean '" + near + "'?)"));
      } else if (it->second != attr_kind(value)) {
        report(node_ref(n) + ": attribute '" + key + "' should be " + attr_kind_name(it->second) +
               ", is " + attr_kind_name(attr_kind(value)));
      }
    }
  }

  void check_use_lists() {
    // Node inputs -> use-lists.
    for (const Node* n : nodes_) {
      for (int i = 0; i < n->num_inputs(); ++i) {
        const Value* v = n->inputs()[i];
        if (!v || !in_graph(v)) continue;
        auto count = std::count(v->uses().begin(), v->uses().end(), Use{const_cast<Node*>(n), i});
        if (count == 0)
          report(node_ref(n) + ": input " + std::to_string(i) + " " + value_ref(v) +
                 " is missing from the use-list of " + value_ref(v));
        else if (count > 1)
          report(node_ref(n) + ": input " + std::to_string(i) + " " + value_ref(v) + " is listed " +
                 std::to_string(count) + " times in the use-list of " + value_ref(v));
      }
    }
    // Use-lists -> node inputs.
    for (const Value* v : values_) {
      for (const Use& u : v->uses()) {
        if (!u.node || !in_graph(u.node)) {
          report("value " + value_ref(v) +
                 ": its use-list names a node that is not in the graph"
                 " (input " +
                 std::to_string(u.index) + ")");
          continue;
        }
        const Value* actual = u.node->input(u.index);
        if (u.index < 0 || u.index >= u.node->num_inputs())
          report("value " + value_ref(v) + ": its use-list names input " + std::to_string(u.index) +
                 " of " + node_ref(u.node) + ", which has only " +
                 plural(u.node->num_inputs(), "input"));
        else if (actual != v)
          report("value " + value_ref(v) + ": its use-list names input " + std::to_string(u.index) +
                 " of " + node_ref(u.node) + ", but that input is " +
                 (actual ? (in_graph(actual) ? value_ref(actual) : "another value")
                         : std::string("absent")));
      }
    }
  }

  void check_order_and_cycles() {
    std::unordered_set<const Value*> defined;
    for (const Value* v : g_.inputs())
      defined.insert(v);
    for (const Value* v : g_.initializers())
      defined.insert(v);
    for (const Node* n : nodes_) {
      for (int i = 0; i < n->num_inputs(); ++i) {
        const Value* v = n->inputs()[i];
        if (!v || !in_graph(v) || defined.count(v)) continue;
        const Node* p = v->producer();
        std::string by =
            p && in_graph(p) ? (p == n ? "this node itself" : node_ref(p)) : std::string("no node");
        report(node_ref(n) + ": input " + std::to_string(i) + " " + value_ref(v) +
               " is used before it is defined (it is produced by " + by + ")");
      }
      for (const Value* v : n->outputs())
        if (v) defined.insert(v);
    }
    report_cycles();
  }

  // Strips nodes that cannot be on a cycle (no predecessors left, then no successors left);
  // what remains is the cycles and the paths between them.
  void report_cycles() {
    const size_t n = nodes_.size();
    std::vector<std::unordered_set<size_t>> preds(n), succs(n);
    for (size_t i = 0; i < n; ++i) {
      for (const Value* v : nodes_[i]->inputs()) {
        if (!v || !in_graph(v) || !v->producer()) continue;
        auto it = node_index_.find(v->producer());
        if (it == node_index_.end()) continue;
        preds[i].insert(it->second);
        succs[it->second].insert(i);
      }
    }
    std::vector<bool> removed(n, false);
    auto strip = [&](std::vector<std::unordered_set<size_t>>& in,
                     std::vector<std::unordered_set<size_t>>& out) {
      std::vector<size_t> degree(n), ready;
      for (size_t i = 0; i < n; ++i) {
        if (removed[i]) continue;
        for (size_t p : in[i])
          degree[i] += removed[p] ? 0 : 1;
        if (degree[i] == 0) ready.push_back(i);
      }
      while (!ready.empty()) {
        size_t i = ready.back();
        ready.pop_back();
        removed[i] = true;
        for (size_t s : out[i])
          if (!removed[s] && --degree[s] == 0) ready.push_back(s);
      }
    };
    strip(preds, succs);
    strip(succs, preds);
    std::vector<std::string> names;
    for (size_t i = 0; i < n; ++i)
      if (!removed[i]) names.push_back("'" + nodes_[i]->name() + "' (" + nodes_[i]->op() + ")");
    if (names.empty()) return;
    std::string list;
    const size_t shown = std::min<size_t>(names.size(), 8);
    for (size_t i = 0; i < shown; ++i)
      list += (i ? ", " : "") + names[i];
    if (names.size() > shown) list += " and " + std::to_string(names.size() - shown) + " more";
    report("the graph has a cycle through nodes " + list);
  }

  void check_graph_outputs() {
    if (g_.outputs().empty()) report("the graph has no outputs");
    for (size_t i = 0; i < g_.outputs().size(); ++i) {
      const Value* v = g_.outputs()[i];
      std::string where = "graph output " + std::to_string(i);
      if (!v)
        report(where + " is absent (null)");
      else if (!in_graph(v))
        report(where + " is not a value of this graph (a value of another graph, or an erased "
                       "one)");
    }
  }

  const Graph& g_;
  std::vector<Node*> nodes_;
  std::unordered_map<const Node*, size_t> node_index_;
  std::vector<const Value*> values_;
  std::unordered_set<const Value*> known_values_;
  std::vector<std::string> diags_;
};

} // namespace

std::vector<std::string> verify(const Graph& graph) {
  return Verifier(graph).run();
}

void verify_or_throw(const Graph& graph) {
  std::vector<std::string> diags = verify(graph);
  if (!diags.empty()) throw VerifyError(std::move(diags));
}

} // namespace shrink
