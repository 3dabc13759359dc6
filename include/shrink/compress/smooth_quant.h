#pragma once
/// \file
/// `smooth-quant`: SmoothQuant-style migration of activation outliers into weights, so that
/// per-tensor int8 activation ranges (the `quantize` pass) waste fewer levels on a few wide
/// channels.
///
/// Before:
/// ```
/// graph @main(%x: f32[N,T,64]) {
///   %g = const f32[64] random(seed=1)
///   %b = const f32[64] zeros
///   %wq = const f32[64,64] random(seed=2)
///   %wk = const f32[64,64] random(seed=3)
///   %h = LayerNormalization(%x, %g, %b) {axis=-1} : f32[N,T,64]
///   %q = MatMul(%h, %wq) : f32[N,T,64]
///   %k = MatMul(%h, %wk) : f32[N,T,64]
///   %y = Add(%q, %k) : f32[N,T,64]
///   return %y
/// }
/// ```
/// After `smooth-quant{alpha=0.5}` (calibrated with `PassContext::calibration`): the same graph
/// with new constants. Channel j of `%h` is divided by s_j (through `%g` and `%b`) and row j of
/// each consumer's weight is multiplied by s_j, so `%q`, `%k` and `%y` are unchanged:
/// ```
/// graph @main(%x: f32[N,T,64]) {
///   %g = const f32[64] hash(0x...)
///   %b = const f32[64] hash(0x...)
///   %wq = const f32[64,64] hash(0x...)
///   %wk = const f32[64,64] hash(0x...)
///   %h = LayerNormalization(%x, %g, %b) {axis=-1} : f32[N,T,64]
///   %q = MatMul(%h, %wq) : f32[N,T,64]
///   %k = MatMul(%h, %wk) : f32[N,T,64]
///   %y = Add(%q, %k) : f32[N,T,64]
///   return %y
/// }
/// ```
///
/// A **group** is one activation X (channel = last axis, K channels) with its **consumers**, the
/// layers that read it as their input: `MatMul(X, W)` with a constant f32 2-D W (K x N) and
/// `Gemm(X, B)` with a constant f32 B and `transA=0`. For each channel j, with
/// `a_j = max|X_j|` over the calibration data and `w_j = max |W_j,:|` over every consumer,
///
///     s_j = a_j^alpha / w_j^(1 - alpha)        (s_j = 1 where a_j or w_j is 0;
///                                               clamped to [1e-4, 1e4])
///
/// X's channel j is divided by s_j in its **producer** and row j (input channel j) of every
/// consumer's weight is multiplied by s_j. Producers that can absorb 1/s:
/// - `LayerNormalization` with constant f32 scale (and bias) whose last dimension is K: both are
///   divided;
/// - `Gemm` with a constant f32 B and a bias C that is absent or a constant of K elements: the
///   output columns of B and C are divided;
/// - `MatMul` with a constant f32 2-D right operand: its columns are divided;
/// - `Add(layer, bias)` where `layer` is such a `MatMul` or `Gemm` read only by the `Add` and
///   `bias` a constant of K elements (the ONNX export of a linear layer over 3-D input): both.
/// A Conv producer does not qualify: MatMul and Gemm contract over the last axis, which for a
/// convolution's output is a spatial one.
///
/// A group is smoothed only when every reader of X is a consumer (a `Shape` reader is allowed:
/// it sees only the shape) and X is not a graph output, so the float function is unchanged up to
/// rounding. A weight or bias that other nodes share gets a private copy first. `include` /
/// `exclude` are glob patterns over the node names of a group's producer and consumers (a group
/// is smoothed when, with `include`, one of its names matches, and none matches `exclude`); a
/// pattern that matches no name of a smoothable group is a `RecipeError`.
///
/// Calibration streams `samples` samples of `PassContext::calibration` through
/// `PassContext::executor` in batches of `batch_size`, keeping only the per-channel absolute
/// maxima (compress/calibrate.h). No calibration data or no executor is an `Error`; data of the
/// wrong dtype or shape too, before any work. A graph with no smoothable group is left unchanged
/// with a warning.

#include "shrink/pass/pass.h"

#include <cstdint>
#include <string>
#include <vector>

namespace shrink {

class PassRegistry;

/// Options of `smooth-quant` (the pipeline keys have the same names).
struct SmoothQuantOptions {
  double alpha = 0.5;               ///< Migration strength in [0, 1]: 0 keeps X, 1 flattens X.
  int64_t samples = 512;            ///< Calibration samples read (>= 1).
  int64_t batch_size = 64;          ///< Calibration samples per executor run (>= 1).
  std::vector<std::string> include; ///< Glob patterns; a group needs one match (empty: all).
  std::vector<std::string> exclude; ///< Glob patterns; a group with a match is left alone.
};

/// What the pass did with one activation and the layers that read it.
struct SmoothGroup {
  std::string value;                  ///< The activation X.
  std::string producer;               ///< The node that absorbs 1/s (empty for a graph input).
  std::string producer_op;            ///< "LayerNormalization", "Gemm", "MatMul", "MatMul+Add"...
  std::vector<std::string> consumers; ///< The MatMul / Gemm nodes whose weights absorb s.
  bool smoothed = false;              ///< True when the constants were rewritten.
  std::string reason;                 ///< Why not smoothed; empty when smoothed.
  int64_t channels = 0;               ///< K.
  /// Smallest and largest per-channel max|X_j| before and after (the after values are exact:
  /// channel j is X_j / s_j). Their ratio is the outlier spread a per-tensor range must cover.
  double act_min_before = 0, act_max_before = 0;
  double act_min_after = 0, act_max_after = 0; ///< See `act_min_before`.
  double weight_max_before = 0;                ///< max |W| over the consumers, before.
  double weight_max_after = 0;                 ///< max |W| over the consumers, after.
  double scale_min = 0, scale_max = 0;         ///< Range of s.
};

/// The `smooth-quant` pass; see the file comment.
class SmoothQuantPass : public Pass {
public:
  /// Builds the pass with typed options; invalid values are a `RecipeError`.
  explicit SmoothQuantPass(const SmoothQuantOptions& options);
  /// Builds the pass from raw options; unknown keys and invalid values are a `RecipeError`.
  explicit SmoothQuantPass(const Options& options = {});
  const PassInfo& info() const override;
  /// Smooths the graph. Stats: "groups_smoothed", "groups_skipped", "layers_smoothed",
  /// "calibration_samples", "seconds_calibration", "seconds_rewrite" and, per smoothed group,
  /// "group:<producer>:<field>" for `channels`, `consumers` (a count) and the numeric fields of
  /// `SmoothGroup`. Throws `Error` for missing or bad calibration data and a missing executor.
  PassResult run(Graph& graph, PassContext& ctx) override;
  /// One record per candidate group of the last `run` (smoothed or not), in graph order.
  const std::vector<SmoothGroup>& groups() const { return groups_; }
  /// The options in use.
  const SmoothQuantOptions& options() const { return options_; }

private:
  SmoothQuantOptions options_;
  PassInfo info_;
  std::vector<SmoothGroup> groups_;
};

/// Registers `smooth-quant` with `registry` (idempotent).
void register_smooth_quant_pass(PassRegistry& registry);

} // namespace shrink
