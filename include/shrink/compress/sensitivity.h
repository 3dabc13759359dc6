#pragma once
/// \file
/// `analyze-sensitivity`: how much each layer suffers from quantization on its own.
///
/// The pass does not change the graph. It calibrates once (as `quantize` would, with the same
/// options), then quantizes one layer at a time and measures the SQNR of the graph's first
/// output against the float graph on one calibration batch and, when `PassContext::eval` is
/// given, the task metric (`evaluate`) with only that layer quantized.
///
/// ```
/// analyze-sensitivity{metric=accuracy,eval_samples=2000}
/// ```
/// reports, per layer, "layer:<node>:sqnr_db", "layer:<node>:metric" and "layer:<node>:drop"
/// (see `sensitivity_from_stats`), plus "metric_float". `quantize{max_drop=...}` uses the same
/// per-layer SQNR ranking to decide which layers to keep in float.

#include "shrink/compress/quantize.h"
#include "shrink/pass/pass.h"

#include <string>
#include <vector>

namespace shrink {

class PassRegistry;

/// The sensitivity of one layer.
struct LayerSensitivity {
  std::string node;        ///< The layer's node name.
  std::string op;          ///< "Conv", "Gemm" or "MatMul".
  double sqnr_db = 0;      ///< SQNR of the graph output with only this layer quantized.
  bool has_metric = false; ///< True when the metric was measured.
  double metric = 0;       ///< The metric with only this layer quantized.
  double drop = 0;         ///< Drop against the float graph (quantize.h defines the units).
};

/// What `analyze_sensitivity` found.
struct SensitivityReport {
  std::string metric;                   ///< The metric's name; empty when not measured.
  double metric_float = 0;              ///< The float graph's metric.
  std::vector<LayerSensitivity> layers; ///< Most sensitive (lowest SQNR) first.
  /// A Markdown table of the layers.
  std::string str() const;
};

/// Options of `analyze_sensitivity` beyond the quantization options.
struct SensitivityOptions {
  QuantizeOptions quantize;        ///< How each layer is quantized (mode, method, ...).
  std::string metric = "accuracy"; ///< Task metric (ir/evaluate.h names).
  int64_t eval_samples = -1;       ///< Evaluate on the first K samples (-1: all).
  int64_t sqnr_samples = 64;       ///< Calibration samples in the SQNR batch.
};

/// Measures every selected layer of `graph` (not changed). Needs `ctx.executor` and
/// `ctx.calibration` (static mode or GPTQ); measures the metric when `ctx.eval` is set.
SensitivityReport analyze_sensitivity(const Graph& graph, PassContext& ctx,
                                      const SensitivityOptions& options);

/// The `analyze-sensitivity` pass; see the file comment. Accepts every `quantize` option plus
/// `metric`, `eval_samples`, `sqnr_samples`.
class AnalyzeSensitivityPass : public Pass {
public:
  /// Builds the pass from typed options.
  explicit AnalyzeSensitivityPass(const SensitivityOptions& options);
  /// Builds the pass from raw options; unknown keys are a `RecipeError`.
  explicit AnalyzeSensitivityPass(const Options& options = {});
  const PassInfo& info() const override;
  /// Analyzes the graph without changing it (see the file comment for the stats).
  PassResult run(Graph& graph, PassContext& ctx) override;
  /// The report of the last run.
  const SensitivityReport& report() const { return report_; }

private:
  SensitivityOptions options_;
  PassInfo info_;
  SensitivityReport report_;
};

/// The per-layer records an `analyze-sensitivity` run left in its stats, most sensitive first.
std::vector<LayerSensitivity> sensitivity_from_stats(const Stats& stats);

/// Registers `analyze-sensitivity` with `registry` (idempotent).
void register_analyze_sensitivity_pass(PassRegistry& registry);

} // namespace shrink
