// The `quantize` pass: options, the accuracy-budget search, records and statistics. The
// quantizer itself (calibration, GPTQ, the QDQ rewrite) is in quantize_apply.cpp.
#include "shrink/compress/quantize.h"

#include "compress_util.h"
#include "quantize_internal.h"

#include "shrink/core/error.h"
#include "shrink/ir/evaluate.h"
#include "shrink/ir/op_table.h"
#include "shrink/pass/layer_stats.h"
#include "shrink/pass/registry.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ostream>

namespace shrink {

using namespace quant_detail;
using namespace compress_util;

namespace {

const char* const kSummary = "Post-training quantization to ONNX QDQ form: static int8 with "
                             "calibrated activations, or weight-only int8/int4 (GPTQ).";

[[noreturn]] void bad_option(const std::string& key, const std::string& what) {
  throw RecipeError("pass 'quantize': option '" + key + "' " + what);
}

void validate(const QuantizeOptions& o) {
  auto one_of = [](const std::string& key, const std::string& v,
                   const std::vector<std::string>& allowed) {
    if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return;
    std::string list;
    for (const std::string& a : allowed)
      list += (list.empty() ? "" : ", ") + a;
    bad_option(key, "is '" + v + "'; allowed values: " + list);
  };
  one_of("mode", o.mode, {"static", "weight-only"});
  one_of("activations", o.activations, {"u8", "s8"});
  parse_calib_method(o.method);
  if (!(o.percentile > 50 && o.percentile <= 100))
    bad_option("percentile", "must be in (50, 100], got " + num(o.percentile));
  if (o.bits != 8 && o.bits != 4) bad_option("bits", "must be 8 or 4, got " + num(o.bits));
  if (o.group_size != 0 && o.group_size != 32 && o.group_size != 64 && o.group_size != 128)
    bad_option("group_size", "must be 0 (per channel), 32, 64 or 128, got " + num(o.group_size));
  if (o.mode == "static" && (o.bits != 8 || o.group_size != 0 || o.gptq))
    bad_option(o.bits != 8         ? "bits"
               : o.group_size != 0 ? "group_size"
                                   : "gptq",
               "applies to mode=weight-only; static mode uses int8 per-channel weights");
  if (!(o.damp >= 0) || !std::isfinite(o.damp))
    bad_option("damp", "must be a number >= 0, got " + num(o.damp));
  if (o.samples < 1) bad_option("samples", "must be at least 1, got " + num(o.samples));
  if (o.batch_size < 1) bad_option("batch_size", "must be at least 1, got " + num(o.batch_size));
  if (o.min_elements < 0) bad_option("min_elements", "must not be negative");
  if (o.max_drop >= 0) Metric::parse(o.metric);
  for (const std::string& op : o.table_ops)
    if (!is_unary_elementwise(op))
      bad_option("table_ops", "names '" + op +
                                  "', which is not a unary element-wise op (Gelu, Sigmoid, Tanh, "
                                  "Erf, Exp, HardSwish, ... )");
  one_of("bias_correction_order", o.bias_correction_order, {"sequential", "joint"});
  if (o.bias_correction && o.mode != "static")
    bad_option("bias_correction", "applies to mode=static (weight-only layers keep float "
                                  "activations and have no quantized bias to correct)");
}

/// The index of a method name, stored in the numeric stats.
double method_index(const std::string& name) {
  for (int i = 0; i < 4; ++i)
    if (name == calib_method_name(static_cast<CalibMethod>(i))) return i;
  return -1;
}

void write_stats(const QuantLayer& r, Stats& s) {
  const std::string p = layer_stat_key(r.node, "");
  s[p + "quantized"] = r.quantized ? 1 : 0;
  s[p + "weight_bits"] = r.weight_bits;
  s[p + "group_size"] = static_cast<double>(r.group_size);
  s[p + "gptq"] = r.gptq ? 1 : 0;
  s[p + "act_bits"] = r.activation == "f32" || r.activation.empty() ? 32 : 8;
  s[p + "act_signed"] = r.activation == "i8" ? 1 : 0;
  s[p + "method"] = method_index(r.method);
  s[p + "weight_scale_min"] = r.weight_scale_min;
  s[p + "weight_scale_max"] = r.weight_scale_max;
  s[p + "act_scale"] = r.act_scale;
  s[p + "act_zero_point"] = r.act_zero_point;
  s[p + "act_lo"] = r.act_lo;
  s[p + "act_hi"] = r.act_hi;
  s[p + "weight_sqnr_db"] = r.weight_sqnr_db;
  s[p + "output_sqnr_db"] = r.output_sqnr_db;
  s[p + "bias_shift_max"] = r.bias_shift_max;
  s[p + "output_table"] = r.table_op.empty() ? 0 : 1;
}

} // namespace

QuantizeOptions read_quantize_options(OptionReader& r) {
  QuantizeOptions o;
  o.mode = r.get_string("mode", o.mode, {"static", "weight-only"});
  o.activations = r.get_string("activations", o.activations, {"u8", "s8"});
  o.method = r.get_string("method", o.method, {"minmax", "percentile", "entropy", "mse"});
  o.methods = r.get_list("methods");
  o.percentile = r.get_double("percentile", o.percentile);
  o.bits = r.get_int("bits", o.bits);
  o.group_size = r.get_int("group_size", o.group_size);
  o.gptq = r.get_bool("gptq", o.gptq);
  o.damp = r.get_double("damp", o.damp);
  o.min_elements = r.get_int("min_elements", o.min_elements);
  o.samples = r.get_int("samples", o.samples);
  o.batch_size = r.get_int("batch_size", o.batch_size);
  o.include = r.get_list("include");
  o.exclude = r.get_list("exclude");
  o.float_ops = r.get_list("float_ops", o.float_ops);
  o.keep_last = r.get_bool("keep_last", o.keep_last);
  o.quantize_bias = r.get_bool("quantize_bias", o.quantize_bias);
  o.quantize_residuals = r.get_bool("quantize_residuals", o.quantize_residuals);
  o.table_ops = r.get_list("table_ops", o.table_ops);
  o.max_drop = r.get_double("max_drop", o.max_drop);
  o.metric = r.get_string("metric", o.metric);
  o.eval_samples = r.get_int("eval_samples", o.eval_samples);
  o.measure_sqnr = r.get_bool("measure_sqnr", o.measure_sqnr);
  o.bias_correction = r.get_bool("bias_correction", o.bias_correction);
  o.bias_correction_order =
      r.get_string("bias_correction_order", o.bias_correction_order, {"sequential", "joint"});
  validate(o);
  return o;
}

QuantizePass::QuantizePass(const QuantizeOptions& options) : options_(options) {
  validate(options_);
  info_ = PassInfo{"quantize", kSummary, {"shapes"}, {}, {}, {}};
  info_.needs.calibration_data = options_.mode == "static" || options_.gptq;
  info_.needs.eval_data = options_.max_drop >= 0;
}

QuantizePass::QuantizePass(const Options& options)
    : QuantizePass([&] {
        OptionReader r("quantize", options);
        QuantizeOptions o = read_quantize_options(r);
        r.finish();
        return o;
      }()) {}

const PassInfo& QuantizePass::info() const {
  return info_;
}

PassResult QuantizePass::run(Graph& graph, PassContext& ctx) {
  const QuantizeOptions& o = options_;
  PassResult result;
  layers_.clear();
  Quantizer quantizer(graph, o);
  const std::vector<std::string> chosen = quantizer.selected();
  std::map<std::string, QuantLayer> records;
  for (const LayerInfo& l : quantizer.layers()) {
    QuantLayer& r = records[l.node];
    r.node = l.node;
    r.op = l.op;
    r.activation = "f32";
    r.reason = l.reason;
  }
  if (chosen.empty()) {
    result.warnings.push_back(
        quantizer.layers().empty()
            ? "the graph has no quantizable layer (Conv, Gemm or MatMul with a constant weight); "
              "it is left unchanged"
            : "no layer was selected for quantization; the graph is left unchanged");
    for (const LayerInfo& l : quantizer.layers())
      layers_.push_back(records[l.node]);
    result.stats["layers_quantized"] = 0;
    result.stats["layers_float"] = static_cast<double>(layers_.size());
    return result;
  }
  if (o.max_drop >= 0) {
    if (!ctx.eval)
      throw Error("pass 'quantize' with max_drop needs evaluation data (PassContext::eval): "
                  "none given");
    if (!ctx.executor)
      throw Error("pass 'quantize' with max_drop needs an executor (PassContext::executor): "
                  "none given");
  }

  const auto t_cal = Clock::now();
  const int64_t samples = quantizer.calibrate(graph, ctx);
  const double cal_seconds = seconds_since(t_cal);

  std::set<std::string> quantize_set(chosen.begin(), chosen.end());
  double bc_seconds = 0;
  int64_t corrected = 0;
  auto correct = [&] {
    const auto t_bc = Clock::now();
    quantizer.clear_bias_shifts();
    corrected = quantizer.correct_biases(graph, quantize_set, ctx);
    bc_seconds += seconds_since(t_bc);
  };
  if (o.bias_correction) correct();
  const double bc_first = bc_seconds;

  const auto t_rw = Clock::now();
  Graph fp32 = graph.clone();
  Graph out = fp32.clone();
  quantizer.apply(out, quantize_set, nullptr);
  double eval_seconds = 0;
  if (o.max_drop >= 0) {
    const auto t_eval = Clock::now();
    const double base = eval_metric(fp32, ctx, o.metric, o.eval_samples);
    double value = eval_metric(out, ctx, o.metric, o.eval_samples);
    double drop = metric_drop(o.metric, base, value);
    std::vector<std::string> kept;
    if (drop > o.max_drop) {
      // Most sensitive first: the lowest output SQNR when quantized alone.
      const std::vector<Tensor> inputs = ctx.calibration
                                             ? first_batch(fp32, *ctx.calibration, o.batch_size)
                                             : first_batch(fp32, *ctx.eval, o.batch_size);
      auto ranking = solo_output_sqnr(fp32, quantizer, chosen, inputs, *ctx.executor);
      std::stable_sort(ranking.begin(), ranking.end(),
                       [](const auto& a, const auto& b) { return a.second < b.second; });
      for (const auto& [name, sqnr] : ranking) {
        if (drop <= o.max_drop) break;
        quantize_set.erase(name);
        kept.push_back(name);
        // Corrections measured with this layer quantized would be wrong for the layers after
        // it once it is float: each trial gets its own.
        if (o.bias_correction) correct();
        Graph trial = fp32.clone();
        quantizer.apply(trial, quantize_set, nullptr);
        value = eval_metric(trial, ctx, o.metric, o.eval_samples);
        drop = metric_drop(o.metric, base, value);
        out = std::move(trial);
        if (ctx.log)
          *ctx.log << "quantize: " << name << " kept in float (solo SQNR " << num(sqnr) << " dB); "
                   << o.metric << " " << num(value) << ", drop " << num(drop) << "\n";
      }
      std::string names;
      for (const std::string& k : kept)
        names += (names.empty() ? "'" : ", '") + k + "'";
      if (!kept.empty())
        result.warnings.push_back("kept " + std::to_string(kept.size()) +
                                  " layer(s) in float to stay within max_drop=" + num(o.max_drop) +
                                  ": " + names);
      if (drop > o.max_drop)
        result.warnings.push_back(o.metric + " still dropped by " + num(drop) +
                                  " with every layer in float");
    }
    for (const std::string& k : kept)
      records[k].reason = "kept in float to meet max_drop";
    result.stats["metric_float"] = base;
    result.stats["metric_quantized"] = value;
    result.stats["metric_drop"] = drop;
    result.stats["layers_float_for_accuracy"] = static_cast<double>(kept.size());
    eval_seconds = seconds_since(t_eval) - (bc_seconds - bc_first);
  }
  quantizer.apply(fp32, quantize_set, &records); // records for the final set
  if (o.measure_sqnr && ctx.executor && (ctx.calibration || ctx.eval)) {
    std::vector<std::string> fetch;
    for (const std::string& name : quantize_set)
      fetch.push_back(graph.find_node(name)->output()->name());
    try {
      const std::vector<Tensor> inputs =
          first_batch(graph, ctx.calibration ? *ctx.calibration : *ctx.eval, o.batch_size);
      const std::vector<Tensor> ref = ctx.executor->run(graph, inputs, fetch);
      const std::vector<Tensor> got = ctx.executor->run(out, inputs, fetch);
      const size_t first = graph.outputs().size();
      size_t i = 0;
      for (const std::string& name : quantize_set)
        records[name].output_sqnr_db = sqnr_or_exact(ref[first + i], got[first + i]), ++i;
      result.stats["output_sqnr_db"] = sqnr_or_exact(ref[0], got[0]);
    } catch (const Error& e) {
      // The measurement is a report, not part of the result: a failure costs the numbers only.
      result.warnings.push_back("per-layer output SQNR not measured: executor '" +
                                ctx.executor->name() + "' failed: " + e.what());
    }
  }
  graph = std::move(out);
  graph.touch();
  const double rw_seconds = seconds_since(t_rw) - eval_seconds - (bc_seconds - bc_first);

  int64_t quantized = 0;
  for (const LayerInfo& l : quantizer.layers()) {
    QuantLayer& r = records[l.node];
    if (!quantize_set.count(l.node)) {
      r.quantized = false;
      r.weight_bits = 32;
      r.activation = "f32";
      if (r.reason.empty()) r.reason = "kept in float";
    } else {
      ++quantized;
    }
    write_stats(r, result.stats);
    layers_.push_back(r);
    if (ctx.log) {
      *ctx.log << "quantize: " << r.node << " (" << r.op << "): ";
      if (r.quantized)
        *ctx.log << "w" << r.weight_bits
                 << (r.group_size ? "/g" + std::to_string(r.group_size) : "")
                 << (r.gptq ? " gptq" : "") << ", act " << r.activation
                 << (r.method.empty() ? "" : " (" + r.method + ")") << ", weight SQNR "
                 << num(r.weight_sqnr_db) << " dB, output SQNR " << num(r.output_sqnr_db) << " dB"
                 << (r.bias_shift_max > 0 ? ", bias shift up to " + num(r.bias_shift_max) : "")
                 << (r.table_op.empty() ? "" : ", then " + r.table_op + " as an int8 table")
                 << "\n";
      else
        *ctx.log << "float, " << r.reason << "\n";
    }
  }
  Stats& s = result.stats;
  s["layers_quantized"] = static_cast<double>(quantized);
  s["layers_float"] = static_cast<double>(layers_.size() - static_cast<size_t>(quantized));
  s["calibration_samples"] = static_cast<double>(samples);
  s["seconds_calibration"] = cal_seconds;
  s["seconds_rewrite"] = rw_seconds;
  s["seconds_evaluation"] = eval_seconds;
  if (o.bias_correction) {
    s["bias_corrected_layers"] = static_cast<double>(corrected);
    s["seconds_bias_correction"] = bc_seconds;
  }
  result.changed = quantized > 0;
  return result;
}

std::vector<QuantLayer> quantize_layers_from_stats(const Stats& stats) {
  std::map<std::string, QuantLayer> by_node;
  for_each_layer_stat(stats, [&](const std::string& node, const std::string& field, double value) {
    QuantLayer& l = by_node[node];
    l.node = node;
    const auto i = static_cast<int64_t>(std::llround(value));
    if (field == "quantized")
      l.quantized = i != 0;
    else if (field == "weight_bits")
      l.weight_bits = static_cast<int>(i);
    else if (field == "group_size")
      l.group_size = i;
    else if (field == "gptq")
      l.gptq = i != 0;
    else if (field == "method")
      l.method = i >= 0 && i < 4 ? calib_method_name(static_cast<CalibMethod>(i)) : "";
    else if (field == "weight_scale_min")
      l.weight_scale_min = value;
    else if (field == "weight_scale_max")
      l.weight_scale_max = value;
    else if (field == "act_scale")
      l.act_scale = value;
    else if (field == "act_zero_point")
      l.act_zero_point = static_cast<int32_t>(i);
    else if (field == "act_lo")
      l.act_lo = value;
    else if (field == "act_hi")
      l.act_hi = value;
    else if (field == "weight_sqnr_db")
      l.weight_sqnr_db = value;
    else if (field == "output_sqnr_db")
      l.output_sqnr_db = value;
    else if (field == "bias_shift_max")
      l.bias_shift_max = value;
  });
  std::vector<QuantLayer> out;
  for (auto& [node, l] : by_node) {
    auto field = [&](const char* f) {
      auto it = stats.find(layer_stat_key(node, f));
      return it == stats.end() ? 0.0 : it->second;
    };
    l.activation = std::llround(field("act_bits")) == 8
                       ? (std::llround(field("act_signed")) ? "i8" : "u8")
                       : "f32";
    out.push_back(std::move(l));
  }
  return out;
}

SHRINK_REGISTER_PASS(register_quantize_pass, QuantizePass, "quantize", kSummary);

} // namespace shrink
