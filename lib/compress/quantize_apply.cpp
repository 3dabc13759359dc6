// The quantizer behind `quantize` and `analyze-sensitivity`: finds the layers, calibrates them
// once, and rewrites any subset of them into QDQ form.
#include "quantize_internal.h"

#include "lowrank_internal.h"

#include "shrink/core/error.h"
#include "shrink/ir/evaluate.h"
#include "shrink/ir/shape_inference.h"
#include "shrink/pass/node_filter.h"
#include "shrink/pass/registry.h"
#include "shrink/pass/rewrite.h"

#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>
#include <limits>

namespace shrink::quant_detail {

namespace {

const char* const kWho = "pass 'quantize'";

std::string layer_label(const LayerInfo& l) {
  return "node '" + l.node + "' (" + l.op + ")";
}

const Tensor* f32_constant(const Value* v) {
  const Tensor* t = v ? constant_value(v) : nullptr;
  return t && t->dtype() == DType::f32 && v->is_initializer() ? t : nullptr;
}

/// Fills `l` for node `n`; false when `n` is not a Conv/Gemm/MatMul.
bool analyze(const Node& n, const QuantizeOptions& o, LayerInfo& l) {
  const std::string& op = n.op();
  if (op != "Conv" && op != "Gemm" && op != "MatMul") return false;
  l.node = n.name();
  l.op = op;
  const Value* x = n.input(0);
  const Value* w = n.input(1);
  const Tensor* wt = f32_constant(w);
  if (!x || !wt) {
    l.reason = "its weight is not a constant f32 initializer";
    return op != "MatMul"; // activation x activation MatMuls are not layers
  }
  if (constant_value(x)) {
    l.reason = "its input is a constant";
    return true;
  }
  l.act = x->name();
  l.weight = w->name();
  const Shape& s = wt->shape();
  if (op == "Conv") {
    if (wt->rank() < 3) {
      l.reason = "its weight has rank " + std::to_string(wt->rank());
      return true;
    }
    l.weight_axis = 0;
    l.rows = s[0];
    l.cols = wt->numel() / s[0];
  } else if (op == "Gemm") {
    if (wt->rank() != 2) return true;
    const bool tb = n.attr_int("transB", 0) != 0;
    l.trans_a = n.attr_int("transA", 0) != 0;
    l.k_major = !tb;
    l.weight_axis = tb ? 0 : 1;
    l.rows = tb ? s[0] : s[1];
    l.cols = tb ? s[1] : s[0];
  } else {
    if (wt->rank() != 2) {
      l.reason = "its weight is not a matrix";
      return true;
    }
    l.k_major = true;
    l.weight_axis = 1;
    l.rows = s[1];
    l.cols = s[0];
  }
  const Value* b = n.input(2);
  if (op != "MatMul" && b) {
    const Tensor* bt = f32_constant(b);
    if (bt && bt->rank() == 1 && bt->numel() == l.rows &&
        (op == "Conv" || n.attr_float("beta", 1.f) == 1.f))
      l.bias = b->name();
  }
  if (o.mode == "weight-only") {
    if (op == "Conv") {
      l.reason = "weight-only mode quantizes Gemm and MatMul layers";
      return true;
    }
    if (wt->numel() < o.min_elements) {
      l.reason = "its weight has " + std::to_string(wt->numel()) +
                 " elements, fewer than "
                 "min_elements=" +
                 std::to_string(o.min_elements);
      return true;
    }
  }
  l.eligible = true;
  return true;
}

/// The eligible layers' names, for pattern errors.
std::vector<std::string> eligible_names(const std::vector<LayerInfo>& layers) {
  std::vector<std::string> names;
  for (const LayerInfo& l : layers)
    if (l.eligible) names.push_back(l.node);
  return names;
}

Tensor scalar_of(DType dtype, int32_t v) {
  Tensor t(dtype, {});
  if (dtype == DType::u8)
    t.data_mutable<uint8_t>()[0] = static_cast<uint8_t>(v);
  else
    t.data_mutable<int8_t>()[0] = static_cast<int8_t>(v);
  return t;
}

/// The weight as an out x in matrix.
Eigen::MatrixXf weight_matrix(const LayerInfo& l, const Tensor& w) {
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  if (l.k_major) return Eigen::Map<const RowMajor>(w.data<float>(), l.cols, l.rows).transpose();
  return Eigen::Map<const RowMajor>(w.data<float>(), l.rows, l.cols);
}

/// Erases initializers nothing uses any more.
void erase_if_unused(Graph& g, const std::string& name) {
  Value* v = g.find_value(name);
  if (v && v->is_initializer() && v->uses().empty() && !g.is_output(v)) g.erase_value(v);
}

double weight_sqnr(const Eigen::MatrixXf& w, const Eigen::MatrixXf& wq) {
  const double sig = w.cast<double>().squaredNorm();
  const double noise = (w - wq).cast<double>().squaredNorm();
  if (noise <= 0) return 200.0;
  return 10.0 * std::log10(sig / noise);
}

/// Marks projection shortcuts: `Add(layer_a(...), layer_b(...))` where both inputs are single-use
/// outputs of layers; the later layer's output gets quantized (see `LayerInfo::residual`).
void find_residuals(const Graph& g, std::vector<LayerInfo>& layers) {
  std::map<std::string, size_t> by_node;
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].eligible) by_node[layers[i].node] = i;
  std::map<const Node*, size_t> order;
  for (const Node* n : g.nodes())
    order[n] = order.size();
  for (const Node* n : g.nodes()) {
    if (n->op() != "Add" || n->num_inputs() != 2) continue;
    const Value* a = n->input(0);
    const Value* b = n->input(1);
    auto layer_output = [&](const Value* v) -> const Node* {
      const Node* p = v ? v->producer() : nullptr;
      if (!p || !by_node.count(p->name()) || v->uses().size() != 1 || g.is_output(v))
        return nullptr;
      return p;
    };
    const Node* pa = layer_output(a);
    const Node* pb = layer_output(b);
    if (!pa || !pb) continue;
    const Node* later = order[pa] > order[pb] ? pa : pb;
    layers[by_node[later->name()]].residual = later->output()->name();
  }
}

/// Marks activations that can run as int8 tables: a layer's output, optionally through an `Add`
/// of a constant (a MatMul's bias), is read only by an op in `ops`, and that op's output only by
/// layers, as their activation input (see `LayerInfo::table_input`).
void find_table_inputs(const Graph& g, const std::vector<std::string>& ops,
                       std::vector<LayerInfo>& layers) {
  std::map<std::string, const LayerInfo*> by_node;
  for (const LayerInfo& l : layers)
    if (l.eligible) by_node[l.node] = &l;
  for (LayerInfo& l : layers) {
    if (!l.eligible) continue;
    const Value* v = g.find_node(l.node)->output();
    const Node* u = single_user(v);
    if (u && u->op() == "Add" && u->num_inputs() == 2) {
      const Value* other = u->input(u->input(0) == v ? 1 : 0);
      if (other && other != v && constant_value(other)) {
        v = u->output();
        u = single_user(v);
      }
    }
    if (!u || u->input(0) != v || std::find(ops.begin(), ops.end(), u->op()) == ops.end()) continue;
    const Value* a = u->output();
    if (g.is_output(a) || a->uses().empty()) continue;
    const bool layers_read = std::all_of(a->uses().begin(), a->uses().end(), [&](const Use& r) {
      auto it = by_node.find(r.node->name());
      return r.index == 0 && it != by_node.end() && it->second->act == a->name();
    });
    if (!layers_read) continue;
    l.table_input = v->name();
    l.table_output = a->name();
  }
}

/// True when bias correction can change `l`'s bias: a Conv, or a Gemm, whose bias is a 1-D f32
/// initializer or absent (a Gemm without C only with beta 1, since a new C is scaled by beta).
bool correctable(const LayerInfo& l, const Graph& g) {
  if (l.op == "MatMul") return false;
  if (!l.bias.empty()) return true;
  const Node* n = g.find_node(l.node);
  if (!n || n->input(2)) return false;
  return l.op == "Conv" || n->attr_float("beta", 1.f) == 1.f;
}

/// Adds one layer output to per-channel sums: the channel is axis 1 for Conv outputs
/// (N x C x ...) and the last axis otherwise.
void add_channel_sums(const LayerInfo& l, const Tensor& t, std::vector<double>& sum,
                      int64_t& count) {
  const Shape& shape = t.shape();
  const bool conv = l.op == "Conv";
  const int64_t channels =
      conv ? (shape.size() > 1 ? shape[1] : 0) : (shape.empty() ? 0 : shape.back());
  if (channels != l.rows || t.dtype() != DType::f32)
    throw Error(std::string(kWho) + ": bias correction of " + layer_label(l) + " expected " +
                std::to_string(l.rows) + " output channels on axis " + (conv ? "1" : "-1") +
                " in f32, got " + std::to_string(channels) + " of " + dtype_name(t.dtype()) +
                "; run it with bias_correction=false");
  int64_t inner = 1;
  if (conv)
    for (size_t d = 2; d < shape.size(); ++d)
      inner *= shape[d];
  const float* p = t.data<float>();
  sum.resize(static_cast<size_t>(channels), 0.0);
  std::vector<double> part(static_cast<size_t>(channels), 0.0);
  for (int64_t i = 0; i < t.numel(); ++i)
    part[static_cast<size_t>(conv ? (i / inner) % channels : i % channels)] += p[i];
  for (int64_t c = 0; c < channels; ++c)
    sum[c] += part[c];
  count += t.numel() / channels;
}

} // namespace

Quantizer::Quantizer(const Graph& fp32, const QuantizeOptions& options) : options_(options) {
  const QuantizeOptions& o = options_;
  for (const Node* n : fp32.nodes()) {
    LayerInfo l;
    if (analyze(*n, o, l)) layers_.push_back(std::move(l));
  }
  if (o.mode == "static" && o.quantize_residuals) find_residuals(fp32, layers_);
  if (o.mode == "static" && !o.table_ops.empty()) find_table_inputs(fp32, o.table_ops, layers_);
  const NodeFilter filter{o.include, o.exclude};
  const std::vector<std::string> candidates = eligible_names(layers_);
  filter.check("quantize", "quantizable layer", candidates);
  std::vector<std::pair<std::string, CalibMethod>> rules;
  for (const std::string& r : o.methods) {
    const size_t eq = r.rfind('=');
    if (eq == std::string::npos || eq == 0)
      throw RecipeError(std::string(kWho) + ": option 'methods' entry '" + r +
                        "' is not of the form pattern=method");
    rules.emplace_back(r.substr(0, eq), parse_calib_method(r.substr(eq + 1)));
  }
  for (const auto& rule : rules)
    if (std::none_of(layers_.begin(), layers_.end(), [&](const LayerInfo& l) {
          return l.eligible && glob_match(rule.first, l.node);
        }))
      throw_pattern_matches_nothing("quantize", "methods", rule.first, "quantizable layer",
                                    candidates);
  LayerInfo* last = nullptr;
  for (LayerInfo& l : layers_) {
    if (!l.eligible) continue;
    l.method = parse_calib_method(o.method);
    for (const auto& rule : rules)
      if (glob_match(rule.first, l.node)) {
        l.method = rule.second;
        break;
      }
    l.reason = filter.rejects(l.node);
    if (!l.reason.empty()) continue;
    l.selected = true;
    last = &l;
  }
  if (o.keep_last && last) {
    last->selected = false;
    last->reason = "the last layer (keep_last=true)";
  }
}

std::vector<std::string> Quantizer::selected() const {
  std::vector<std::string> out;
  for (const LayerInfo& l : layers_)
    if (l.selected) out.push_back(l.node);
  return out;
}

int64_t Quantizer::calibrate(const Graph& fp32, PassContext& ctx) {
  const QuantizeOptions& o = options_;
  const bool need_acts = o.mode == "static";
  const bool need_hessians = o.mode == "weight-only" && o.gptq;
  if (!need_acts && !need_hessians) return 0;
  if (selected().empty()) return 0;
  require_calibration(fp32, ctx,
                      std::string(kWho) + (need_acts ? " (static int8)" : " with gptq=true"));
  if (need_acts) {
    std::vector<std::string> names;
    for (const LayerInfo& l : layers_) {
      if (!l.selected) continue;
      for (const std::string* v : {&l.act, &l.residual, &l.table_input})
        if (!v->empty() && std::find(names.begin(), names.end(), *v) == names.end())
          names.push_back(*v);
    }
    CalibrationOptions co;
    co.samples = o.samples;
    co.batch_size = o.batch_size;
    co.progress = ctx.progress;
    const auto stats = calibrate_activations(fp32, *ctx.executor, *ctx.calibration, names, co);
    const DType dt = o.activations == "s8" ? DType::i8 : DType::u8;
    for (const LayerInfo& l : layers_) {
      if (!l.selected) continue;
      for (const std::string* v : {&l.act, &l.residual, &l.table_input}) {
        // A value read by several layers takes the method of the first of them.
        if (v->empty() || act_.count(*v)) continue;
        const QuantRange r =
            choose_range(stats.at(*v).histogram, l.method, dt == DType::i8, o.percentile);
        ranges_[*v] = r;
        act_[*v] = quant_params_for_range(r, dt);
        act_method_[*v] = l.method;
      }
    }
  } else {
    using namespace lowrank_detail;
    std::map<std::string, std::pair<std::string, PatchGeometry>> geometry;
    for (const LayerInfo& l : layers_) {
      if (!l.selected) continue;
      PatchGeometry pg;
      pg.channels = l.cols;
      pg.trans_a = l.trans_a;
      geometry[pg.key(l.act)] = {l.act, pg};
    }
    std::map<std::string, SecondMoment> moments;
    accumulate_moments(fp32, *ctx.executor, *ctx.calibration, o.samples, o.batch_size, geometry,
                       moments, ctx.progress);
    for (const LayerInfo& l : layers_) {
      if (!l.selected) continue;
      PatchGeometry pg;
      pg.channels = l.cols;
      pg.trans_a = l.trans_a;
      hessians_[l.node] = moments.at(pg.key(l.act)).c;
    }
  }
  return std::min(ctx.calibration->size(), o.samples);
}

void Quantizer::apply(Graph& g, const std::set<std::string>& layers,
                      std::map<std::string, QuantLayer>* records) const {
  if (options_.mode == "weight-only")
    apply_weight_only(g, layers, records);
  else
    apply_static(g, layers, records);
  infer_shapes(g);
}

int64_t Quantizer::correct_biases(const Graph& fp32, const std::set<std::string>& layers,
                                  PassContext& ctx) {
  const QuantizeOptions& o = options_;
  std::vector<const LayerInfo*> targets;
  for (const LayerInfo& l : layers_)
    if (layers.count(l.node) && correctable(l, fp32)) targets.push_back(&l);
  if (targets.empty() || o.mode != "static") return 0;
  require_calibration(fp32, ctx, std::string(kWho) + " with bias_correction=true");
  const DataSource& data = *ctx.calibration;
  const int64_t total = std::min(o.samples, data.size());
  const bool joint = o.bias_correction_order == "joint";
  const int64_t passes = 1 + (joint ? 1 : static_cast<int64_t>(targets.size()));
  int64_t pass = 0;
  // The per-channel mean of each of `which`'s outputs in `g`, streamed: only per-channel sums
  // outlive a batch. mean(q - f) = mean(q) - mean(f) on the same samples, so the float graph
  // runs once for every layer, however many times the quantized one runs.
  auto channel_means = [&](const Graph& g, const std::vector<const LayerInfo*>& which) {
    std::vector<std::string> fetch;
    for (const LayerInfo* l : which)
      fetch.push_back(g.find_node(l->node)->output()->name());
    std::vector<std::vector<double>> sum(which.size());
    std::vector<int64_t> count(which.size(), 0);
    const size_t first = g.outputs().size();
    for (int64_t start = 0; start < total; start += o.batch_size) {
      const int64_t n = std::min(o.batch_size, total - start);
      const std::vector<Tensor> got =
          ctx.executor->run(g, graph_inputs_for(fp32, data.batch(start, n)), fetch);
      for (size_t j = 0; j < which.size(); ++j)
        add_channel_sums(*which[j], got[first + j], sum[j], count[j]);
      if (ctx.progress) ctx.progress(pass * total + start + n, passes * total, "bias correction");
    }
    ++pass;
    for (size_t j = 0; j < which.size(); ++j)
      for (double& v : sum[j])
        v /= static_cast<double>(std::max<int64_t>(count[j], 1));
    return sum;
  };
  auto add_shift = [&](const LayerInfo& l, const std::vector<double>& q,
                       const std::vector<double>& f) {
    std::vector<double>& shift = bias_shift_[l.node];
    shift.resize(f.size(), 0.0);
    for (size_t c = 0; c < f.size(); ++c)
      shift[c] += q[c] - f[c];
  };
  const std::vector<std::vector<double>> float_means = channel_means(fp32, targets);
  if (joint) {
    Graph q = fp32.clone();
    apply(q, layers, nullptr);
    const auto q_means = channel_means(q, targets);
    for (size_t j = 0; j < targets.size(); ++j)
      add_shift(*targets[j], q_means[j], float_means[j]);
  } else {
    // Each layer is measured behind the corrected earlier layers, so that it corrects only the
    // bias that is left, not one that the earlier corrections already removed. The quantized
    // graph is cut after the measured layer: what follows cannot change its output.
    const std::unique_ptr<Pass> dce = PassRegistry::global().create("dce");
    for (size_t j = 0; j < targets.size(); ++j) {
      Graph q = fp32.clone();
      apply(q, layers, nullptr);
      q.set_outputs({q.find_node(targets[j]->node)->output()});
      PassContext none;
      dce->run(q, none);
      add_shift(*targets[j], channel_means(q, {targets[j]})[0], float_means[j]);
    }
  }
  return static_cast<int64_t>(targets.size());
}

void Quantizer::apply_static(Graph& g, const std::set<std::string>& layers,
                             std::map<std::string, QuantLayer>* records) const {
  const QuantizeOptions& o = options_;
  std::set<std::string> float_layers;
  for (const LayerInfo& l : layers_)
    if (!layers.count(l.node)) float_layers.insert(l.node);
  // Activations: one Q/DQ pair per value, placed before its first reader.
  std::set<std::string> done;
  std::set<std::string> tabled; // layers whose output feeds an activation table
  auto insert_qdq = [&](const std::string& name, const LayerInfo& l) {
    if (!done.insert(name).second) return;
    auto pit = act_.find(name);
    if (pit == act_.end())
      throw Error(std::string(kWho) + ": " + layer_label(l) + " was not calibrated");
    const ActivationQuant& q = pit->second;
    Value* v = g.find_value(name);
    if (!v) throw Error(std::string(kWho) + ": no value '" + name + "' in the graph");
    std::vector<Use> uses = v->uses();
    Node* first = nullptr;
    for (Node* n : g.nodes()) {
      if (std::any_of(uses.begin(), uses.end(), [&](const Use& u) { return u.node == n; })) {
        first = n;
        break;
      }
    }
    Value* s = g.add_initializer(g.fresh_name(name + "_scale"), Tensor::scalar(q.scale));
    Value* z = g.add_initializer(g.fresh_name(name + "_zp"), scalar_of(q.dtype, q.zero_point));
    Value* qv = g.add_op("QuantizeLinear", {v, s, z}, {}, g.fresh_name(name + "_q"), first);
    Value* dq = g.add_op("DequantizeLinear", {qv, s, z}, {}, g.fresh_name(name + "_dq"), first);
    for (const Use& u : uses) {
      const std::string& op = u.node->op();
      const bool float_reader =
          float_layers.count(u.node->name()) ||
          std::find(o.float_ops.begin(), o.float_ops.end(), op) != o.float_ops.end();
      if (!float_reader) g.set_input(u.node, u.index, dq);
    }
  };
  for (const LayerInfo& l : layers_) {
    if (!layers.count(l.node)) continue;
    insert_qdq(l.act, l);
    if (!l.residual.empty()) insert_qdq(l.residual, l);
    // The activation becomes a table only when its output is quantized too.
    if (!l.table_input.empty() &&
        std::any_of(layers_.begin(), layers_.end(), [&](const LayerInfo& r) {
          return layers.count(r.node) && r.act == l.table_output;
        })) {
      insert_qdq(l.table_input, l);
      tabled.insert(l.node);
    }
  }
  // Weights and biases.
  for (const LayerInfo& l : layers_) {
    if (!layers.count(l.node)) continue;
    Node* n = g.find_node(l.node);
    const Tensor& wt = n->input(1)->initializer();
    const Eigen::MatrixXf w = weight_matrix(l, wt);
    Eigen::MatrixXi qi;
    Eigen::MatrixXf sc;
    quantize_matrix(w, 8, 0, nullptr, 0.0, qi, sc);
    // Back to the weight's own layout: out x in matrix element (r, c) is flat index
    // r * cols + c for out-major weights and c * rows + r for K x N ones.
    Tensor q(DType::i8, wt.shape());
    int8_t* pq = q.data_mutable<int8_t>();
    for (int64_t r = 0; r < l.rows; ++r)
      for (int64_t c = 0; c < l.cols; ++c)
        pq[l.k_major ? c * l.rows + r : r * l.cols + c] = static_cast<int8_t>(qi(r, c));
    std::vector<float> scales(sc.data(), sc.data() + sc.rows());
    Value* wq = g.add_initializer(g.fresh_name(l.weight + "_q"), q);
    Value* ws = g.add_initializer(g.fresh_name(l.weight + "_scale"),
                                  Tensor::from_vector<float>({l.rows}, scales));
    Value* wz = g.add_initializer(g.fresh_name(l.weight + "_zp"), Tensor(DType::i8, {l.rows}));
    Value* wdq = g.add_op("DequantizeLinear", {wq, ws, wz}, {{"axis", int64_t{l.weight_axis}}},
                          g.fresh_name(l.weight + "_dq"), n);
    g.set_input(n, 1, wdq);
    erase_if_unused(g, l.weight);
    const ActivationQuant& aq = act_.at(l.act);
    auto shift = bias_shift_.find(l.node);
    const std::vector<double>* bshift = shift != bias_shift_.end() ? &shift->second : nullptr;
    if (!l.bias.empty() || bshift) {
      // The bias in float, corrected first, so that its i32 form is the corrected one.
      std::vector<float> bias(static_cast<size_t>(l.rows), 0.f);
      if (!l.bias.empty()) {
        const Tensor& bt = g.find_value(l.bias)->initializer();
        std::copy(bt.data<float>(), bt.data<float>() + l.rows, bias.begin());
      }
      if (bshift)
        for (int64_t c = 0; c < l.rows; ++c)
          bias[c] = static_cast<float>(bias[c] - (*bshift)[c]);
      const std::string base = l.bias.empty() ? l.node + "_bias" : l.bias;
      Value* bv = nullptr;
      if (o.quantize_bias) {
        std::vector<float> bs(static_cast<size_t>(l.rows));
        std::vector<int32_t> bq(static_cast<size_t>(l.rows));
        for (int64_t c = 0; c < l.rows; ++c) {
          bs[c] = aq.scale * scales[c];
          const double v = std::nearbyint(bias[c] / bs[c]);
          bq[c] = static_cast<int32_t>(std::max(-2147483647.0, std::min(2147483647.0, v)));
        }
        Value* bqv = g.add_initializer(g.fresh_name(base + "_q"),
                                       Tensor::from_vector<int32_t>({l.rows}, bq));
        Value* bsv = g.add_initializer(g.fresh_name(base + "_scale"),
                                       Tensor::from_vector<float>({l.rows}, bs));
        Value* bzv = g.add_initializer(g.fresh_name(base + "_zp"), Tensor(DType::i32, {l.rows}));
        bv = g.add_op("DequantizeLinear", {bqv, bsv, bzv}, {{"axis", int64_t{0}}},
                      g.fresh_name(base + "_dq"), n);
      } else if (bshift) {
        bv = g.add_initializer(g.fresh_name(base), Tensor::from_vector<float>({l.rows}, bias));
      }
      if (bv) {
        if (n->num_inputs() > 2)
          g.set_input(n, 2, bv);
        else
          g.add_input_to(n, bv);
        if (!l.bias.empty()) erase_if_unused(g, l.bias);
      }
    }
    if (records) {
      QuantLayer& r = (*records)[l.node];
      r.node = l.node;
      r.op = l.op;
      r.quantized = true;
      r.reason.clear();
      r.weight_bits = 8;
      r.group_size = 0;
      r.activation = aq.dtype == DType::i8 ? "i8" : "u8";
      r.method = calib_method_name(act_method_.at(l.act));
      r.table_op = tabled.count(l.node) ? g.find_value(l.table_output)->producer()->op() : "";
      r.weight_scale_min = sc.minCoeff();
      r.weight_scale_max = sc.maxCoeff();
      r.act_scale = aq.scale;
      r.act_zero_point = aq.zero_point;
      r.act_lo = ranges_.at(l.act).lo;
      r.act_hi = ranges_.at(l.act).hi;
      Eigen::MatrixXf deq = qi.cast<float>();
      for (int64_t row = 0; row < l.rows; ++row)
        deq.row(row) *= sc(row, 0);
      r.weight_sqnr_db = weight_sqnr(w, deq);
      r.bias_shift_max = 0;
      if (bshift)
        for (double v : *bshift)
          r.bias_shift_max = std::max(r.bias_shift_max, std::fabs(v));
    }
  }
}

void Quantizer::apply_weight_only(Graph& g, const std::set<std::string>& layers,
                                  std::map<std::string, QuantLayer>* records) const {
  const QuantizeOptions& o = options_;
  const int bits = static_cast<int>(o.bits);
  for (const LayerInfo& l : layers_) {
    if (!layers.count(l.node)) continue;
    Node* n = g.find_node(l.node);
    const Tensor& wt = n->input(1)->initializer();
    const Eigen::MatrixXf w = weight_matrix(l, wt);
    auto h = hessians_.find(l.node);
    const bool gptq = o.gptq && h != hessians_.end();
    Eigen::MatrixXi qi;
    Eigen::MatrixXf sc;
    quantize_matrix(w, bits, o.group_size, gptq ? &h->second : nullptr, o.damp, qi, sc);
    Tensor q(DType::i8, wt.shape());
    int8_t* pq = q.data_mutable<int8_t>();
    for (int64_t r = 0; r < l.rows; ++r)
      for (int64_t c = 0; c < l.cols; ++c)
        pq[l.k_major ? c * l.rows + r : r * l.cols + c] = static_cast<int8_t>(qi(r, c));
    const int64_t groups = sc.cols();
    Tensor st, zt;
    Attributes attrs;
    if (o.group_size > 0) {
      // Blocks run along the input axis: axis 0 of a K x N weight, axis 1 of an N x K one.
      const Shape shape = l.k_major ? Shape{groups, l.rows} : Shape{l.rows, groups};
      st = Tensor(DType::f32, shape);
      float* ps = st.data_mutable<float>();
      for (int64_t r = 0; r < l.rows; ++r)
        for (int64_t j = 0; j < groups; ++j)
          ps[l.k_major ? j * l.rows + r : r * groups + j] = sc(r, j);
      zt = Tensor(DType::i8, shape);
      attrs = {{"axis", int64_t{l.k_major ? 0 : 1}}, {"block_size", o.group_size}};
    } else {
      st = Tensor::from_vector<float>({l.rows}, std::vector<float>(sc.data(), sc.data() + l.rows));
      zt = Tensor(DType::i8, {l.rows});
      attrs = {{"axis", int64_t{l.weight_axis}}};
    }
    Value* wq = g.add_initializer(g.fresh_name(l.weight + "_q"), q);
    Value* ws = g.add_initializer(g.fresh_name(l.weight + "_scale"), st);
    Value* wz = g.add_initializer(g.fresh_name(l.weight + "_zp"), zt);
    Value* wdq =
        g.add_op("DequantizeLinear", {wq, ws, wz}, attrs, g.fresh_name(l.weight + "_dq"), n);
    g.set_input(n, 1, wdq);
    erase_if_unused(g, l.weight);
    if (records) {
      QuantLayer& r = (*records)[l.node];
      r.node = l.node;
      r.op = l.op;
      r.quantized = true;
      r.reason.clear();
      r.weight_bits = bits;
      r.group_size = o.group_size;
      r.gptq = gptq;
      r.activation = "f32";
      r.weight_scale_min = sc.minCoeff();
      r.weight_scale_max = sc.maxCoeff();
      Eigen::MatrixXf deq = qi.cast<float>();
      const int64_t gs = o.group_size > 0 ? o.group_size : l.cols;
      for (int64_t row = 0; row < l.rows; ++row)
        for (int64_t c = 0; c < l.cols; ++c)
          deq(row, c) *= sc(row, c / gs);
      r.weight_sqnr_db = weight_sqnr(w, deq);
    }
  }
}

void quantize_matrix(const Eigen::MatrixXf& w, int bits, int64_t group_size,
                     const Eigen::MatrixXd* h, double damp, Eigen::MatrixXi& q,
                     Eigen::MatrixXf& scales) {
  const int64_t rows = w.rows(), cols = w.cols();
  const int qmax = (1 << (bits - 1)) - 1;
  // int8 stays symmetric at [-127, 127] (the oneDNN s8 weights contract); int4 may use -8.
  const int qmin = bits == 8 ? -qmax : -qmax - 1;
  const int64_t gs = group_size > 0 ? group_size : cols;
  const int64_t groups = (cols + gs - 1) / gs;
  q.resize(rows, cols);
  scales.resize(rows, groups);
  Eigen::MatrixXd work = w.cast<double>();
  auto set_scales = [&](const Eigen::MatrixXd& block, int64_t group) {
    for (int64_t r = 0; r < rows; ++r) {
      const double amax = block.row(r).cwiseAbs().maxCoeff();
      scales(r, group) = amax > 0 ? static_cast<float>(amax / qmax) : 1.f;
    }
  };
  auto round_col = [&](int64_t c, const Eigen::VectorXd& col) {
    Eigen::VectorXd out(rows);
    const int64_t group = c / gs;
    for (int64_t r = 0; r < rows; ++r) {
      const double s = scales(r, group);
      const double v = std::max<double>(qmin, std::min<double>(qmax, std::nearbyint(col(r) / s)));
      q(r, c) = static_cast<int>(v);
      out(r) = v * s;
    }
    return out;
  };
  if (!h) {
    for (int64_t j = 0; j < groups; ++j)
      set_scales(work.middleCols(j * gs, std::min(gs, cols - j * gs)), j);
    for (int64_t c = 0; c < cols; ++c)
      round_col(c, work.col(c));
    return;
  }
  // GPTQ: columns are quantized in order; each column's error, scaled by the inverse Hessian,
  // is subtracted from the columns still to come (lazily, in blocks of 128 columns).
  Eigen::MatrixXd hm = *h;
  for (int64_t c = 0; c < cols; ++c)
    if (hm(c, c) <= 0) {
      hm(c, c) = 1;
      work.col(c).setZero();
    }
  const double mean_diag = hm.diagonal().mean();
  hm.diagonal().array() += std::max(damp, 1e-6) * mean_diag;
  Eigen::LLT<Eigen::MatrixXd> llt(hm);
  if (llt.info() != Eigen::Success)
    throw Error("quantize: the input Hessian is not positive definite even with damping; "
                "raise damp or give more calibration samples");
  const Eigen::MatrixXd hinv = llt.solve(Eigen::MatrixXd::Identity(cols, cols));
  Eigen::LLT<Eigen::MatrixXd> llt_inv(hinv);
  const Eigen::MatrixXd u = llt_inv.matrixU();
  if (group_size <= 0) set_scales(work, 0);
  const int64_t block = std::max<int64_t>(128, (gs <= 128 ? 128 / gs * gs : gs));
  for (int64_t b0 = 0; b0 < cols; b0 += block) {
    const int64_t cnt = std::min(block, cols - b0);
    Eigen::MatrixXd w1 = work.middleCols(b0, cnt);
    Eigen::MatrixXd err(rows, cnt);
    for (int64_t i = 0; i < cnt; ++i) {
      const int64_t c = b0 + i;
      if (group_size > 0 && c % gs == 0) {
        const int64_t len = std::min(gs, cols - c);
        Eigen::MatrixXd grp(rows, len);
        for (int64_t k = 0; k < len; ++k)
          grp.col(k) = i + k < cnt ? w1.col(i + k) : work.col(c + k);
        set_scales(grp, c / gs);
      }
      const Eigen::VectorXd col = w1.col(i);
      const Eigen::VectorXd qc = round_col(c, col);
      const double d = u(c, c);
      const Eigen::VectorXd e = (col - qc) / d;
      if (i + 1 < cnt)
        w1.rightCols(cnt - i - 1).noalias() -= e * u.row(c).segment(c + 1, cnt - i - 1);
      err.col(i) = e;
    }
    if (b0 + cnt < cols)
      work.rightCols(cols - b0 - cnt).noalias() -=
          err * u.block(b0, b0 + cnt, cnt, cols - b0 - cnt);
  }
}

std::vector<Tensor> first_batch(const Graph& graph, const DataSource& data, int64_t count) {
  return graph_inputs_for(graph, data.batch(0, std::min(count, data.size())));
}

double sqnr_or_exact(const Tensor& reference, const Tensor& test) {
  const Tensor a = reference.dtype() == DType::f32 ? reference : reference.cast(DType::f32);
  const Tensor b = test.dtype() == DType::f32 ? test : test.cast(DType::f32);
  double sig = 0, noise = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.data<float>()[i], y = b.data<float>()[i];
    sig += x * x;
    noise += (x - y) * (x - y);
  }
  if (noise <= 0) return 200.0;
  if (sig <= 0) return -200.0;
  return 10.0 * std::log10(sig / noise);
}

double eval_metric(const Graph& graph, PassContext& ctx, const std::string& metric, int64_t limit) {
  EvalOptions eo;
  eo.limit = limit;
  eo.batch_size = 64;
  return evaluate(graph, *ctx.eval, metric, *ctx.executor, eo).value;
}

double metric_drop(const std::string& metric, double base, double value) {
  if (Metric::parse(metric).higher_is_better()) return 100.0 * (base - value);
  return base != 0 ? 100.0 * (value - base) / std::fabs(base) : value - base;
}

} // namespace shrink::quant_detail
