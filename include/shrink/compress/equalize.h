#pragma once
/// \file
/// `equalize`: cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization Through
/// Weight Equalization and Bias Correction"), a lossless rescaling that evens out the
/// per-channel weight ranges of consecutive layers before quantization.
///
/// Before:
/// ```
/// graph @main(%x: f32[N,2,4,4]) {
///   %w1 = const f32[2,2,1,1] [4.0, -2.0, 0.5, 1.0]
///   %b1 = const f32[2] [2.0, -1.0]
///   %w2 = const f32[2,2,1,1] [1.0, 0.5, -0.5, 4.0]
///   %c1 = Conv(%x, %w1, %b1) : f32[N,2,4,4]
///   %r = Relu(%c1) : f32[N,2,4,4]
///   %c2 = Conv(%r, %w2) : f32[N,2,4,4]
///   return %c2
/// }
/// ```
/// After `equalize` (s = [2, 0.5]: output channel c of `c1` divided by s_c, input channel c of
/// `c2` multiplied by it, every range now 2):
/// ```
/// graph @main(%x: f32[N,2,4,4]) {
///   %w1 = const f32[2,2,1,1] [2.0, -1.0, 1.0, 2.0]
///   %b1 = const f32[2] [1.0, -2.0]
///   %w2 = const f32[2,2,1,1] [2.0, 0.25, -1.0, 2.0]
///   %c1 = Conv(%x, %w1, %b1) : f32[N,2,4,4]
///   %r = Relu(%c1) : f32[N,2,4,4]
///   %c2 = Conv(%r, %w2) : f32[N,2,4,4]
///   return %c2
/// }
/// ```
/// (tests/compress/equalize_test.cpp checks exactly this example.)
///
/// **Pairs.** A pair is a first layer and a second layer where the first one's output reaches
/// the second one's activation input either directly or through one positively homogeneous
/// activation (f(s x) = s f(x) for s > 0): `Relu`, or `Clip` with min 0 and no max. `LeakyRelu`,
/// `PRelu`, `Clip` with a max (ReLU6), `Sigmoid`, `Gelu` and everything else break the chain. The
/// layers are `Conv` -> `Conv` (channel axis 1; any group count on either side: the ranges of a
/// grouped or depthwise second conv are taken over the output channels of each input channel's
/// group), or `Gemm` / `MatMul` -> `Gemm` / `MatMul` (channel axis last; `Gemm` with `transA=0`,
/// a constant 2-D B and a 1-D or absent C; `MatMul` with a constant 2-D right operand and no
/// bias). Every weight and bias must be an f32 initializer, and each value between the two layers
/// must have exactly one consumer and not be a graph output: a residual `Add` or a second reader
/// would see the rescaled channels.
///
/// **Scales.** With r1_c the range (max |w|) of output channel c of the first weight and r2_c
/// that of input channel c of the second, s_c = sqrt(r1_c r2_c) / r2_c; the first layer's
/// weights and bias of channel c are divided by s_c and the second's weights of input channel c
/// multiplied by it, so both ranges become sqrt(r1_c r2_c) and the graph computes the same
/// function. Channels with a zero range on either side keep s_c = 1. A layer can be the second
/// layer of one pair and the first of the next (a chain); changing one pair changes the ranges
/// its neighbours see, so all pairs are equalized in graph order, round after round, until no
/// scale moves by more than `tolerance` or after `iterations` rounds. The work is done in double
/// precision and written back as f32 once.
///
/// **BatchNormalization** must be folded into the first layer first (a batch norm between the
/// layers is not a per-channel scaling the pass could carry through); with `fold_batchnorm=true`
/// (the default) the pass runs the registered `fold-batchnorm` pass itself. A batch norm left
/// unfolded breaks the chain and is named in that layer's reason.
///
/// Data-free: the pass needs no calibration data, executor or training.

#include "shrink/pass/pass.h"

#include <cstdint>
#include <string>
#include <vector>

namespace shrink {

class PassRegistry;

/// Options of `equalize` (the pipeline keys have the same names).
struct EqualizeOptions {
  int64_t iterations = 10;          ///< Most rounds over all pairs (>= 1).
  double tolerance = 1e-8;          ///< Stop when every scale of a round is within 1 +- this.
  bool fold_batchnorm = true;       ///< Run `fold-batchnorm` before looking for pairs.
  std::vector<std::string> include; ///< Glob patterns of first-layer names; empty: all.
  std::vector<std::string> exclude; ///< Glob patterns of first-layer names left alone.
};

/// One equalized pair of layers.
struct EqualizedPair {
  std::string first;      ///< The first layer's node name.
  std::string second;     ///< The second layer's node name.
  std::string activation; ///< The op between them ("Relu", "Clip"), or empty.
  int64_t channels = 0;   ///< Channels rescaled (the width of the value between the layers).
  /// Per channel: the range of the first layer's output channel before and after.
  std::vector<double> first_ranges_before, first_ranges_after;
  /// Per channel: the range of the second layer's input channel before and after.
  std::vector<double> second_ranges_before, second_ranges_after;
  double min_scale = 1; ///< Smallest overall scale s_c (the product over all rounds).
  double max_scale = 1; ///< Largest overall scale s_c.
};

/// A layer that was not the first layer of any pair, and why.
struct EqualizeSkip {
  std::string node;   ///< The layer's node name.
  std::string reason; ///< Why no pair starts here ("its output 'c' has 2 consumers", ...).
};

/// The `equalize` pass; see the file comment.
class EqualizePass : public Pass {
public:
  /// Builds the pass with typed options; invalid values are a `RecipeError`.
  explicit EqualizePass(const EqualizeOptions& options);
  /// Builds the pass from raw options; unknown keys and invalid values are a `RecipeError`.
  explicit EqualizePass(const Options& options = {});
  const PassInfo& info() const override;
  /// Equalizes every pair. Stats: "pairs", "layers_skipped", "iterations" (rounds run),
  /// "batchnorm_folded", "max_scale_change" (of the last round, |s - 1|), and per pair
  /// "pair:<first>-><second>:<field>" for "channels", "min_scale", "max_scale" and the smallest
  /// and largest per-channel range of each side before and after ("first_min_before",
  /// "first_max_before", "second_min_before", ..., "second_max_after"). Throws `RecipeError`
  /// for include / exclude patterns that match no layer.
  PassResult run(Graph& graph, PassContext& ctx) override;
  /// The pairs of the last `run`, in graph order of their first layers.
  const std::vector<EqualizedPair>& pairs() const { return pairs_; }
  /// The Conv / Gemm / MatMul layers of the last `run` that start no pair, in graph order.
  const std::vector<EqualizeSkip>& skipped() const { return skipped_; }
  /// The options in use.
  const EqualizeOptions& options() const { return options_; }

private:
  EqualizeOptions options_;
  PassInfo info_;
  std::vector<EqualizedPair> pairs_;
  std::vector<EqualizeSkip> skipped_;
};

/// Registers `equalize` with `registry` (idempotent).
void register_equalize_pass(PassRegistry& registry);

} // namespace shrink
