#pragma once
/// \file
/// `remove-identity`: removes nodes that pass their input through unchanged.
///
/// Before:
/// ```
/// graph @main(%x: f32[N,4]) {
///   %shape = const i64[2] [-1, 4]
///   %a = Identity(%x) : f32[N,4]
///   %b = Dropout(%a) {ratio=0.1} : f32[N,4]
///   %c = Relu(%b) : f32[N,4]
///   %d = Reshape(%c, %shape) : f32[N,4]
///   %e = Transpose(%d) {perm=[0,1]} : f32[N,4]
///   %y = Cast(%e) {to=1} : f32[N,4]
///   return %y
/// }
/// ```
/// After `remove-identity`:
/// ```
/// graph @main(%x: f32[N,4]) {
///   %shape = const i64[2] [-1, 4]
///   %y = Relu(%x) : f32[N,4]
///   return %y
/// }
/// ```
///
/// Removed: `Identity`; `Dropout` in inference mode (no `training_mode` input, or a constant
/// false one) whose mask output is unused; `Reshape` whose output type equals its input type
/// (every dimension known, or at most one symbolic dimension in the same place, which the
/// element count then pins down); `Transpose` with the identity permutation; `Cast` to the
/// input's own dtype. Graph output names stay stable: when the removed node produced a graph
/// output, the value that replaces it takes over the output's name (`%y` above). When that is
/// impossible — the replacement is a graph input, an initializer or another graph output — the
/// node stays, since removing it would rename or merge the model's outputs.

#include "shrink/pass/pass.h"

namespace shrink {

class PassRegistry;

/// The `remove-identity` pass. Takes no options.
class RemoveIdentityPass : public Pass {
public:
  /// Builds the pass; rejects any option.
  explicit RemoveIdentityPass(const Options& options = {});
  const PassInfo& info() const override;
  /// Removes no-op nodes. Stats: "removed" (total) and one counter per op ("Identity", ...).
  PassResult run(Graph& graph, PassContext& ctx) override;
};

/// True when `node` passes its first input through unchanged (see the file comment). Needs the
/// graph's types for Reshape and Cast.
bool is_identity_node(const Node& node);

/// Registers `remove-identity` with `registry` (idempotent).
void register_remove_identity_pass(PassRegistry& registry);

} // namespace shrink
