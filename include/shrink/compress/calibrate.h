#pragma once
/// \file
/// Calibration for post-training quantization: streaming histograms of activations and the
/// range-selection methods `minmax`, `percentile`, `entropy` (KL divergence) and `mse`.
///
/// ```cpp
/// shrink::CalibrationOptions o;            // 512 samples in batches of 64
/// auto stats = shrink::calibrate_activations(graph, exec, *calib, {"conv1_in", "fc_in"}, o);
/// shrink::QuantRange r = shrink::choose_range(stats.at("conv1_in").histogram,
///                                             shrink::CalibMethod::entropy, /*symmetric=*/false);
/// ```
///
/// The data runs through an `Executor` batch by batch; each fetched activation is folded into a
/// fixed-size histogram (and, when asked, a per-channel absolute maximum) and dropped, so memory
/// does not grow with the number of calibration samples.

#include "shrink/core/tensor.h"
#include "shrink/ir/interfaces.h"
#include "shrink/pass/pass.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace shrink {

class Graph;

/// How an activation's quantization range is chosen from its calibration histogram.
enum class CalibMethod {
  minmax,     ///< The observed minimum and maximum.
  percentile, ///< The `percentile` / `100 - percentile` quantiles (outliers clipped).
  entropy,    ///< The clipping threshold whose quantized distribution has the least KL divergence.
  mse,        ///< The clipping range with the least expected squared quantization error.
};

/// "minmax", "percentile", "entropy" or "mse".
const char* calib_method_name(CalibMethod method);

/// Parses a method name; throws `RecipeError` naming the known methods for anything else.
CalibMethod parse_calib_method(const std::string& name);

/// A histogram of every value seen, over [-R, R] with `2 * kBinsPerSide` equal bins. R is a power
/// of two that doubles (merging bin pairs, which loses nothing) whenever a larger magnitude
/// arrives, so values can be added batch by batch without knowing the range in advance. The exact
/// minimum and maximum are kept beside the bins.
class Histogram {
public:
  /// Bins on each side of zero.
  static constexpr int kBinsPerSide = 2048;

  /// Adds `n` values (non-finite values are ignored).
  void add(const float* values, int64_t n);
  /// Adds every element of an f32 tensor.
  void add(const Tensor& values);

  /// Number of values added.
  int64_t count() const { return count_; }
  /// Smallest value added (0 before any).
  double min() const { return count_ ? min_ : 0.0; }
  /// Largest value added (0 before any).
  double max() const { return count_ ? max_ : 0.0; }
  /// R: the histogram covers [-R, R]; 0 while every value seen was 0.
  double half_range() const { return half_range_; }
  /// Width of one bin (R / kBinsPerSide).
  double bin_width() const { return half_range_ / kBinsPerSide; }
  /// Counts per bin, bin i covering [-R + i w, -R + (i + 1) w).
  const std::vector<uint64_t>& bins() const { return bins_; }

private:
  void grow_to(double magnitude);

  std::vector<uint64_t> bins_ = std::vector<uint64_t>(2 * kBinsPerSide, 0);
  double half_range_ = 0.0;
  uint64_t zeros_pending_ = 0; // zeros seen while R was still 0
  int64_t count_ = 0;
  double min_ = 0.0, max_ = 0.0;
};

/// A real-valued range [lo, hi] to quantize to.
struct QuantRange {
  float lo = 0.f; ///< Lower end (<= 0 after `quant_params_for_range`).
  float hi = 0.f; ///< Upper end (>= 0 after `quant_params_for_range`).
};

/// Chooses the range of `h` with `method`. `symmetric` selects a range [-T, T] for signed
/// symmetric quantization (s8, zero point 0); otherwise the range may be asymmetric (u8).
/// `percentile` (in (50, 100]) is used by `CalibMethod::percentile`. An empty histogram gives
/// [0, 0].
QuantRange choose_range(const Histogram& h, CalibMethod method, bool symmetric,
                        double percentile = 99.99);

/// Scale and zero point of a per-tensor activation.
struct ActivationQuant {
  float scale = 1.f;       ///< Real value of one step.
  int32_t zero_point = 0;  ///< The integer that represents 0.
  DType dtype = DType::u8; ///< u8 (asymmetric) or i8 (symmetric).
};

/// Parameters that cover `r` (widened to include 0): asymmetric u8 (zero point in [0, 255]) or
/// symmetric i8 (zero point 0). An empty range gets scale 1.
ActivationQuant quant_params_for_range(QuantRange r, DType dtype);

/// Options of `calibrate_activations`.
struct CalibrationOptions {
  int64_t samples = 512;   ///< Most samples read (>= 1).
  int64_t batch_size = 64; ///< Samples per executor run (>= 1).
  /// Values whose per-channel absolute maximum is wanted too (for SmoothQuant-style scaling); the
  /// channel is the last axis.
  std::vector<std::string> channel_absmax;
  ProgressFn progress; ///< Called after every batch; may be empty.
};

/// What calibration learned about one value.
struct ActivationStats {
  Histogram histogram;               ///< Every element of the value over the data.
  std::vector<float> channel_absmax; ///< max |x| per last-axis channel, when asked for.
};

/// Checks, before any work, that `data` fits `graph`: not empty, one input per graph input, each
/// of the graph input's dtype and of a per-sample shape that matches the graph input's known
/// dimensions (or has the same element count, for a flattening model). `who` names the caller in
/// the message (e.g. "pass 'quantize'"). Throws `Error` otherwise.
void check_calibration_data(const Graph& graph, const DataSource& data, const std::string& who);

/// Checks, before any work, that a pass can run `graph` on calibration data: `ctx.calibration`
/// and `ctx.executor` are set and the data fits the graph (`check_calibration_data`). `who`
/// names the caller and what it does (e.g. "pass 'lowrank' with whiten=true"). Throws `Error`
/// saying what is missing.
void require_calibration(const Graph& graph, const PassContext& ctx, const std::string& who);

/// The inputs of `batch` shaped for `graph`: reshaped to the graph input's per-sample shape
/// where only the layout differs. `check_calibration_data` must have accepted the data.
std::vector<Tensor> graph_inputs_for(const Graph& graph, const Batch& batch);

/// Runs the first `options.samples` samples of `data` through `executor` in batches, fetching
/// `names` (graph values), and accumulates their statistics. Only one batch of activations is
/// alive at a time. Throws `Error` for bad data (see `check_calibration_data`) or an unknown name.
std::map<std::string, ActivationStats> calibrate_activations(const Graph& graph, Executor& executor,
                                                             const DataSource& data,
                                                             const std::vector<std::string>& names,
                                                             const CalibrationOptions& options);

} // namespace shrink
