// `analyze-sensitivity` and the one-layer-at-a-time SQNR ranking that `quantize{max_drop}` uses.
#include "shrink/compress/sensitivity.h"

#include "quantize_internal.h"

#include "shrink/core/error.h"
#include "shrink/ir/evaluate.h"
#include "shrink/pass/layer_stats.h"
#include "shrink/pass/registry.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace shrink {

using namespace quant_detail;

namespace quant_detail {

std::vector<std::pair<std::string, double>> solo_output_sqnr(const Graph& fp32,
                                                             const Quantizer& quantizer,
                                                             const std::vector<std::string>& layers,
                                                             const std::vector<Tensor>& inputs,
                                                             Executor& executor) {
  const Tensor ref = executor.run(fp32, inputs).at(0);
  std::vector<std::pair<std::string, double>> out;
  for (const std::string& name : layers) {
    Graph g = fp32.clone();
    quantizer.apply(g, {name}, nullptr);
    out.emplace_back(name, sqnr_or_exact(ref, executor.run(g, inputs).at(0)));
  }
  return out;
}

} // namespace quant_detail

namespace {

const char* const kSummary = "Measures, per layer, the output SQNR and the task metric when only "
                             "that layer is quantized; does not change the graph.";

SensitivityOptions read_options(const Options& raw) {
  OptionReader r("analyze-sensitivity", raw);
  SensitivityOptions o;
  o.quantize = read_quantize_options(r);
  o.metric = r.get_string("metric", o.metric);
  o.eval_samples = r.get_int("eval_samples", o.eval_samples);
  o.sqnr_samples = r.get_int("sqnr_samples", o.sqnr_samples);
  r.finish();
  Metric::parse(o.metric);
  if (o.sqnr_samples < 1)
    throw RecipeError("pass 'analyze-sensitivity': option 'sqnr_samples' must be at least 1");
  // Each layer is measured quantized alone, with the plain rounding: these two quantize options
  // act on the whole quantized graph and would be silently ignored here.
  if (o.quantize.bias_correction)
    throw RecipeError("pass 'analyze-sensitivity': option 'bias_correction' is not supported "
                      "(each layer is measured quantized alone, without bias correction); give "
                      "it to 'quantize' instead");
  if (o.quantize.max_drop >= 0)
    throw RecipeError("pass 'analyze-sensitivity': option 'max_drop' belongs to 'quantize', "
                      "which uses this analysis to meet it");
  return o;
}

std::string fmt(double v, const char* f = "%.4g") {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

} // namespace

SensitivityReport analyze_sensitivity(const Graph& graph, PassContext& ctx,
                                      const SensitivityOptions& options) {
  if (!ctx.executor)
    throw Error("analyze-sensitivity needs an executor (PassContext::executor): none given");
  Quantizer quantizer(graph, options.quantize);
  quantizer.calibrate(graph, ctx);
  const DataSource* data = ctx.calibration ? ctx.calibration : ctx.eval;
  if (!data)
    throw Error("analyze-sensitivity needs calibration or evaluation data to measure SQNR: none "
                "given");
  check_calibration_data(graph, *data, "analyze-sensitivity");
  const std::vector<std::string> chosen = quantizer.selected();
  const std::vector<Tensor> inputs = first_batch(graph, *data, options.sqnr_samples);
  SensitivityReport report;
  const auto sqnr = solo_output_sqnr(graph, quantizer, chosen, inputs, *ctx.executor);
  if (ctx.eval) {
    report.metric = options.metric;
    report.metric_float = eval_metric(graph, ctx, options.metric, options.eval_samples);
  }
  for (size_t i = 0; i < chosen.size(); ++i) {
    LayerSensitivity s;
    s.node = chosen[i];
    s.op = graph.find_node(s.node)->op();
    s.sqnr_db = sqnr[i].second;
    if (ctx.eval) {
      Graph g = graph.clone();
      quantizer.apply(g, {s.node}, nullptr);
      s.has_metric = true;
      s.metric = eval_metric(g, ctx, options.metric, options.eval_samples);
      s.drop = metric_drop(options.metric, report.metric_float, s.metric);
    }
    if (ctx.progress)
      ctx.progress(static_cast<int64_t>(i + 1), static_cast<int64_t>(chosen.size()),
                   "analyze-sensitivity: " + s.node);
    report.layers.push_back(s);
  }
  std::stable_sort(
      report.layers.begin(), report.layers.end(),
      [](const LayerSensitivity& a, const LayerSensitivity& b) { return a.sqnr_db < b.sqnr_db; });
  return report;
}

std::string SensitivityReport::str() const {
  std::ostringstream os;
  os << "| layer | op | output SQNR (dB) |" << (metric.empty() ? "" : " " + metric + " | drop |")
     << "\n|---|---|---:|" << (metric.empty() ? "" : "---:|---:|") << "\n";
  for (const LayerSensitivity& l : layers) {
    os << "| " << l.node << " | " << l.op << " | " << fmt(l.sqnr_db, "%.1f") << " |";
    if (!metric.empty()) os << " " << fmt(l.metric) << " | " << fmt(l.drop, "%.2f") << " |";
    os << "\n";
  }
  return os.str();
}

AnalyzeSensitivityPass::AnalyzeSensitivityPass(const SensitivityOptions& options)
    : options_(options) {
  info_ = PassInfo{"analyze-sensitivity", kSummary, {"shapes"}, {}, {}, {}};
  info_.needs.calibration_data = options_.quantize.mode == "static" || options_.quantize.gptq;
}

AnalyzeSensitivityPass::AnalyzeSensitivityPass(const Options& options)
    : AnalyzeSensitivityPass(read_options(options)) {}

const PassInfo& AnalyzeSensitivityPass::info() const {
  return info_;
}

PassResult AnalyzeSensitivityPass::run(Graph& graph, PassContext& ctx) {
  PassResult result;
  report_ = analyze_sensitivity(graph, ctx, options_);
  if (report_.layers.empty())
    result.warnings.push_back("the graph has no quantizable layer (Conv, Gemm or MatMul with a "
                              "constant weight) selected");
  if (!ctx.eval)
    result.warnings.push_back("no evaluation data (PassContext::eval): only SQNR was measured");
  Stats& s = result.stats;
  if (!report_.metric.empty()) s["metric_float"] = report_.metric_float;
  int rank = 0;
  for (const LayerSensitivity& l : report_.layers) {
    const std::string p = layer_stat_key(l.node, "");
    s[p + "rank"] = rank++;
    s[p + "sqnr_db"] = l.sqnr_db;
    if (l.has_metric) {
      s[p + "metric"] = l.metric;
      s[p + "drop"] = l.drop;
    }
    if (ctx.log)
      *ctx.log << "analyze-sensitivity: " << l.node << " (" << l.op << "): output SQNR "
               << fmt(l.sqnr_db, "%.1f") << " dB"
               << (l.has_metric ? ", " + report_.metric + " " + fmt(l.metric) : "") << "\n";
  }
  s["layers"] = static_cast<double>(report_.layers.size());
  return result;
}

std::vector<LayerSensitivity> sensitivity_from_stats(const Stats& stats) {
  std::map<std::string, std::pair<double, LayerSensitivity>> by_node;
  for_each_layer_stat(stats, [&](const std::string& node, const std::string& field, double value) {
    auto& [rank, l] = by_node[node];
    l.node = node;
    if (field == "rank")
      rank = value;
    else if (field == "sqnr_db")
      l.sqnr_db = value;
    else if (field == "metric")
      l.metric = value, l.has_metric = true;
    else if (field == "drop")
      l.drop = value;
  });
  std::vector<std::pair<double, LayerSensitivity>> v;
  for (auto& [node, e] : by_node)
    v.push_back(e);
  std::stable_sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.first < b.first; });
  std::vector<LayerSensitivity> out;
  for (auto& e : v)
    out.push_back(e.second);
  return out;
}

SHRINK_REGISTER_PASS(register_analyze_sensitivity_pass, AnalyzeSensitivityPass,
                     "analyze-sensitivity", kSummary);

} // namespace shrink
