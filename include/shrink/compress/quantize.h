#pragma once
/// \file
/// `quantize`: post-training quantization to ONNX QDQ form, static int8 or weight-only int8/int4.
///
/// Before:
/// ```
/// graph @main(%x: f32[N,4,8,8]) {
///   %w = const f32[8,4,3,3] random(seed=1)
///   %b = const f32[8] zeros
///   %c = Conv(%x, %w, %b) {pads=[1,1,1,1]} : f32[N,8,8,8]
///   %y = Relu(%c) : f32[N,8,8,8]
///   return %y
/// }
/// ```
/// After `quantize` (static int8, calibrated with `PassContext::calibration`):
/// ```
/// graph @main(%x: f32[N,4,8,8]) {
///   %x_scale = const f32[] [...]
///   %x_zp = const u8[] [...]
///   %w_q = const i8[8,4,3,3] hash(0x...)
///   %w_scale = const f32[8] [...]
///   %w_zp = const i8[8] [0, 0, 0, 0, 0, 0, 0, 0]
///   %b_q = const i32[8] [0, 0, 0, 0, 0, 0, 0, 0]
///   ...
///   %x_q = QuantizeLinear(%x, %x_scale, %x_zp) : u8[N,4,8,8]
///   %x_dq = DequantizeLinear(%x_q, %x_scale, %x_zp) : f32[N,4,8,8]
///   %w_dq = DequantizeLinear(%w_q, %w_scale, %w_zp) {axis=0} : f32[8,4,3,3]
///   %b_dq = DequantizeLinear(%b_q, %b_scale, %b_zp) {axis=0} : f32[8]
///   %c = Conv(%x_dq, %w_dq, %b_dq) {pads=[1,1,1,1]} : f32[N,8,8,8]
///   %y = Relu(%c) : f32[N,8,8,8]
///   return %y
/// }
/// ```
///
/// (tests/compress/quantize_test.cpp checks this form; the golden file
/// tests/ir/golden/quantize.mir checks the weight-only form, which needs no calibration data.)
///
/// **Static int8** (`mode=static`, the default) quantizes every `Conv`, every `Gemm` with a
/// constant B and every `MatMul` with a constant 2-D right operand: weights become s8
/// initializers with one symmetric scale per output channel (zero point 0, values in
/// [-127, 127]) read through `DequantizeLinear`; a 1-D bias becomes i32 with scale
/// `s_x * s_w[c]`; the layer's activation input gets `QuantizeLinear -> DequantizeLinear` with
/// per-tensor parameters (`activations=u8`, asymmetric, or `s8`, symmetric) chosen from
/// calibration histograms (`method`, see compress/calibrate.h). Every consumer of a quantized
/// activation reads the dequantized value except layers left in float and ops in `float_ops`
/// (default `Softmax`, `LayerNormalization`), so that the oneDNN runtime (docs/runtime.md) runs
/// each layer with its activation, residual `Add` and requantization as one int8 primitive.
///
/// **Weight-only** (`mode=weight-only`) quantizes the constant weights of `Gemm` and `MatMul`
/// layers with at least `min_elements` weights to `bits=8` or `bits=4`, symmetric, per output
/// channel (`group_size=0`) or per group of `group_size` (32, 64 or 128) consecutive input
/// elements (`DequantizeLinear` with `block_size`, ONNX opset 21). The IR has no 4-bit type:
/// int4 values are stored in i8 initializers restricted to [-8, 7]. Activations stay f32. With
/// `gptq=true` the weights are rounded by GPTQ: each layer's input Hessian `X^T X` is
/// accumulated over the calibration data and the rounding error of every column is spread over
/// the columns not yet quantized.
///
/// **Bias correction** (`bias_correction=true`, static mode): quantization errors that do not
/// average out shift the mean of a layer's output per channel, and the shifts add up through the
/// network. After the layers are quantized, the float graph and the quantized graph run on the
/// same calibration data (batch by batch; only per-channel sums are kept), and each quantized
/// `Conv` and `Gemm` gets the mean of (quantized output - float output) per output channel
/// subtracted from its float bias before the bias is quantized (a zero bias is created for a
/// layer without one). `bias_correction_order=sequential` (the default) corrects the layers one
/// at a time in graph order, each measured with the earlier ones corrected; `joint` measures all
/// layers once. `MatMul` layers (no bias input) and a `Gemm` whose C is not a 1-D vector are not
/// corrected. The empirical variant of Nagel et al. 2019 (section 4.2). With `max_drop`, every
/// trial set of int8 layers is corrected anew (a correction measured behind a layer that is
/// then left in float would be wrong).
///
/// **Layer selection**: `include` / `exclude` are glob patterns over node names (a pattern that
/// matches no quantizable layer is a `RecipeError`); `keep_last=true` leaves the last layer in
/// program order (the classifier) in float; `methods` overrides the calibration method for the
/// activations read by matching layers (`"pattern=method"`, first match wins).
///
/// **Accuracy budget**: with `max_drop=d` (needs `PassContext::eval`), the pass evaluates the
/// float and the quantized graph with `evaluate` (`metric`, default accuracy) and, while the
/// metric dropped by more than `d`, leaves the most sensitive remaining layer in float (layers
/// ranked by the SQNR of the graph output when only that layer is quantized). For accuracy the
/// drop is in percentage points; for loss-like metrics (cross-entropy, perplexity,
/// bits-per-char) it is the relative increase in percent. The layers kept in float are named in
/// a warning and in the records.
///
/// A graph without a quantizable layer is left unchanged with a warning. Calibration data of the
/// wrong dtype or shape, or an empty calibration set, is an `Error` before any work.

#include "shrink/compress/calibrate.h"
#include "shrink/pass/pass.h"

#include <cstdint>
#include <string>
#include <vector>

namespace shrink {

class PassRegistry;

/// Options of `quantize` (the pipeline keys have the same names).
struct QuantizeOptions {
  std::string mode = "static";      ///< "static" (int8 weights and activations) or "weight-only".
  std::string activations = "u8";   ///< Activation type of static mode: "u8" or "s8".
  std::string method = "minmax";    ///< Default calibration method (calibrate.h).
  std::vector<std::string> methods; ///< "pattern=method" overrides, by layer name.
  double percentile = 99.99;        ///< For `method=percentile`, in (50, 100].
  int64_t bits = 8;                 ///< Weight-only: 8 or 4.
  int64_t group_size = 0;           ///< Weight-only: 0 (per channel), 32, 64 or 128.
  bool gptq = false;                ///< Weight-only: GPTQ rounding with calibration Hessians.
  double damp = 0.01;               ///< GPTQ: diagonal damping relative to the mean diagonal.
  int64_t min_elements = 0;         ///< Weight-only: smallest weight quantized.
  int64_t samples = 512;            ///< Calibration samples read (>= 1).
  int64_t batch_size = 64;          ///< Calibration samples per executor run (>= 1).
  std::vector<std::string> include; ///< Glob patterns of layer names to quantize; empty: all.
  std::vector<std::string> exclude; ///< Glob patterns of layer names to keep in float.
  std::vector<std::string> float_ops = {"Softmax", "LayerNormalization"}; ///< Read float inputs.
  bool keep_last = false;    ///< Keep the last quantizable layer (the classifier) in float.
  bool quantize_bias = true; ///< Static mode: store 1-D biases as i32.
  /// Static mode: when an `Add` sums the outputs of two layers (a projection shortcut), also
  /// quantize the later layer's output, so that the other layer reads an int8 residual.
  bool quantize_residuals = true;
  /// Static mode: activations computed as int8 tables. When a quantized layer's output (after a
  /// constant bias `Add`) goes only into one of these ops and the op's output only into quantized
  /// layers, the op's input is quantized too, so the runtime maps each int8 input to its int8
  /// output through a 256-entry table instead of evaluating the op in float inside the layer.
  /// Empty: every activation stays fused in float.
  std::vector<std::string> table_ops = {"Gelu", "Sigmoid", "Tanh", "Erf"};
  double max_drop = -1;            ///< Allowed metric drop (see the file comment); < 0: no check.
  std::string metric = "accuracy"; ///< Metric of `max_drop` (ir/evaluate.h names).
  int64_t eval_samples = -1;       ///< Evaluate on the first K eval samples (-1: all).
  bool measure_sqnr = true;        ///< Measure each layer's output SQNR on one calibration batch.
  /// Static mode: empirical bias correction (see the file comment) of every quantized `Conv` and
  /// `Gemm` on the calibration data.
  bool bias_correction = false;
  /// "sequential": correct the layers one at a time in graph order, each measured with the
  /// earlier ones already corrected (one float pass over the calibration data, then one pass of
  /// the quantized graph cut after each layer); "joint": measure every layer in one float and one
  /// quantized pass and correct them all at once (faster, but it over-corrects: see
  /// docs/quantization.md).
  std::string bias_correction_order = "sequential";
};

/// What the pass did with one quantizable layer.
struct QuantLayer {
  std::string node;              ///< The layer's node name.
  std::string op;                ///< "Conv", "Gemm" or "MatMul".
  bool quantized = false;        ///< True when its weight (and input, in static mode) is quantized.
  std::string reason;            ///< Why it stayed in float; empty when quantized.
  int weight_bits = 32;          ///< 8, 4, or 32 for float.
  int64_t group_size = 0;        ///< Weight group size; 0 per output channel.
  bool gptq = false;             ///< True when GPTQ rounded the weight.
  std::string activation;        ///< "u8", "i8", or "f32" (weight-only and float layers).
  std::string method;            ///< Calibration method of its input activation (static mode).
  double weight_scale_min = 0;   ///< Smallest weight scale.
  double weight_scale_max = 0;   ///< Largest weight scale.
  double act_scale = 0;          ///< Input activation scale (static mode).
  int32_t act_zero_point = 0;    ///< Input activation zero point (static mode).
  double act_lo = 0, act_hi = 0; ///< The calibrated input range.
  double weight_sqnr_db = 0;     ///< SQNR of the quantized weight against the float one.
  /// SQNR of the layer's output in the quantized graph against the float graph on one
  /// calibration batch (errors of earlier layers included); 0 when not measured.
  double output_sqnr_db = 0;
  /// Bias correction: the largest |shift| subtracted from the layer's float bias (before it is
  /// quantized); 0 without correction.
  double bias_shift_max = 0;
  /// The activation after the layer that runs as an int8 table (`table_ops`), e.g. "Gelu";
  /// empty when there is none.
  std::string table_op;
};

/// The `quantize` pass; see the file comment.
class QuantizePass : public Pass {
public:
  /// Builds the pass with typed options; invalid values are a `RecipeError`.
  explicit QuantizePass(const QuantizeOptions& options);
  /// Builds the pass from raw options; unknown keys and invalid values are a `RecipeError`.
  explicit QuantizePass(const Options& options = {});
  const PassInfo& info() const override;
  /// Quantizes the graph. Stats: "layers_quantized", "layers_float", "calibration_samples",
  /// "seconds_calibration", "seconds_rewrite", with `max_drop` "metric_float",
  /// "metric_quantized", "layers_float_for_accuracy", and per layer "layer:<node>:<field>" for
  /// the numeric fields of `QuantLayer` (see `quantize_layers_from_stats`); with
  /// `bias_correction` also "bias_corrected_layers" and "seconds_bias_correction". Throws `Error`
  /// for missing or bad calibration data and a missing executor.
  PassResult run(Graph& graph, PassContext& ctx) override;
  /// One record per quantizable layer of the last `run`, in graph order.
  const std::vector<QuantLayer>& layers() const { return layers_; }
  /// The options in use.
  const QuantizeOptions& options() const { return options_; }

private:
  QuantizeOptions options_;
  PassInfo info_;
  std::vector<QuantLayer> layers_;
};

/// Reads `QuantizeOptions` from raw options with `reader` (shared by `quantize` and
/// `analyze-sensitivity`); does not call `finish()`. Throws `RecipeError` for invalid values.
QuantizeOptions read_quantize_options(OptionReader& reader);

/// The per-layer records a `quantize` run left in its stats ("layer:<node>:<field>"), numeric
/// fields filled, sorted by node name. The `method` field is restored from its index.
std::vector<QuantLayer> quantize_layers_from_stats(const Stats& stats);

/// Registers `quantize` with `registry` (idempotent).
void register_quantize_pass(PassRegistry& registry);

} // namespace shrink
