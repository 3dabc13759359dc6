#pragma once
/// \file
/// `fuse`: replaces decomposed patterns, as exporters write them, by single ops.
///
/// Before (GELU as torch.onnx exports `F.gelu`):
/// ```
/// graph @main(%x: f32[N,8]) {
///   %sqrt2 = const f32[] [1.4142135]
///   %one = const f32[] [1.0]
///   %half = const f32[] [0.5]
///   %d = Div(%x, %sqrt2) : f32[N,8]
///   %e = Erf(%d) : f32[N,8]
///   %a = Add(%e, %one) : f32[N,8]
///   %m = Mul(%x, %a) : f32[N,8]
///   %y = Mul(%m, %half) : f32[N,8]
///   return %y
/// }
/// ```
/// After `fuse` (the scalar constants are left for `dce`):
/// ```
/// graph @main(%x: f32[N,8]) {
///   %sqrt2 = const f32[] [1.4142135]
///   %one = const f32[] [1.0]
///   %half = const f32[] [0.5]
///   %y = Gelu(%x) : f32[N,8]
///   return %y
/// }
/// ```
///
/// Patterns (option `patterns`, default all):
/// - `layernorm`: m = ReduceMean(x); d = x - m; v = ReduceMean(d^2 or d*d); y = d / Sqrt(v + eps)
///   (or d * Reciprocal(Sqrt(v + eps))), optionally followed by * gamma and + beta with constant
///   gamma, beta -> `LayerNormalization(x, gamma, beta) {axis, epsilon}`. The reduced axes must
///   be the trailing ones with statically known sizes; without gamma the scale is ones.
/// - `gelu`: x * 0.5 * (1 + Erf(x / sqrt(2))) (or x * (1/sqrt(2)) inside the Erf) in the
///   association orders PyTorch and TensorFlow exporters produce -> `Gelu(x)`.
/// - `gelu-tanh`: x * 0.5 * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3))), with x^3 as Pow or
///   two Muls -> `Gelu(x) {approximate="tanh"}`.
/// - `gemm`: Add(MatMul(x, W), b) with x 2-D, W a constant 2-D matrix and b a constant 1-D
///   vector -> `Gemm(x, W, b)`. Gemm needs a 2-D A, so MatMuls over 3-D activations stay.
/// - `hardswish`: x * HardSigmoid(x) {alpha=1/6, beta=0.5} -> `HardSwish(x)`.
///
/// Every intermediate value of a pattern must have no other user and not be a graph output;
/// otherwise the pattern does not apply and nothing changes. The fused node's output keeps the
/// name of the value it replaces.

#include "shrink/pass/pass.h"

#include <string>
#include <vector>

namespace shrink {

class PassRegistry;

/// Options of `fuse`.
struct FuseOptions {
  /// The patterns to apply: any of "layernorm", "gelu", "gelu-tanh", "gemm", "hardswish".
  std::vector<std::string> patterns = {"layernorm", "gelu", "gelu-tanh", "gemm", "hardswish"};
};

/// The `fuse` pass. Option: `patterns` (list, default all).
class FusePass : public Pass {
public:
  /// Builds the pass with typed options; an unknown pattern name is a `RecipeError`.
  explicit FusePass(const FuseOptions& options);
  /// Builds the pass from raw options; unknown keys or patterns are a `RecipeError`.
  explicit FusePass(const Options& options = {});
  const PassInfo& info() const override;
  /// Applies the enabled patterns to a fixed point. Stats: one counter per pattern.
  PassResult run(Graph& graph, PassContext& ctx) override;
  /// Every pattern name.
  static const std::vector<std::string>& known_patterns();

private:
  FuseOptions options_;
};

/// Registers `fuse` with `registry` (idempotent).
void register_fuse_pass(PassRegistry& registry);

} // namespace shrink
