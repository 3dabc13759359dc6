#pragma once
/// \file
/// `dce`: dead-code elimination.
///
/// Before:
/// ```
/// graph @main(%x: f32[2,4]) {
///   %w = const f32[4,4] random(seed=1)
///   %unused = const f32[4] zeros
///   %a = Relu(%x) : f32[2,4]
///   %dead = MatMul(%a, %w) : f32[2,4]
///   %y = Sigmoid(%a) : f32[2,4]
///   return %y
/// }
/// ```
/// After `dce`:
/// ```
/// graph @main(%x: f32[2,4]) {
///   %a = Relu(%x) : f32[2,4]
///   %y = Sigmoid(%a) : f32[2,4]
///   return %y
/// }
/// ```
///
/// A node is dead when none of its outputs is used by a node or is a graph output; removing it
/// can make its producers dead, which the same sweep removes too. Initializers nobody uses are
/// removed. Graph inputs are the model's interface and always stay.

#include "shrink/pass/pass.h"

namespace shrink {

class PassRegistry;

/// The `dce` pass. Takes no options.
class DcePass : public Pass {
public:
  /// Builds the pass; rejects any option.
  explicit DcePass(const Options& options = {});
  const PassInfo& info() const override;
  /// Removes dead nodes and unused initializers. Stats: "nodes_removed",
  /// "initializers_removed".
  PassResult run(Graph& graph, PassContext& ctx) override;
};

/// Removes dead nodes and unused initializers from `graph`; returns the number of nodes and
/// initializers removed. The function behind `dce`, for passes that clean up after themselves.
std::pair<int64_t, int64_t> remove_dead_code(Graph& graph);

/// Registers `dce` with `registry` (idempotent).
void register_dce_pass(PassRegistry& registry);

} // namespace shrink
