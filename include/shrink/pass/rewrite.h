#pragma once
/// \file
/// Local rewrite rules driven to a fixed point, and the small graph-editing helpers they share.
///
/// A rule looks at one node (its anchor), checks a pattern around it and, when the pattern
/// matches, rewrites the graph and returns true. "Does not apply" is `false`, never an error.

#include "shrink/ir/graph.h"
#include "shrink/pass/pass.h"

#include <memory>
#include <string>
#include <vector>

namespace shrink {

/// One local rewrite.
class RewriteRule {
public:
  virtual ~RewriteRule() = default;
  /// A short name, used as the counter name in pass statistics ("layernorm").
  virtual std::string name() const = 0;
  /// Tries the rule with `node` as anchor. Returns true after rewriting `graph`, false (and
  /// leaves the graph untouched) when the pattern does not match. `node` may be erased.
  virtual bool match_and_rewrite(Node& node, Graph& graph) = 0;
};

/// Applies `rules` to every node until none applies. Each successful rewrite adds 1 to
/// `stats[rule.name()]` when `stats` is given. Returns true when anything changed. Throws
/// `Error` when the rules do not converge (more than 64 rewrites per node of the graph), which
/// means two rules undo each other.
bool apply_rules_to_fixpoint(Graph& graph, const std::vector<std::unique_ptr<RewriteRule>>& rules,
                             Stats* stats = nullptr);

/// The one node that uses `v`, when `v` has exactly one use and is not a graph output;
/// nullptr otherwise. (A node that uses `v` twice counts as two uses.)
Node* single_user(const Value* v);

/// True when every use of `v` is by `node` and `v` is not a graph output.
bool only_used_by(const Value* v, const Node* node);

/// The scalar value of a constant `v` (initializer or `Constant` node output with one element),
/// converted to double; false when `v` is not such a constant.
bool scalar_constant(const Value* v, double* out);

/// True when `v` is a one-element constant within `tolerance` (relative) of `expected`.
bool is_scalar_constant(const Value* v, double expected, double tolerance = 1e-5);

/// Replaces `old_value` by `new_value` everywhere, erases `node` (the producer of `old_value`,
/// which must then have no uses left) and, when `old_value` was a graph output, gives
/// `new_value` its name so that graph output names stay stable. Returns false and changes
/// nothing when names cannot be kept: `old_value` is a graph output and `new_value` is a graph
/// input, an initializer or another graph output.
bool replace_and_erase(Graph& graph, Node* node, Value* old_value, Value* new_value);

/// True when `replace_and_erase(graph, node, old_value, new_value)` would succeed.
bool can_replace(const Graph& graph, const Value* old_value, const Value* new_value);

/// Erases `nodes` (in reverse order) after their outputs lost every use. Nodes whose outputs
/// are still used are left alone.
void erase_dead(Graph& graph, const std::vector<Node*>& nodes);

/// Renames `new_value` to `old_name` (the name of a value a rewrite replaced and erased), so that
/// printed graphs keep the names users know; the producer node is renamed too when its name was
/// the value's name. Does nothing when the name is taken or `new_value` is a graph input or
/// initializer.
void adopt_name(Graph& graph, Value* new_value, const std::string& old_name);

/// Gives input `index` of `user` the constant `tensor`. When the current input is an initializer
/// that only `user` uses, the initializer is updated in place (its name is kept); otherwise a new
/// initializer named after `name_hint` is added and wired in. Returns the value now used.
Value* set_constant_input(Graph& graph, Node* user, int index, Tensor tensor,
                          const std::string& name_hint);

} // namespace shrink
