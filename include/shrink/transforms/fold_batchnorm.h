#pragma once
/// \file
/// `fold-batchnorm`: folds an inference BatchNormalization into the layer before it.
///
/// Before:
/// ```
/// graph @main(%x: f32[N,2,4,4]) {
///   %w = const f32[2,2,1,1] [1.0, 0.0, 0.0, 1.0]
///   %gamma = const f32[2] [2.0, 0.5]
///   %beta = const f32[2] [1.0, -1.0]
///   %mean = const f32[2] [0.5, 0.0]
///   %var = const f32[2] [1.0, 4.0]
///   %c = Conv(%x, %w) : f32[N,2,4,4]
///   %bn = BatchNormalization(%c, %gamma, %beta, %mean, %var) {epsilon=0.0} : f32[N,2,4,4]
///   %y = Relu(%bn) : f32[N,2,4,4]
///   return %y
/// }
/// ```
/// After `fold-batchnorm` (the BatchNormalization parameters are left for `dce`):
/// ```
/// graph @main(%x: f32[N,2,4,4]) {
///   %w = const f32[2,2,1,1] [2.0, 0.0, 0.0, 0.25]
///   %gamma = const f32[2] [2.0, 0.5]
///   %beta = const f32[2] [1.0, -1.0]
///   %mean = const f32[2] [0.5, 0.0]
///   %var = const f32[2] [1.0, 4.0]
///   %c_bias = const f32[2] [0.0, -1.0]
///   %c = Conv(%x, %w, %c_bias) : f32[N,2,4,4]
///   %y = Relu(%c) : f32[N,2,4,4]
///   return %y
/// }
/// ```
///
/// With s = gamma / sqrt(var + epsilon) and t = beta - mean * s, the BatchNormalization is
/// y = s * x + t per channel (axis 1), so the producer's weights are scaled by s per output
/// channel and its bias becomes s * b + t. Folded producers: `Conv` and `ConvTranspose` (any
/// group count), `Gemm` (B scaled along its output columns, C rewritten, beta set to 1) and a
/// 2-D `MatMul` (weights scaled, an `Add` of the new bias appended, which `fuse` may turn into a
/// `Gemm`). Every weight, bias and BatchNormalization parameter must be an f32 constant, the
/// producer's output must feed only the BatchNormalization, and the BatchNormalization must be
/// in inference mode. Weights that only this layer uses are rewritten in place (keeping their
/// names); shared weights are copied. Anything else is left as it is: a BatchNormalization that
/// does not fit is not an error.

#include "shrink/pass/pass.h"

namespace shrink {

class PassRegistry;

/// The `fold-batchnorm` pass. Takes no options.
class FoldBatchNormPass : public Pass {
public:
  /// Builds the pass; rejects any option.
  explicit FoldBatchNormPass(const Options& options = {});
  const PassInfo& info() const override;
  /// Folds every foldable BatchNormalization. Stats: "folded". A warning names the
  /// BatchNormalization nodes left.
  PassResult run(Graph& graph, PassContext& ctx) override;
};

/// Registers `fold-batchnorm` with `registry` (idempotent).
void register_fold_batchnorm_pass(PassRegistry& registry);

} // namespace shrink
