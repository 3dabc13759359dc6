#pragma once
/// \file
/// `const-fold`: evaluates everything that is known before the model runs.
///
/// Before:
/// ```
/// graph @main(%x: f32[N,8]) {
///   %w = const f32[2,3] [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
///   %minus1 = const i64[1] [-1]
///   %wt = Transpose(%w) {perm=[1,0]} : f32[3,2]
///   %k = Shape(%x) {start=1} : i64[1]
///   %shape = Concat(%minus1, %k) {axis=0} : i64[2]
///   %y = Reshape(%x, %shape) : f32[N,8]
///   %n = Shape(%x) {end=1} : i64[1]
///   return %wt, %y, %n
/// }
/// ```
/// After `const-fold`:
/// ```
/// graph @main(%x: f32[N,8]) {
///   %w = const f32[2,3] [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
///   %minus1 = const i64[1] [-1]
///   %wt = const f32[3,2] [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
///   %k = const i64[1] [8]
///   %shape = const i64[2] [-1, 8]
///   %y = Reshape(%x, %shape) : f32[N,8]
///   %n = Shape(%x) {end=1} : i64[1]
///   return %wt, %y, %n
/// }
/// ```
///
/// Every node whose inputs are all constant (initializers or `Constant` nodes) is evaluated with
/// its reference kernel and replaced by an initializer of the same name; `Constant` nodes become
/// initializers. `Shape` of a value whose dimensions are known is constant; with a symbolic
/// batch size `N` the `Shape` stays, but `Gather`, `Slice`, `Concat`, `Unsqueeze`, `Squeeze`,
/// `Reshape`, `Flatten` and `Identity` of its known part fold. A fold that would create more
/// than `max_elements` elements (and more than its inputs hold), as a large `Expand`,
/// `ConstantOfShape` or `Tile` would, is skipped. `DequantizeLinear` is never folded, so that
/// quantized weights stay quantized. Replaced initializers that nothing uses any more are left
/// for `dce`.

#include "shrink/pass/pass.h"

#include <cstdint>

namespace shrink {

class PassRegistry;

/// Options of `const-fold`.
struct ConstFoldOptions {
  /// Largest number of elements a fold may create (when that is more than its inputs hold).
  int64_t max_elements = int64_t{1} << 20;
};

/// The `const-fold` pass. Option: `max_elements` (integer, default 1048576).
class ConstFoldPass : public Pass {
public:
  /// Builds the pass with typed options.
  explicit ConstFoldPass(const ConstFoldOptions& options);
  /// Builds the pass from raw options; unknown keys are a `RecipeError`.
  explicit ConstFoldPass(const Options& options = {});
  const PassInfo& info() const override;
  /// Folds what can be folded. Stats: "folded" (nodes evaluated), "shapes_folded" (shape
  /// computations decided by static types), "skipped_large" (folds refused by the size guard).
  PassResult run(Graph& graph, PassContext& ctx) override;

private:
  ConstFoldOptions options_;
};

/// Registers `const-fold` with `registry` (idempotent).
void register_const_fold_pass(PassRegistry& registry);

} // namespace shrink
