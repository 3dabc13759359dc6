// The `smooth-quant` pass: finds the activations whose producer can absorb a per-channel scale
// and whose readers are all weight layers, calibrates their per-channel maxima, and moves the
// scale from the activation into the weights.
//
// Before (a LayerNorm read by two projections):
//   %h = LayerNormalization(%x, %g, %b) {axis=-1} : f32[N,T,64]
//   %q = MatMul(%h, %wq) : f32[N,T,64]
//   %k = MatMul(%h, %wk) : f32[N,T,64]
// After `smooth-quant{alpha=0.5}`: the same nodes; %g and %b hold g_j / s_j and b_j / s_j, %wq
// and %wk hold s_j * w_jn, with s_j = max|h_j|^0.5 / max(|wq_j,:|, |wk_j,:|)^0.5.
#include "shrink/compress/smooth_quant.h"

#include "compress_util.h"

#include "shrink/compress/calibrate.h"
#include "shrink/core/error.h"
#include "shrink/pass/node_filter.h"
#include "shrink/pass/registry.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <ostream>

namespace shrink {

using namespace compress_util;

namespace {

const char* const kSummary = "SmoothQuant: moves activation outliers into the weights of the "
                             "MatMul/Gemm layers that read them, with per-channel scales from "
                             "calibration absorbed by the producing LayerNorm or linear layer.";
const char* const kWho = "pass 'smooth-quant'";

// Beyond these, a channel that is almost always zero (or a weight row that is) would blow the
// other side up; the float function stays exact either way, the clamp only bounds the damage
// to the int8 ranges.
constexpr double kMinScale = 1e-4;
constexpr double kMaxScale = 1e4;

std::string label(const Node& n) {
  return "node '" + n.name() + "' (" + n.op() + ")";
}

[[noreturn]] void bad_option(const std::string& key, const std::string& what) {
  throw RecipeError(std::string(kWho) + ": option '" + key + "' " + what);
}

void validate(const SmoothQuantOptions& o) {
  if (!(o.alpha >= 0 && o.alpha <= 1))
    bad_option("alpha", "must be in [0, 1], got " + num(o.alpha));
  if (o.samples < 1) bad_option("samples", "must be at least 1, got " + num(o.samples));
  if (o.batch_size < 1) bad_option("batch_size", "must be at least 1, got " + num(o.batch_size));
}

const Tensor* f32_initializer(const Value* v) {
  if (!v || !v->is_initializer()) return nullptr;
  const Tensor& t = v->initializer();
  return t.dtype() == DType::f32 ? &t : nullptr;
}

/// One constant input that absorbs the scale: its slices along `axis` are multiplied by s_j
/// (`divide` false, a consumer's input rows) or divided by it (the producer's output channels).
struct Target {
  Node* node;
  int input;
  int axis;
  bool divide;
};

struct Group {
  SmoothGroup record;
  Value* value = nullptr;
  std::vector<Target> producer_targets;
  std::vector<Target> consumer_targets;
  std::vector<std::string> names; // producer and consumer node names, for include / exclude
  bool eligible = false;
};

/// The consumer target of `use` when it is a MatMul / Gemm reading X as its activation through
/// a constant 2-D weight; sets `k` to its input channels.
bool consumer_target(const Use& use, Target& t, int64_t& k) {
  const Node& n = *use.node;
  if (use.index != 0 || (n.op() != "MatMul" && n.op() != "Gemm")) return false;
  const Tensor* w = f32_initializer(n.input(1));
  if (!w || w->rank() != 2 || n.input(1) == n.input(0)) return false;
  if (n.op() == "MatMul") {
    t = {use.node, 1, 0, false};
    k = w->dim(0);
    return true;
  }
  if (n.attr_int("transA", 0) != 0) return false; // X is read as K x M: channels on axis 0
  const bool tb = n.attr_int("transB", 0) != 0;
  t = {use.node, 1, tb ? 1 : 0, false};
  k = tb ? w->dim(1) : w->dim(0);
  return true;
}

/// A constant of exactly `k` elements along its last axis (a bias [K] or [1, K]).
bool per_channel_constant(const Value* v, int64_t k) {
  const Tensor* t = f32_initializer(v);
  return t && t->rank() >= 1 && t->dim(-1) == k && t->numel() == k;
}

/// Fills the producer targets of `g` for a linear layer `p` with `k` output channels; returns
/// an empty string when it qualifies, otherwise why not.
std::string linear_producer(Node* p, int64_t k, std::vector<Target>& targets) {
  const Tensor* w = f32_initializer(p->input(1));
  if (!w || w->rank() != 2)
    return "its producer " + label(*p) + " has no constant 2-D f32 weight to absorb the scale";
  if (p->op() == "MatMul") {
    if (w->dim(1) != k) return "its producer " + label(*p) + " has a weight of another width";
    targets.push_back({p, 1, 1, true});
    return "";
  }
  const bool tb = p->attr_int("transB", 0) != 0;
  if ((tb ? w->dim(0) : w->dim(1)) != k)
    return "its producer " + label(*p) + " has a weight of another width";
  targets.push_back({p, 1, tb ? 0 : 1, true});
  if (const Value* c = p->input(2)) {
    if (!per_channel_constant(c, k))
      return "its producer " + label(*p) + " has a bias C that is not a constant of " +
             std::to_string(k) + " elements";
    targets.push_back({p, 2, f32_initializer(c)->rank() - 1, true});
  }
  return "";
}

/// Finds what produces `g.value` and whether it can absorb 1/s on `k` channels.
std::string analyze_producer(const Graph& graph, Group& g, int64_t k) {
  Value* x = g.value;
  Node* p = x->producer();
  if (!p) return "it is a graph input or a constant: no producer can absorb the scale";
  g.record.producer = p->name();
  g.record.producer_op = p->op();
  g.names.push_back(p->name());
  if (p->output(0) != x) return "it is not the first output of its producer " + label(*p);
  const std::string& op = p->op();
  if (op == "LayerNormalization") {
    const Tensor* scale = f32_initializer(p->input(1));
    if (!scale || scale->rank() < 1 || scale->dim(-1) != k)
      return "its producer " + label(*p) + " has no constant f32 scale with " + std::to_string(k) +
             " channels on its last axis";
    g.producer_targets.push_back({p, 1, scale->rank() - 1, true});
    if (const Value* b = p->input(2)) {
      const Tensor* bias = f32_initializer(b);
      if (!bias || bias->rank() < 1 || bias->dim(-1) != k)
        return "its producer " + label(*p) + " has a bias that is not a constant f32 with " +
               std::to_string(k) + " channels on its last axis";
      g.producer_targets.push_back({p, 2, bias->rank() - 1, true});
    }
    return "";
  }
  if (op == "MatMul" || op == "Gemm") return linear_producer(p, k, g.producer_targets);
  if (op == "Add" && p->num_inputs() == 2) {
    // A linear layer exported as MatMul + Add(bias).
    for (int i = 0; i < 2; ++i) {
      Value* bias = p->input(i);
      Value* y = p->input(1 - i);
      if (!per_channel_constant(bias, k) || !y || !y->producer()) continue;
      Node* layer = y->producer();
      if ((layer->op() != "MatMul" && layer->op() != "Gemm") || layer->output(0) != y) continue;
      if (y->uses().size() != 1 || graph.is_output(y))
        return "the output of " + label(*layer) + " before its bias " + label(*p) +
               " has other readers";
      std::vector<Target> targets;
      std::string why = linear_producer(layer, k, targets);
      if (!why.empty()) return why;
      g.record.producer = layer->name();
      g.record.producer_op = layer->op() + "+Add";
      g.names.push_back(layer->name());
      targets.push_back({p, i, f32_initializer(bias)->rank() - 1, true});
      g.producer_targets = std::move(targets);
      return "";
    }
  }
  return "its producer " + label(*p) + " cannot absorb a per-channel scale";
}

/// Every activation read by a MatMul / Gemm with a constant weight, as a group, in graph order.
std::vector<Group> find_groups(const Graph& graph) {
  std::vector<Group> groups;
  std::map<const Value*, size_t> seen;
  for (Node* n : graph.nodes()) {
    if (n->op() != "MatMul" && n->op() != "Gemm") continue;
    Value* x = n->input(0);
    Target t{};
    int64_t k = 0;
    if (!x || x->is_initializer() || !consumer_target({n, 0}, t, k)) continue;
    if (seen.count(x)) continue;
    seen[x] = groups.size();
    Group g;
    g.value = x;
    g.record.value = x->name();
    std::string why;
    for (const Use& u : x->uses()) {
      if (u.node->op() == "Shape") continue; // reads only the shape
      Target ct{};
      int64_t ck = 0;
      if (!consumer_target(u, ct, ck)) {
        if (why.empty())
          why = "it is also read by " + label(*u.node) +
                ", which cannot absorb a per-channel "
                "scale";
        continue;
      }
      if (std::none_of(g.consumer_targets.begin(), g.consumer_targets.end(),
                       [&](const Target& o) { return o.node == ct.node; })) {
        g.consumer_targets.push_back(ct);
        g.record.consumers.push_back(ct.node->name());
      }
      if (ck != k && why.empty())
        why = "its readers disagree on the number of channels (" + std::to_string(k) + " and " +
              std::to_string(ck) + ")";
    }
    g.record.channels = k;
    // The producer's reason first: it says why no reader change could make X smoothable.
    const std::string producer_why = analyze_producer(graph, g, k);
    if (!producer_why.empty()) why = producer_why;
    g.names.insert(g.names.end(), g.record.consumers.begin(), g.record.consumers.end());
    if (why.empty() && graph.is_output(x)) why = "it is a graph output";
    g.record.reason = why;
    g.eligible = why.empty();
    groups.push_back(std::move(g));
  }
  return groups;
}

/// `t` with every slice j along `axis` multiplied by `f[j]` (or divided, with `divide`).
Tensor scale_along(const Tensor& t, int axis, const std::vector<double>& f, bool divide) {
  Tensor out = t.clone();
  const int64_t n = t.dim(axis);
  int64_t inner = 1;
  for (int d = axis + 1; d < t.rank(); ++d)
    inner *= t.dim(d);
  const int64_t outer = t.numel() / (n * inner);
  float* p = out.data_mutable<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n; ++j) {
      const double s = divide ? 1.0 / f[static_cast<size_t>(j)] : f[static_cast<size_t>(j)];
      float* row = p + (o * n + j) * inner;
      for (int64_t i = 0; i < inner; ++i)
        row[i] = static_cast<float>(row[i] * s);
    }
  return out;
}

/// Writes `t` as input `index` of `node`: in place when nothing else reads the initializer,
/// otherwise as a private copy so that other readers keep the old values.
void replace_constant(Graph& graph, Node* node, int index, Tensor t) {
  Value* v = node->input(index);
  int uses = 0;
  for (const Use& u : v->uses())
    uses += u.node == node ? 1 : 2;
  if (uses == 1 && !graph.is_output(v)) {
    graph.set_initializer(v, std::move(t));
    return;
  }
  Value* copy = graph.add_initializer(graph.fresh_name(v->name() + "_smooth"), std::move(t));
  graph.set_input(node, index, copy);
}

/// max |W_j,:| over the input channels j of a consumer's weight.
void row_absmax(const Target& t, std::vector<double>& out) {
  const Tensor& w = t.node->input(t.input)->initializer();
  const float* p = w.data<float>();
  const int64_t rows = w.dim(0), cols = w.dim(1);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const size_t j = static_cast<size_t>(t.axis == 0 ? r : c);
      out[j] = std::max(out[j], static_cast<double>(std::fabs(p[r * cols + c])));
    }
}

void write_stats(const SmoothGroup& r, Stats& s) {
  const std::string p = "group:" + r.producer + ":";
  s[p + "channels"] = static_cast<double>(r.channels);
  s[p + "consumers"] = static_cast<double>(r.consumers.size());
  s[p + "act_min_before"] = r.act_min_before;
  s[p + "act_max_before"] = r.act_max_before;
  s[p + "act_min_after"] = r.act_min_after;
  s[p + "act_max_after"] = r.act_max_after;
  s[p + "weight_max_before"] = r.weight_max_before;
  s[p + "weight_max_after"] = r.weight_max_after;
  s[p + "scale_min"] = r.scale_min;
  s[p + "scale_max"] = r.scale_max;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v)
    out += (out.empty() ? "" : ", ") + s;
  return out;
}

} // namespace

SmoothQuantPass::SmoothQuantPass(const SmoothQuantOptions& options) : options_(options) {
  validate(options_);
  info_ = PassInfo{"smooth-quant", kSummary, {}, {}, {}, {}};
  info_.needs.calibration_data = true;
}

SmoothQuantPass::SmoothQuantPass(const Options& options)
    : SmoothQuantPass([&] {
        OptionReader r("smooth-quant", options);
        SmoothQuantOptions o;
        o.alpha = r.get_double("alpha", o.alpha);
        o.samples = r.get_int("samples", o.samples);
        o.batch_size = r.get_int("batch_size", o.batch_size);
        o.include = r.get_list("include");
        o.exclude = r.get_list("exclude");
        r.finish();
        return o;
      }()) {}

const PassInfo& SmoothQuantPass::info() const {
  return info_;
}

PassResult SmoothQuantPass::run(Graph& graph, PassContext& ctx) {
  const SmoothQuantOptions& o = options_;
  PassResult result;
  groups_.clear();
  std::vector<Group> groups = find_groups(graph);

  std::vector<std::string> candidates;
  for (const Group& g : groups)
    if (g.eligible) candidates.insert(candidates.end(), g.names.begin(), g.names.end());
  const NodeFilter filter{o.include, o.exclude};
  filter.check("smooth-quant", "producer or reader of a smoothable activation", candidates);
  std::vector<Group*> chosen;
  for (Group& g : groups) {
    if (!g.eligible) continue;
    g.record.reason = filter.rejects(g.names);
    if (g.record.reason.empty()) chosen.push_back(&g);
  }

  auto finish = [&] {
    for (Group& g : groups) {
      if (ctx.log && !g.record.smoothed)
        *ctx.log << "smooth-quant: " << g.record.value << " left alone: " << g.record.reason
                 << "\n";
      groups_.push_back(g.record);
    }
    result.stats["groups_skipped"] =
        static_cast<double>(groups.size()) - result.stats["groups_smoothed"];
  };
  result.stats["groups_smoothed"] = 0;
  result.stats["layers_smoothed"] = 0;
  if (chosen.empty()) {
    result.warnings.push_back(
        groups.empty() ? "the graph has no MatMul or Gemm with a constant weight; it is left "
                         "unchanged"
                       : "no activation can be smoothed (every candidate is read by another op, "
                         "has a producer that cannot absorb a scale, or was not selected); the "
                         "graph is left unchanged");
    finish();
    return result;
  }

  require_calibration(graph, ctx, kWho);

  const auto t_cal = Clock::now();
  CalibrationOptions co;
  co.samples = o.samples;
  co.batch_size = o.batch_size;
  co.progress = ctx.progress;
  std::vector<std::string> names;
  for (const Group* g : chosen)
    names.push_back(g->record.value);
  co.channel_absmax = names;
  const auto stats = calibrate_activations(graph, *ctx.executor, *ctx.calibration, names, co);
  result.stats["seconds_calibration"] = seconds_since(t_cal);
  result.stats["calibration_samples"] =
      static_cast<double>(std::min(ctx.calibration->size(), o.samples));

  const auto t_rw = Clock::now();
  for (Group* g : chosen) {
    SmoothGroup& r = g->record;
    const std::vector<float>& amax = stats.at(r.value).channel_absmax;
    const size_t k = static_cast<size_t>(r.channels);
    if (amax.size() != k)
      throw Error(std::string(kWho) + ": calibration value '" + r.value + "' has " +
                  std::to_string(amax.size()) + " channels on its last axis, but " +
                  join(r.consumers) + " read " + std::to_string(k) +
                  "; is the executor's output layout the graph's?");
    std::vector<double> wmax(k, 0.0), s(k, 1.0);
    for (const Target& t : g->consumer_targets)
      row_absmax(t, wmax);
    r.act_min_before = r.act_min_after = std::numeric_limits<double>::infinity();
    r.scale_min = std::numeric_limits<double>::infinity();
    for (size_t j = 0; j < k; ++j) {
      const double a = amax[j], w = wmax[j];
      if (a > 0 && w > 0 && std::isfinite(a))
        s[j] = std::clamp(std::pow(a, o.alpha) / std::pow(w, 1.0 - o.alpha), kMinScale, kMaxScale);
      r.act_min_before = std::min(r.act_min_before, a);
      r.act_max_before = std::max(r.act_max_before, a);
      r.act_min_after = std::min(r.act_min_after, a / s[j]);
      r.act_max_after = std::max(r.act_max_after, a / s[j]);
      r.weight_max_before = std::max(r.weight_max_before, w);
      r.weight_max_after = std::max(r.weight_max_after, w * s[j]);
      r.scale_min = std::min(r.scale_min, s[j]);
      r.scale_max = std::max(r.scale_max, s[j]);
    }
    for (const std::vector<Target>* list : {&g->producer_targets, &g->consumer_targets})
      for (const Target& t : *list)
        replace_constant(graph, t.node, t.input,
                         scale_along(t.node->input(t.input)->initializer(), t.axis, s, t.divide));
    r.smoothed = true;
    result.changed = true;
    result.stats["groups_smoothed"] += 1;
    result.stats["layers_smoothed"] += static_cast<double>(r.consumers.size());
    write_stats(r, result.stats);
    if (ctx.log)
      *ctx.log << "smooth-quant: " << r.producer << " (" << r.producer_op << ") -> {"
               << join(r.consumers) << "}: " << k << " channels, max|X_j| in ["
               << num(r.act_min_before) << ", " << num(r.act_max_before) << "] -> ["
               << num(r.act_min_after) << ", " << num(r.act_max_after) << "], max|W| "
               << num(r.weight_max_before) << " -> " << num(r.weight_max_after) << ", s in ["
               << num(r.scale_min) << ", " << num(r.scale_max) << "]\n";
  }
  result.stats["seconds_rewrite"] = seconds_since(t_rw);
  finish();
  return result;
}

SHRINK_REGISTER_PASS(register_smooth_quant_pass, SmoothQuantPass, "smooth-quant", kSummary);

} // namespace shrink
