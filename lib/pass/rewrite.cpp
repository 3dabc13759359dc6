#include "shrink/pass/rewrite.h"

#include "shrink/core/error.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace shrink {

bool apply_rules_to_fixpoint(Graph& graph, const std::vector<std::unique_ptr<RewriteRule>>& rules,
                             Stats* stats) {
  bool changed = false;
  const size_t budget = 64 * (graph.num_nodes() + 1);
  size_t rewrites = 0;
  std::string last_rule;
  // A rewrite may erase nodes of the snapshot, so after each one the sweep takes a fresh
  // snapshot and resumes near where it was; a rewrite can make an earlier node match, so sweeps
  // repeat until one full sweep rewrites nothing.
  for (;;) {
    bool sweep_rewrote = false;
    std::vector<Node*> nodes = graph.nodes();
    size_t i = 0;
    while (i < nodes.size()) {
      bool rewrote = false;
      for (const auto& rule : rules) {
        if (!rule->match_and_rewrite(*nodes[i], graph)) continue;
        rewrote = true;
        last_rule = rule->name();
        if (stats) (*stats)[last_rule] += 1;
        break;
      }
      if (!rewrote) {
        ++i;
        continue;
      }
      changed = sweep_rewrote = true;
      if (++rewrites > budget)
        throw Error("rewrite rules did not converge after " + std::to_string(rewrites) +
                    " rewrites (last rule: '" + last_rule +
                    "'): two rules probably undo each other");
      nodes = graph.nodes();
    }
    if (!sweep_rewrote) break;
  }
  return changed;
}

Node* single_user(const Value* v) {
  if (!v || v->uses().size() != 1 || v->graph().is_output(v)) return nullptr;
  return v->uses()[0].node;
}

bool only_used_by(const Value* v, const Node* node) {
  if (!v || v->graph().is_output(v)) return false;
  for (const Use& u : v->uses())
    if (u.node != node) return false;
  return true;
}

bool scalar_constant(const Value* v, double* out) {
  const Tensor* t = constant_value(v);
  if (!t || t->numel() != 1) return false;
  *out = t->at(0);
  return true;
}

bool is_scalar_constant(const Value* v, double expected, double tolerance) {
  double x = 0;
  if (!scalar_constant(v, &x)) return false;
  return std::abs(x - expected) <= tolerance * std::max(1.0, std::abs(expected));
}

bool can_replace(const Graph& graph, const Value* old_value, const Value* new_value) {
  if (old_value == new_value) return false;
  if (!graph.is_output(old_value)) return true;
  // The graph output keeps its name by renaming `new_value`; that is only possible for a node
  // output that is not itself an interface value.
  return new_value->producer() != nullptr && !graph.is_output(new_value);
}

bool replace_and_erase(Graph& graph, Node* node, Value* old_value, Value* new_value) {
  if (!can_replace(graph, old_value, new_value)) return false;
  bool was_output = graph.is_output(old_value);
  std::string name = old_value->name();
  graph.replace_all_uses(old_value, new_value);
  graph.erase(node);
  if (was_output) adopt_name(graph, new_value, name);
  return true;
}

void erase_dead(Graph& graph, const std::vector<Node*>& nodes) {
  std::vector<Node*> pending(nodes.begin(), nodes.end());
  std::sort(pending.begin(), pending.end());
  pending.erase(std::unique(pending.begin(), pending.end()), pending.end());
  // The order of `nodes` need not be topological: repeat until no node can go.
  for (bool progress = true; progress && !pending.empty();) {
    progress = false;
    for (auto it = pending.begin(); it != pending.end();) {
      Node* n = *it;
      bool dead = true;
      for (Value* out : n->outputs())
        if (!out->uses().empty() || graph.is_output(out)) dead = false;
      if (dead) {
        graph.erase(n);
        it = pending.erase(it);
        progress = true;
      } else {
        ++it;
      }
    }
  }
}

void adopt_name(Graph& graph, Value* new_value, const std::string& old_name) {
  if (new_value->is_graph_input() || new_value->is_initializer()) return;
  if (new_value->name() == old_name || graph.find_value(old_name)) return;
  std::string previous = new_value->name();
  graph.rename(new_value, old_name);
  Node* producer = new_value->producer();
  if (producer && producer->name() == previous && !graph.find_node(old_name))
    graph.rename(producer, old_name);
}

Value* set_constant_input(Graph& graph, Node* user, int index, Tensor tensor,
                          const std::string& name_hint) {
  Value* current = user->input(index);
  if (current && current->is_initializer() && only_used_by(current, user) &&
      current->uses().size() == 1) {
    graph.set_initializer(current, std::move(tensor));
    return current;
  }
  Value* fresh = graph.add_initializer(graph.fresh_name(name_hint), std::move(tensor));
  if (index < user->num_inputs())
    graph.set_input(user, index, fresh);
  else {
    while (user->num_inputs() < index)
      graph.add_input_to(user, nullptr);
    graph.add_input_to(user, fresh);
  }
  return fresh;
}

} // namespace shrink
