#pragma once
// Internals of `quantize` and `analyze-sensitivity`: the layers a graph offers, their
// calibration, and the rewrite into QDQ form for any chosen subset of layers. The rewrite works
// on any graph with the float graph's names (a clone), so the accuracy search and the
// sensitivity analysis can try many subsets after one calibration.

#include "shrink/compress/calibrate.h"
#include "shrink/compress/quantize.h"
#include "shrink/ir/graph.h"

#include <Eigen/Dense>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace shrink::quant_detail {

/// One Conv / Gemm / MatMul with a constant weight, as the quantizer sees it.
struct LayerInfo {
  std::string node;     ///< Node name.
  std::string op;       ///< "Conv", "Gemm" or "MatMul".
  std::string act;      ///< Name of its activation input.
  std::string weight;   ///< Name of its weight initializer.
  std::string bias;     ///< Name of its 1-D bias initializer (Conv, Gemm), or empty.
  int weight_axis = 0;  ///< The output-channel axis of the weight.
  bool k_major = false; ///< The weight is stored K x N (MatMul, Gemm transB=0).
  bool trans_a = false; ///< Gemm transA=1: the input rows are its columns.
  int64_t rows = 0;     ///< Output channels.
  int64_t cols = 0;     ///< Inputs per output channel (K, or Cin*kh*kw / group for Conv).
  bool eligible = false;
  bool selected = false;
  std::string reason; ///< Why not eligible or not selected.
  CalibMethod method = CalibMethod::minmax;
  /// The layer's output when it is one of two layer outputs summed by an `Add` (a projection
  /// shortcut) and the later of them in program order: quantizing it lets the other layer
  /// read it as an int8 residual. Empty otherwise.
  std::string residual;
  /// When the layer's output (after a constant bias `Add`) goes only into an activation named in
  /// `QuantizeOptions::table_ops` whose output only quantized layers read: the activation's input
  /// (quantized too, so the runtime computes the activation as a table) and its output. Empty
  /// otherwise.
  std::string table_input, table_output;
};

/// Calibration, planning and rewriting for one float graph.
class Quantizer {
public:
  /// Finds and selects the layers of `fp32` under `options`. Throws `RecipeError` for patterns
  /// that match no layer.
  Quantizer(const Graph& fp32, const QuantizeOptions& options);

  /// Every quantizable-looking layer in graph order.
  const std::vector<LayerInfo>& layers() const { return layers_; }
  /// Names of the selected layers, in graph order.
  std::vector<std::string> selected() const;

  /// Runs the calibration the mode needs (activation histograms, or Hessians for GPTQ) over
  /// `ctx.calibration` with `ctx.executor`. Returns the number of samples read.
  int64_t calibrate(const Graph& fp32, PassContext& ctx);

  /// Quantizes the layers named in `layers` in `g` (a clone of the float graph) and runs shape
  /// inference. Fills `records` (when given) for those layers.
  void apply(Graph& g, const std::set<std::string>& layers,
             std::map<std::string, QuantLayer>* records) const;

  /// The activation parameters chosen for each calibrated value.
  const std::map<std::string, ActivationQuant>& activation_params() const { return act_; }

  /// Empirical bias correction of the layers in `layers` that can take one (static mode; `Conv`,
  /// and `Gemm` with a 1-D or absent C): runs `fp32` and its quantized clone on the calibration
  /// data and adds each layer's per-channel mean output error to its bias shift, which `apply`
  /// subtracts from the bias. Uses the order of `options.bias_correction_order`. Returns the
  /// number of layers corrected. Needs `calibrate` to have run.
  int64_t correct_biases(const Graph& fp32, const std::set<std::string>& layers, PassContext& ctx);
  /// Forgets every bias shift.
  void clear_bias_shifts() { bias_shift_.clear(); }

private:
  void apply_static(Graph& g, const std::set<std::string>& layers,
                    std::map<std::string, QuantLayer>* records) const;
  void apply_weight_only(Graph& g, const std::set<std::string>& layers,
                         std::map<std::string, QuantLayer>* records) const;

  QuantizeOptions options_;
  std::vector<LayerInfo> layers_;
  std::map<std::string, ActivationQuant> act_;
  std::map<std::string, QuantRange> ranges_;
  std::map<std::string, CalibMethod> act_method_;
  std::map<std::string, Eigen::MatrixXd> hessians_;       // by layer name (X^T X of its input)
  std::map<std::string, std::vector<double>> bias_shift_; // by layer name, per output channel
};

/// The first `count` samples of `data` as one batch shaped for `graph`.
std::vector<Tensor> first_batch(const Graph& graph, const DataSource& data, int64_t count);

/// SQNR in dB of `test` against `reference` (equal shapes); 200 dB for an exact match.
double sqnr_or_exact(const Tensor& reference, const Tensor& test);

/// Evaluates `graph` on `ctx.eval` with `metric` and `ctx.executor`, on the first `limit`
/// samples when `limit >= 0`.
double eval_metric(const Graph& graph, PassContext& ctx, const std::string& metric, int64_t limit);

/// How much worse `value` is than `base` for `metric`: percentage points for accuracy, relative
/// percent for the loss-like metrics.
double metric_drop(const std::string& metric, double base, double value);

/// Quantizes the out x in matrix `w` symmetrically to `bits` per row, or per group of
/// `group_size` columns when > 0. With a Hessian `h` (in x in) the rounding is GPTQ's (damped by
/// `damp`); otherwise round to nearest. Returns the integers in `q` (out x in) and the scales in
/// `scales` (out x groups; one column when per row).
void quantize_matrix(const Eigen::MatrixXf& w, int bits, int64_t group_size,
                     const Eigen::MatrixXd* h, double damp, Eigen::MatrixXi& q,
                     Eigen::MatrixXf& scales);

} // namespace shrink::quant_detail

namespace shrink::quant_detail {

/// For every layer in `layers`: the SQNR in dB of the graph's first output on `inputs` when only
/// that layer is quantized, against the float graph. Runs `executor` once per layer.
std::vector<std::pair<std::string, double>> solo_output_sqnr(const Graph& fp32,
                                                             const Quantizer& quantizer,
                                                             const std::vector<std::string>& layers,
                                                             const std::vector<Tensor>& inputs,
                                                             Executor& executor);

} // namespace shrink::quant_detail
