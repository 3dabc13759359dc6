#pragma once
/// \file
/// `infer-shapes`: infers the static type of every value.
///
/// Before:
/// ```
/// graph @main(%x: f32[N,4]) {
///   %w = const f32[4,2] random(seed=1)
///   %y = MatMul(%x, %w) : f32
///   %z = Relu(%y) : f32
///   return %z
/// }
/// ```
/// After `infer-shapes`:
/// ```
/// graph @main(%x: f32[N,4]) {
///   %w = const f32[4,2] random(seed=1)
///   %y = MatMul(%x, %w) : f32[N,2]
///   %z = Relu(%y) : f32[N,2]
///   return %z
/// }
/// ```
///
/// The pass wraps `infer_shapes` (ir/shape_inference.h). It reports `changed` only when some
/// type actually changed, so a `fixpoint` that contains it still converges. The pass manager runs
/// shape inference by itself before any pass that requires "shapes"; write `infer-shapes`
/// explicitly only to see the types in a printed graph or to re-run it after a pass that
/// invalidates them.

#include "shrink/pass/pass.h"

namespace shrink {

class PassRegistry;

/// The `infer-shapes` pass. Takes no options.
class InferShapesPass : public Pass {
public:
  /// Builds the pass; rejects any option.
  explicit InferShapesPass(const Options& options = {});
  const PassInfo& info() const override;
  /// Infers every type. Stats: "updated" (values whose type changed).
  PassResult run(Graph& graph, PassContext& ctx) override;
};

/// Registers `infer-shapes` with `registry` (idempotent).
void register_infer_shapes_pass(PassRegistry& registry);

} // namespace shrink
