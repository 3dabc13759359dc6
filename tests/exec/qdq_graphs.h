#pragma once
// Builds quantized graphs in ONNX QDQ form from fp32 graphs, the way ONNX Runtime's static
// quantizer writes them, for the oneDNN runtime's int8 tests and benchmarks (the real quantize
// pass lives in compress/ and is written separately):
//
// - Conv / MatMul / Gemm weights that are f32 initializers become s8 initializers with one
//   symmetric scale per output channel, read through `DequantizeLinear(w_q, scale, 0, axis)`;
// - a Conv bias (and a 1-D Gemm C) whose input activation is quantized becomes i32 with scale
//   sx * sw[c], read through `DequantizeLinear`;
// - every activation named in the parameter map gets `QuantizeLinear -> DequantizeLinear` right
//   before its first consumer, and every consumer reads the DequantizeLinear output (graph
//   outputs stay f32).

#include "shrink/core/error.h"
#include "shrink/ir/graph.h"
#include "shrink/ir/interfaces.h"
#include "shrink/ir/shape_inference.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace shrink::testing {

/// Quantization parameters of one activation.
struct ActQuant {
  float scale = 1.f;
  int32_t zero_point = 0;
  DType dtype = DType::u8; ///< u8 (asymmetric) or i8 (symmetric).
};

/// Parameters that cover [lo, hi] (widened to include 0): asymmetric u8 or symmetric i8.
inline ActQuant act_quant_for_range(float lo, float hi, DType dtype = DType::u8) {
  lo = std::min(lo, 0.f);
  hi = std::max(hi, 0.f);
  ActQuant q;
  q.dtype = dtype;
  if (dtype == DType::i8) {
    const float m = std::max(std::fabs(lo), std::fabs(hi));
    q.scale = m > 0.f ? m / 127.f : 1.f;
    q.zero_point = 0;
  } else {
    q.scale = hi > lo ? (hi - lo) / 255.f : 1.f;
    q.zero_point = static_cast<int32_t>(std::nearbyint(-lo / q.scale));
    q.zero_point = std::min(255, std::max(0, q.zero_point));
  }
  return q;
}

/// The activations ONNX Runtime's QDQ quantizer would quantize in a CNN or transformer: the data
/// input of every Conv, of every MatMul/Gemm with a constant right operand, and of every pooling
/// op (whose output then shares the input's parameters).
inline std::vector<std::string> default_qdq_values(const Graph& g) {
  std::vector<std::string> names;
  auto add = [&](const Value* v) {
    if (v && !v->is_initializer() &&
        std::find(names.begin(), names.end(), v->name()) == names.end())
      names.push_back(v->name());
  };
  for (const Node* n : g.nodes()) {
    const std::string& op = n->op();
    if (op == "Conv") add(n->input(0));
    if ((op == "MatMul" || op == "Gemm") && n->input(1) && n->input(1)->is_initializer())
      add(n->input(0));
    if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool") {
      add(n->input(0));
      add(n->output());
    }
  }
  return names;
}

/// Min/max of the named values over `batches`, measured with `executor` (fetching the values).
inline std::map<std::string, std::pair<float, float>>
calibrate_ranges(const Graph& g, Executor& executor,
                 const std::vector<std::vector<Tensor>>& batches,
                 const std::vector<std::string>& names) {
  std::map<std::string, std::pair<float, float>> ranges;
  for (const std::vector<Tensor>& inputs : batches) {
    const std::vector<Tensor> out = executor.run(g, inputs, names);
    const size_t first = out.size() - names.size();
    for (size_t i = 0; i < names.size(); ++i) {
      const Tensor& t = out[first + i];
      auto& r = ranges.try_emplace(names[i], 1e30f, -1e30f).first->second;
      for (int64_t j = 0; j < t.numel(); ++j) {
        const float v = static_cast<float>(t.at(j));
        r.first = std::min(r.first, v);
        r.second = std::max(r.second, v);
      }
    }
  }
  return ranges;
}

/// Parameters for every range; the output of a pooling op gets its input's parameters.
inline std::map<std::string, ActQuant>
act_quant_from_ranges(const Graph& g, const std::map<std::string, std::pair<float, float>>& ranges,
                      DType dtype = DType::u8) {
  std::map<std::string, ActQuant> params;
  for (const auto& [name, r] : ranges)
    params[name] = act_quant_for_range(r.first, r.second, dtype);
  for (const Node* n : g.nodes()) {
    const std::string& op = n->op();
    if (op != "MaxPool" && op != "AveragePool" && op != "GlobalAveragePool") continue;
    auto in = params.find(n->input(0)->name());
    if (in != params.end() && params.count(n->output()->name()))
      params[n->output()->name()] = in->second;
  }
  return params;
}

namespace detail {

inline Tensor scalar_of(DType dtype, int32_t v) {
  Tensor t(dtype, {});
  if (dtype == DType::u8)
    t.data_mutable<uint8_t>()[0] = static_cast<uint8_t>(v);
  else if (dtype == DType::i8)
    t.data_mutable<int8_t>()[0] = static_cast<int8_t>(v);
  else
    t.data_mutable<int32_t>()[0] = v;
  return t;
}

// Quantizes a constant weight per channel along `axis`; returns the DequantizeLinear output and
// the scales.
inline Value* quantize_weight(Graph& g, Node* before, Value* w, int axis,
                              std::vector<float>& scales) {
  const Tensor& t = w->initializer();
  const Shape& s = t.shape();
  int64_t outer = 1, dim = s[axis], inner = 1;
  for (int d = 0; d < axis; ++d)
    outer *= s[d];
  for (int d = axis + 1; d < t.rank(); ++d)
    inner *= s[d];
  scales.assign(dim, 0.f);
  const float* p = t.data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < dim; ++c)
      for (int64_t i = 0; i < inner; ++i)
        scales[c] = std::max(scales[c], std::fabs(p[(o * dim + c) * inner + i]));
  for (float& sc : scales)
    sc = sc > 0.f ? sc / 127.f : 1.f;
  Tensor q(DType::i8, s);
  int8_t* pq = q.data_mutable<int8_t>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < dim; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t f = (o * dim + c) * inner + i;
        const float v = std::nearbyint(p[f] / scales[c]);
        pq[f] = static_cast<int8_t>(std::max(-127.f, std::min(127.f, v)));
      }
  Value* wq = g.add_initializer(g.fresh_name(w->name() + "_q"), q);
  Value* ws = g.add_initializer(g.fresh_name(w->name() + "_scale"),
                                Tensor::from_vector<float>({dim}, scales));
  Value* wz = g.add_initializer(g.fresh_name(w->name() + "_zp"), Tensor(DType::i8, {dim}));
  return g.add_op("DequantizeLinear", {wq, ws, wz}, {{"axis", int64_t{axis}}},
                  g.fresh_name(w->name() + "_dq"), before);
}

inline Value* quantize_bias(Graph& g, Node* before, Value* b, float sx,
                            const std::vector<float>& w_scales) {
  const Tensor& t = b->initializer();
  const int64_t n = t.numel();
  std::vector<float> scales(n);
  std::vector<int32_t> q(n);
  for (int64_t c = 0; c < n; ++c) {
    scales[c] = sx * w_scales[w_scales.size() == 1 ? 0 : c];
    q[c] = static_cast<int32_t>(std::nearbyint(t.data<float>()[c] / scales[c]));
  }
  Value* bq =
      g.add_initializer(g.fresh_name(b->name() + "_q"), Tensor::from_vector<int32_t>({n}, q));
  Value* bs = g.add_initializer(g.fresh_name(b->name() + "_scale"),
                                Tensor::from_vector<float>({n}, scales));
  Value* bz = g.add_initializer(g.fresh_name(b->name() + "_zp"), Tensor(DType::i32, {n}));
  return g.add_op("DequantizeLinear", {bq, bs, bz}, {{"axis", int64_t{0}}},
                  g.fresh_name(b->name() + "_dq"), before);
}

} // namespace detail

/// The QDQ form of `fp32` (see the file comment) with the activation parameters `params` (by
/// value name). Shape inference runs on the result.
inline Graph make_qdq(const Graph& fp32, const std::map<std::string, ActQuant>& params) {
  Graph g = fp32.clone();
  // Activations first, so that weight and bias quantization can see the input scales.
  std::map<const Value*, ActQuant> act;
  for (const auto& [name, q] : params) {
    Value* v = g.find_value(name);
    if (!v) throw Error("make_qdq: no value named '" + name + "'");
    std::vector<Use> uses = v->uses();
    if (uses.empty()) continue;
    Node* first = uses[0].node;
    const std::vector<Node*> order = g.nodes();
    for (Node* n : order) {
      bool is_user = false;
      for (const Use& u : uses)
        is_user = is_user || u.node == n;
      if (is_user) {
        first = n;
        break;
      }
    }
    Value* s = g.add_initializer(g.fresh_name(name + "_scale"), Tensor::scalar(q.scale));
    Value* z =
        g.add_initializer(g.fresh_name(name + "_zp"), detail::scalar_of(q.dtype, q.zero_point));
    Value* qv = g.add_op("QuantizeLinear", {v, s, z}, {}, g.fresh_name(name + "_q"), first);
    Value* dq = g.add_op("DequantizeLinear", {qv, s, z}, {}, g.fresh_name(name + "_dq"), first);
    for (const Use& u : uses)
      g.set_input(u.node, u.index, dq);
    act[dq] = q;
  }
  for (Node* n : g.nodes()) {
    const std::string& op = n->op();
    if (op != "Conv" && op != "MatMul" && op != "Gemm") continue;
    Value* w = n->input(1);
    if (!w || !w->is_initializer() || w->initializer().dtype() != DType::f32) continue;
    const int rank = w->initializer().rank();
    int axis = 0;
    if (op == "MatMul") axis = rank - 1;
    if (op == "Gemm") axis = n->attr_int("transB", 0) ? 0 : 1;
    if (op == "MatMul" && rank != 2) continue;
    std::vector<float> w_scales;
    g.set_input(n, 1, detail::quantize_weight(g, n, w, axis, w_scales));
    Value* b = n->input(2);
    auto in = act.find(n->input(0));
    if (b && b->is_initializer() && in != act.end() && b->initializer().rank() == 1 &&
        b->initializer().numel() == static_cast<int64_t>(w_scales.size()) &&
        (op == "Conv" || n->attr_float("beta", 1.f) == 1.f))
      g.set_input(n, 2, detail::quantize_bias(g, n, b, in->second.scale, w_scales));
  }
  infer_shapes(g);
  return g;
}

/// Calibrates `fp32` on `batches` with `executor` and returns its QDQ form quantizing
/// `default_qdq_values`.
inline Graph quantize_for_test(const Graph& fp32, Executor& executor,
                               const std::vector<std::vector<Tensor>>& batches,
                               DType dtype = DType::u8) {
  const std::vector<std::string> names = default_qdq_values(fp32);
  return make_qdq(
      fp32, act_quant_from_ranges(fp32, calibrate_ranges(fp32, executor, batches, names), dtype));
}

} // namespace shrink::testing
