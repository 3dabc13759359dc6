// The `equalize` pass (cross-layer equalization). The example and the rules are in
// include/shrink/compress/equalize.h.
//
// Before:
//   %c1 = Conv(%x, %w1, %b1)      w1 output-channel ranges [4, 1]
//   %r = Relu(%c1)
//   %c2 = Conv(%r, %w2)           w2 input-channel ranges  [1, 4]
// After:
//   %c1 = Conv(%x, %w1', %b1')    w1' = w1 / s per output channel, b1' = b1 / s, s = [2, 0.5]
//   %r = Relu(%c1)
//   %c2 = Conv(%r, %w2')          w2' = w2 * s per input channel; every range is now 2
#include "shrink/compress/equalize.h"

#include "compress_util.h"

#include "shrink/core/error.h"
#include "shrink/pass/node_filter.h"
#include "shrink/pass/registry.h"
#include "shrink/pass/rewrite.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <ostream>
#include <tuple>

namespace shrink {

using namespace compress_util;

namespace {

const char* const kSummary = "Cross-layer equalization: rescales the channels between two "
                             "Conv or Gemm/MatMul layers (through a Relu) so that their weight "
                             "ranges match, without changing what the graph computes.";

[[noreturn]] void bad_option(const std::string& key, const std::string& what) {
  throw RecipeError("pass 'equalize': option '" + key + "' " + what);
}

void validate(const EqualizeOptions& o) {
  if (o.iterations < 1) bad_option("iterations", "must be at least 1, got " + num(o.iterations));
  if (!(o.tolerance >= 0) || !std::isfinite(o.tolerance))
    bad_option("tolerance", "must be a number >= 0, got " + num(o.tolerance));
}

std::string label(const Node& n) {
  return "'" + n.name() + "' (" + n.op() + ")";
}

const Tensor* f32_initializer(const Value* v) {
  if (!v || !v->is_initializer()) return nullptr;
  const Tensor& t = v->initializer();
  return t.dtype() == DType::f32 && !t.quant() ? &t : nullptr;
}

/// How a layer's weight elements map onto its output and input channels. Conv weights are
/// [Cout, Cin/group, k...]; dense weights are N x K (Gemm transB=1) or K x N (Gemm transB=0,
/// MatMul), N the outputs.
struct LayerView {
  Node* node = nullptr;
  bool conv = false;
  int64_t out_channels = 0;
  int64_t in_channels = 0;
  // Conv
  int64_t per_out = 0; // elements per output channel (Cin/group * k...)
  int64_t spatial = 0; // kernel elements
  int64_t cin_g = 0;   // input channels per group
  int64_t cout_g = 0;  // output channels per group
  // Dense
  bool k_major = false;

  int64_t out_of(int64_t i) const {
    if (conv) return i / per_out;
    return k_major ? i % out_channels : i / in_channels;
  }
  int64_t in_of(int64_t i) const {
    if (conv) return (i / per_out / cout_g) * cin_g + (i / spatial) % cin_g;
    return k_major ? i / out_channels : i % in_channels;
  }
};

/// The view of `n` as a layer whose weights can be rescaled, or the reason it cannot be one.
/// `first`: the layer's output channels are rescaled (its bias too); otherwise its input
/// channels are.
std::optional<LayerView> view_layer(Node& n, bool first, std::string& reason) {
  const std::string& op = n.op();
  const Value* x = n.input(0);
  const Tensor* w = f32_initializer(n.input(1));
  if (!x || constant_value(x)) {
    reason = "its input is a constant";
    return std::nullopt;
  }
  if (!w) {
    reason = "its weight is not an f32 initializer";
    return std::nullopt;
  }
  LayerView v;
  v.node = &n;
  if (op == "Conv") {
    if (w->rank() < 3 || w->dim(0) == 0 || w->dim(1) == 0) {
      reason = "its weight has rank " + std::to_string(w->rank());
      return std::nullopt;
    }
    const int64_t group = n.attr_int("group", 1);
    if (group < 1 || w->dim(0) % group != 0) {
      reason = "its group count " + std::to_string(group) + " does not divide its " +
               std::to_string(w->dim(0)) + " output channels";
      return std::nullopt;
    }
    v.conv = true;
    v.out_channels = w->dim(0);
    v.cin_g = w->dim(1);
    v.in_channels = v.cin_g * group;
    v.cout_g = v.out_channels / group;
    v.per_out = w->numel() / v.out_channels;
    v.spatial = v.per_out / v.cin_g;
  } else if (op == "Gemm" || op == "MatMul") {
    if (w->rank() != 2) {
      reason = "its weight is not a matrix";
      return std::nullopt;
    }
    const bool trans_b = op == "Gemm" && n.attr_int("transB", 0) != 0;
    if (!first && op == "Gemm" && n.attr_int("transA", 0) != 0) {
      reason = "transA=1 (its input channels are not the last axis)";
      return std::nullopt;
    }
    v.k_major = !trans_b;
    v.out_channels = trans_b ? w->dim(0) : w->dim(1);
    v.in_channels = trans_b ? w->dim(1) : w->dim(0);
  } else {
    reason = "not a Conv, Gemm or MatMul";
    return std::nullopt;
  }
  if (first && n.input(2)) {
    const Tensor* b = f32_initializer(n.input(2));
    if (op == "MatMul" || !b || b->rank() != 1 || b->numel() != v.out_channels) {
      reason = "its bias is not a 1-D f32 initializer with one value per output channel";
      return std::nullopt;
    }
  }
  return v;
}

/// Element-wise activations: the candidates for the op between two layers.
bool is_activation(const std::string& op) {
  static const char* const kOps[] = {"Relu",        "Clip", "LeakyRelu",      "PRelu",
                                     "Elu",         "Selu", "Celu",           "Sigmoid",
                                     "HardSigmoid", "Tanh", "Gelu",           "HardSwish",
                                     "Softplus",    "Mish", "ThresholdedRelu"};
  return std::any_of(std::begin(kOps), std::end(kOps), [&](const char* o) { return op == o; });
}

/// True when `n` commutes with a positive per-channel scaling: f(s x) = s f(x) for s > 0.
bool positively_homogeneous(const Node& n, std::string& reason) {
  if (n.op() == "Relu") return true;
  if (n.op() != "Clip") {
    reason = "is not positively homogeneous (only Relu and Clip with min 0 and no max are)";
    return false;
  }
  double lo = 0;
  bool has_min = false, has_max = false;
  if (n.input(1)) {
    if (!scalar_constant(n.input(1), &lo)) {
      reason = "has a min that is not a constant";
      return false;
    }
    has_min = true;
  } else if (n.has_attr("min")) {
    lo = n.attr_float("min", 0.f);
    has_min = true;
  }
  has_max = n.input(2) != nullptr || n.has_attr("max");
  if (!has_min || lo != 0.0) {
    reason = "has min " + (has_min ? num(lo) : std::string("-inf")) + " (only min 0 is)";
    return false;
  }
  if (has_max) {
    reason = "has a max (ReLU6-like clipping is not positively homogeneous)";
    return false;
  }
  return true;
}

/// The one use of `v`, or nullopt with the reason.
std::optional<Use> sole_use(const Graph& g, const Value* v, std::string& reason) {
  if (g.is_output(v)) {
    reason = "its output '" + v->name() + "' is a graph output";
    return std::nullopt;
  }
  if (v->uses().size() != 1) {
    reason = "'" + v->name() + "' has " + std::to_string(v->uses().size()) +
             " consumers (each would see the rescaled channels)";
    return std::nullopt;
  }
  return v->uses()[0];
}

struct Pair {
  LayerView first, second;
  std::string activation;
};

/// A working double-precision copy of a layer's weight and bias.
struct Work {
  std::vector<double> w, b;
  bool touched = false;
};

std::vector<double> to_double(const Tensor& t) {
  return std::vector<double>(t.data<float>(), t.data<float>() + t.numel());
}

std::vector<double> out_ranges(const LayerView& v, const std::vector<double>& w) {
  std::vector<double> r(static_cast<size_t>(v.out_channels), 0.0);
  for (size_t i = 0; i < w.size(); ++i) {
    double& m = r[static_cast<size_t>(v.out_of(static_cast<int64_t>(i)))];
    m = std::max(m, std::fabs(w[i]));
  }
  return r;
}

std::vector<double> in_ranges(const LayerView& v, const std::vector<double>& w) {
  std::vector<double> r(static_cast<size_t>(v.in_channels), 0.0);
  for (size_t i = 0; i < w.size(); ++i) {
    double& m = r[static_cast<size_t>(v.in_of(static_cast<int64_t>(i)))];
    m = std::max(m, std::fabs(w[i]));
  }
  return r;
}

Tensor to_f32(const std::vector<double>& v, const Shape& shape) {
  Tensor t(DType::f32, shape);
  float* p = t.data_mutable<float>();
  for (size_t i = 0; i < v.size(); ++i)
    p[i] = static_cast<float>(v[i]);
  return t;
}

std::pair<double, double> min_max(const std::vector<double>& v) {
  if (v.empty()) return {0.0, 0.0};
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return {*lo, *hi};
}

} // namespace

EqualizePass::EqualizePass(const EqualizeOptions& options) : options_(options) {
  validate(options_);
  info_ = PassInfo{"equalize", kSummary, {"shapes"}, {}, {}, {}};
}

EqualizePass::EqualizePass(const Options& options)
    : EqualizePass([&] {
        OptionReader r("equalize", options);
        EqualizeOptions o;
        o.iterations = r.get_int("iterations", o.iterations);
        o.tolerance = r.get_double("tolerance", o.tolerance);
        o.fold_batchnorm = r.get_bool("fold_batchnorm", o.fold_batchnorm);
        o.include = r.get_list("include");
        o.exclude = r.get_list("exclude");
        r.finish();
        return o;
      }()) {}

const PassInfo& EqualizePass::info() const {
  return info_;
}

PassResult EqualizePass::run(Graph& graph, PassContext& ctx) {
  const EqualizeOptions& o = options_;
  PassResult result;
  pairs_.clear();
  skipped_.clear();
  Stats& s = result.stats;
  s["batchnorm_folded"] = 0;
  if (o.fold_batchnorm) {
    // A batch norm between two layers is an affine map per channel that the rescaling would
    // have to pass through; folded into the first layer it is just more weights to rescale.
    PassResult folded = PassRegistry::global().create("fold-batchnorm")->run(graph, ctx);
    s["batchnorm_folded"] = folded.stats.count("folded") ? folded.stats.at("folded") : 0;
    result.changed = folded.changed;
    for (std::string& w : folded.warnings)
      result.warnings.push_back("fold-batchnorm: " + w);
  }

  // Layers that could start a pair, in graph order.
  std::vector<Node*> layers;
  for (Node* n : graph.nodes()) {
    const std::string& op = n->op();
    if ((op == "Conv" || op == "Gemm" || op == "MatMul") && f32_initializer(n->input(1)))
      layers.push_back(n);
  }
  const NodeFilter filter{o.include, o.exclude};
  {
    std::vector<std::string> names;
    for (const Node* n : layers)
      names.push_back(n->name());
    filter.check("equalize", "Conv, Gemm or MatMul layer", names);
  }

  std::vector<Pair> pairs;
  for (Node* n : layers) {
    std::string reason;
    auto skip = [&]() { skipped_.push_back({n->name(), reason}); };
    reason = filter.rejects(n->name());
    if (!reason.empty()) {
      skip();
      continue;
    }
    std::optional<LayerView> first = view_layer(*n, true, reason);
    if (!first) {
      skip();
      continue;
    }
    std::optional<Use> use = sole_use(graph, n->output(0), reason);
    if (!use) {
      skip();
      continue;
    }
    std::string activation;
    if (is_activation(use->node->op())) {
      Node* act = use->node;
      if (!positively_homogeneous(*act, reason)) {
        reason = "its output feeds " + label(*act) + ", which " + reason;
        skip();
        continue;
      }
      activation = act->op();
      use = sole_use(graph, act->output(0), reason);
      if (!use) {
        skip();
        continue;
      }
    }
    Node* next = use->node;
    if (next->op() == "BatchNormalization") {
      reason = "its output feeds BatchNormalization '" + next->name() +
               "': run fold-batchnorm first (or keep fold_batchnorm=true)";
      skip();
      continue;
    }
    const bool is_layer = next->op() == "Conv" || next->op() == "Gemm" || next->op() == "MatMul";
    if (!is_layer || use->index != 0) {
      reason = "its output reaches " + label(*next) +
               (is_layer ? " as a weight" : ", which is not a layer") +
               (activation.empty() ? "" : " (after its " + activation + ")") +
               "; a pair needs a Relu, a Clip(min=0) or nothing between two layers";
      skip();
      continue;
    }
    std::string why;
    std::optional<LayerView> second = view_layer(*next, false, why);
    if (!second) {
      reason = "the next layer " + label(*next) + " cannot be rescaled: " + why;
      skip();
      continue;
    }
    if (first->conv != second->conv) {
      reason = "the next layer " + label(*next) + " has its channels on another axis";
      skip();
      continue;
    }
    if (first->out_channels != second->in_channels) {
      reason = "it has " + std::to_string(first->out_channels) + " output channels but " +
               label(*next) + " reads " + std::to_string(second->in_channels);
      skip();
      continue;
    }
    pairs.push_back({*first, *second, activation});
  }

  // Double-precision working copies, one per layer (a layer in a chain is in two pairs).
  std::map<Node*, Work> work;
  for (const Pair& p : pairs) {
    for (const LayerView* v : {&p.first, &p.second}) {
      Work& w = work[v->node];
      if (!w.w.empty()) continue;
      w.w = to_double(v->node->input(1)->initializer());
      if (v->node->op() != "MatMul" && v->node->input(2) && f32_initializer(v->node->input(2)))
        w.b = to_double(v->node->input(2)->initializer());
    }
  }
  pairs_.resize(pairs.size());
  std::vector<std::vector<double>> total(pairs.size());
  for (size_t k = 0; k < pairs.size(); ++k) {
    const Pair& p = pairs[k];
    EqualizedPair& r = pairs_[k];
    r.first = p.first.node->name();
    r.second = p.second.node->name();
    r.activation = p.activation;
    r.channels = p.first.out_channels;
    r.first_ranges_before = out_ranges(p.first, work[p.first.node].w);
    r.second_ranges_before = in_ranges(p.second, work[p.second.node].w);
    total[k].assign(static_cast<size_t>(r.channels), 1.0);
  }
  int64_t rounds = 0;
  double change = 0;
  while (!pairs.empty() && rounds < o.iterations) {
    ++rounds;
    change = 0;
    for (size_t k = 0; k < pairs.size(); ++k) {
      const Pair& p = pairs[k];
      Work& w1 = work[p.first.node];
      Work& w2 = work[p.second.node];
      const std::vector<double> r1 = out_ranges(p.first, w1.w);
      const std::vector<double> r2 = in_ranges(p.second, w2.w);
      std::vector<double> sc(r1.size(), 1.0);
      bool any = false;
      for (size_t c = 0; c < sc.size(); ++c) {
        // A channel that is zero on either side carries nothing: rescaling it would only move
        // the other side's range towards 0 or infinity.
        if (r1[c] > 0 && r2[c] > 0 && std::isfinite(r1[c]) && std::isfinite(r2[c]))
          sc[c] = std::sqrt(r1[c] * r2[c]) / r2[c];
        change = std::max(change, std::fabs(sc[c] - 1.0));
        any = any || sc[c] != 1.0;
        total[k][c] *= sc[c];
      }
      if (!any) continue;
      for (size_t i = 0; i < w1.w.size(); ++i)
        w1.w[i] /= sc[static_cast<size_t>(p.first.out_of(static_cast<int64_t>(i)))];
      for (size_t c = 0; c < w1.b.size(); ++c)
        w1.b[c] /= sc[c];
      for (size_t i = 0; i < w2.w.size(); ++i)
        w2.w[i] *= sc[static_cast<size_t>(p.second.in_of(static_cast<int64_t>(i)))];
      w1.touched = w2.touched = true;
    }
    if (change <= o.tolerance) break;
  }
  for (auto& [node, w] : work) {
    if (!w.touched) continue;
    Node* n = node;
    const Value* wv = n->input(1);
    set_constant_input(graph, n, 1, to_f32(w.w, wv->initializer().shape()), wv->name());
    if (!w.b.empty()) {
      const Value* bv = n->input(2);
      set_constant_input(graph, n, 2, to_f32(w.b, bv->initializer().shape()), bv->name());
    }
    result.changed = true;
  }

  s["pairs"] = static_cast<double>(pairs.size());
  s["layers_skipped"] = static_cast<double>(skipped_.size());
  s["iterations"] = static_cast<double>(rounds);
  s["max_scale_change"] = change;
  for (size_t k = 0; k < pairs.size(); ++k) {
    const Pair& p = pairs[k];
    EqualizedPair& r = pairs_[k];
    r.first_ranges_after = out_ranges(p.first, work[p.first.node].w);
    r.second_ranges_after = in_ranges(p.second, work[p.second.node].w);
    std::tie(r.min_scale, r.max_scale) = min_max(total[k]);
    const std::string key = "pair:" + r.first + "->" + r.second + ":";
    s[key + "channels"] = static_cast<double>(r.channels);
    s[key + "min_scale"] = r.min_scale;
    s[key + "max_scale"] = r.max_scale;
    const std::pair<const char*, const std::vector<double>*> sides[] = {
        {"first_%s_before", &r.first_ranges_before},
        {"second_%s_before", &r.second_ranges_before},
        {"first_%s_after", &r.first_ranges_after},
        {"second_%s_after", &r.second_ranges_after}};
    for (const auto& [pattern, ranges] : sides) {
      const auto [lo, hi] = min_max(*ranges);
      char buf[64];
      std::snprintf(buf, sizeof(buf), pattern, "min");
      s[key + buf] = lo;
      std::snprintf(buf, sizeof(buf), pattern, "max");
      s[key + buf] = hi;
    }
    if (ctx.log) {
      const auto [b1, a1] = min_max(r.first_ranges_before);
      const auto [b2, a2] = min_max(r.second_ranges_before);
      const auto [c1, d1] = min_max(r.first_ranges_after);
      const auto [c2, d2] = min_max(r.second_ranges_after);
      *ctx.log << "equalize: " << r.first << " -> "
               << (r.activation.empty() ? "" : r.activation + " -> ") << r.second << ": "
               << r.channels << " channels, ranges [" << num(b1) << ", " << num(a1) << "] / ["
               << num(b2) << ", " << num(a2) << "] -> [" << num(c1) << ", " << num(d1) << "] / ["
               << num(c2) << ", " << num(d2) << "], scales [" << num(r.min_scale) << ", "
               << num(r.max_scale) << "]\n";
    }
  }
  if (ctx.log)
    for (const EqualizeSkip& k : skipped_)
      *ctx.log << "equalize: " << k.node << " starts no pair: " << k.reason << "\n";
  return result;
}

SHRINK_REGISTER_PASS(register_equalize_pass, EqualizePass, "equalize", kSummary);

} // namespace shrink
