#pragma once
/// \file
/// `lowrank`: replaces a layer with constant weights by two thinner layers (truncated SVD).
///
/// Before:
/// ```
/// graph @main(%x: f32[N,64]) {
///   %w = const f32[64,64] random(seed=1)
///   %b = const f32[64] zeros
///   %y = Gemm(%x, %w, %b) {transB=1} : f32[N,64]
///   return %y
/// }
/// ```
/// After `lowrank{ratio=0.25}` (rank 16 of 64: 2048 weights instead of 4096):
/// ```
/// graph @main(%x: f32[N,64]) {
///   %b = const f32[64] zeros
///   %w_lr1 = const f32[16,64] hash(0x...)
///   %w_lr2 = const f32[64,16] hash(0x...)
///   %y_lr = Gemm(%x, %w_lr1) {transB=1} : f32[N,16]
///   %y = Gemm(%y_lr, %w_lr2, %b) {transB=1} : f32[N,64]
///   return %y
/// }
/// ```
///
/// Every layer is seen as a matrix W of shape out x in (y = W x). With the thin SVD
/// W = U S V^T and the top-r left singular vectors U_r, the pass writes W ~ U_r (U_r^T W): the
/// first layer maps the input to r values with U_r^T W = S_r V_r^T (the singular values are
/// folded into it), the second maps them back with U_r. At full rank the product is W.
///
/// Layers:
/// - `Gemm` with a constant f32 B (any `alpha`, `beta`, `transA`, `transB`): two Gemms; `alpha`
///   and `transA` stay on the first, the bias C and `beta` on the second, both keep `transB`.
/// - `MatMul` with a constant 2-D f32 right operand (any rank of activations): two MatMuls.
/// - `Conv` (1-D or 2-D, `group=1`) with a constant f32 weight, by option `conv`:
///   - `channel` (default): a Conv with r output channels and the original kernel, strides, pads
///     and dilations, then a 1x1 Conv with the bias. W is `Cout x (Cin*kh*kw)`.
///   - `spatial` (2-D only; 1-D convs use `channel`): a kh x 1 Conv with r output channels
///     (vertical strides, pads, dilations), then a 1 x kw Conv (horizontal ones) with the bias.
///     W is `(Cout*kw) x (Cin*kh)`. `auto_pad=SAME_*` needs the input's spatial size.
///   - `none`: convolutions are left alone.
///   Depthwise and other grouped convolutions are left alone.
///
/// Rank selection (at most one of `energy`, `ratio`, `budget`; default `energy=0.95`):
/// - `energy=e`: per layer, the smallest rank whose singular values keep a fraction e of the
///   spectrum's energy (sum of squared singular values).
/// - `ratio=q`: per layer, rank ceil(q * full rank).
/// - `budget=f`: the selected layers together keep at most a fraction f of their weights
///   (`budget_metric=params`) or of their multiply-accumulates per sample (`flops`). Ranks are
///   allocated greedily across layers, always taking the step with the least lost energy
///   fraction per saved parameter (or FLOP); a budget that cannot be met is an `Error`.
/// Ranks are rounded up to a multiple of `multiple` (default 8). A layer is left as it is
/// whenever its factorization would not reduce both its weights and its FLOPs (unless
/// `force=true`, for experiments).
///
/// Data-aware mode (`whiten=true`): the calibration data (`PassContext::calibration`) runs
/// through `PassContext::executor` in batches of `batch_size` (at most `samples` samples) and
/// each selected layer's input second moment C = X^T X is accumulated (convolutions use the
/// im2col patches their kernel sees); activations are never all held. With the Cholesky factor
/// C + damp * mean(diag C) * I = L L^T, the pass takes U_r from the SVD of W L, which minimises
/// the layer's output error on the calibration data instead of the weight error. When the
/// Cholesky factorization fails (`damp=0` and a singular C), the layer falls back to plain SVD
/// with a warning. Spatial-mode convolutions always use plain SVD.
///
/// SVD (`svd`): `exact` is Eigen's BDCSVD; `randomized` is a randomized subspace iteration for
/// the top-r singular vectors (r + 16 samples, 2 power iterations); `auto` (default) uses the
/// randomized one when both sides have at least 512 entries and r + 16 is at most half the full
/// rank, where it is several times faster (docs/lowrank.md has the measurements). The spectrum
/// that ranks are chosen from always comes from the eigenvalues of the smaller Gram matrix
/// (W W^T or W^T W).
///
/// Layer selection: `include` and `exclude` are lists of glob patterns (`*`, `?`) matched
/// against node names; a pattern that matches no Gemm, MatMul or Conv node with constant weights
/// is a `RecipeError` naming it.

#include "shrink/pass/node_filter.h"
#include "shrink/pass/pass.h"

#include <cstdint>
#include <string>
#include <vector>

namespace shrink {

class PassRegistry;

/// Options of `lowrank` (the pipeline keys have the same names).
struct LowRankOptions {
  /// How ranks are chosen.
  enum class Select { energy, ratio, budget };
  Select select = Select::energy; ///< Set by whichever of `energy`, `ratio`, `budget` is given.
  double energy = 0.95;           ///< Fraction of spectral energy kept per layer, in (0, 1].
  double ratio = 0.5;             ///< Rank as a fraction of the full rank, in (0, 1].
  double budget = 0.5;            ///< Fraction of the selected layers' cost kept, in (0, 1].
  std::string budget_metric = "params"; ///< "params" or "flops".
  int64_t multiple = 8;                 ///< Ranks are rounded up to a multiple of this (>= 1).
  std::string conv = "channel";         ///< "channel", "spatial" or "none".
  bool whiten = false;                  ///< Data-aware factorization with calibration data.
  double damp = 0.01;      ///< Diagonal damping of X^T X, relative to its mean diagonal (>= 0).
  int64_t samples = 512;   ///< Most calibration samples read (>= 1).
  int64_t batch_size = 32; ///< Calibration samples per executor run (>= 1).
  std::vector<std::string> include; ///< Glob patterns of node names to factorize; empty: all.
  std::vector<std::string> exclude; ///< Glob patterns of node names to leave alone.
  std::string svd = "auto";         ///< "auto", "exact" or "randomized".
  bool force = false;               ///< Factorize even when that saves neither weights nor FLOPs.
};

/// What the pass did with one layer (a Gemm, MatMul or Conv node with constant weights).
struct LowRankLayer {
  std::string node;          ///< The node's name before the pass.
  std::string op;            ///< "Gemm", "MatMul" or "Conv".
  std::string form;          ///< "matrix", "conv-channel", "conv-spatial"; empty when not eligible.
  int64_t rows = 0;          ///< Rows (outputs) of the factorized matrix.
  int64_t cols = 0;          ///< Columns (inputs) of the factorized matrix.
  int64_t full_rank = 0;     ///< min(rows, cols).
  int64_t rank = 0;          ///< The rank used; 0 when the layer was left alone.
  bool factorized = false;   ///< True when the layer was replaced by two layers.
  bool selected = false;     ///< True when eligible and picked by `include` / `exclude`.
  std::string reason;        ///< Why the layer was left alone; empty when factorized.
  int64_t params_before = 0; ///< Weight parameters before (biases are not counted).
  int64_t params_after = 0;  ///< Weight parameters after (equal to before when left alone).
  double flops_before = 0;   ///< Multiply-accumulates per sample before.
  double flops_after = 0;    ///< Multiply-accumulates per sample after.
  double energy_kept = 1.0;  ///< Fraction of the (whitened) spectrum's energy kept.
  /// Relative RMS error of the layer's output (before its bias) on the calibration data,
  /// sqrt(|X (W - W')^T|^2 / |X W^T|^2); -1 when not measured (only `whiten=true` measures it).
  double output_error = -1;
  bool whitened = false; ///< True when the factorization used the calibration data.
  std::string svd;       ///< "exact" or "randomized" when factorized.
  double seconds = 0;    ///< Time spent on this layer's SVD and rewrite.
};

/// The `lowrank` pass; see the file comment.
class LowRankPass : public Pass {
public:
  /// Builds the pass with typed options; invalid values are a `RecipeError`.
  explicit LowRankPass(const LowRankOptions& options);
  /// Builds the pass from raw options; unknown keys, invalid values and more than one of
  /// `energy`, `ratio`, `budget` are a `RecipeError`.
  explicit LowRankPass(const Options& options = {});
  const PassInfo& info() const override;
  /// Factorizes the selected layers. Stats: "layers_factorized", "layers_kept" (selected but
  /// not worth factorizing), "layers_skipped" (not eligible or not selected), "params_before",
  /// "params_after", "flops_before", "flops_after" (over the selected layers),
  /// "calibration_samples", "seconds_calibration", "seconds_svd", and per selected layer
  /// "layer:<node>:<field>" for the numeric fields of `LowRankLayer` (see
  /// `lowrank_layers_from_stats`). Throws `RecipeError` for patterns that match nothing and
  /// `Error` for a budget that cannot be met, missing calibration data or executor.
  PassResult run(Graph& graph, PassContext& ctx) override;
  /// What the last `run` did, one record per Gemm/MatMul/Conv node with constant weights, in
  /// graph order.
  const std::vector<LowRankLayer>& layers() const { return layers_; }
  /// The options in use.
  const LowRankOptions& options() const { return options_; }

private:
  LowRankOptions options_;
  PassInfo info_;
  std::vector<LowRankLayer> layers_;
};

/// The per-layer records a `lowrank` run left in its stats ("layer:<node>:<field>" keys), with
/// the numeric fields filled (node, rows, cols, full_rank, rank, factorized, selected,
/// params_before/after, flops_before/after, energy_kept, output_error, whitened), sorted by
/// node name. For reports built from a `PassRecord`.
std::vector<LowRankLayer> lowrank_layers_from_stats(const Stats& stats);

/// Registers `lowrank` with `registry` (idempotent).
void register_lowrank_pass(PassRegistry& registry);

} // namespace shrink
