#include "support/test_graphs.h"

#include "shrink/core/error.h"
#include "shrink/exec/reference.h"
#include "shrink/ir/shape_inference.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace shrink::testing {

namespace {

/// Random weights scaled by 1/sqrt(fan_in), so activations stay near unit size through a block.
Tensor weights(const Shape& shape, uint64_t seed, int64_t fan_in) {
  Tensor t = Tensor::random(shape, seed);
  float* p = t.data_mutable<float>();
  const float s = 1.0f / std::sqrt(static_cast<float>(fan_in));
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] *= s;
  return t;
}

/// Random values in [lo, hi).
Tensor uniform(const Shape& shape, uint64_t seed, float lo, float hi) {
  Tensor t = Tensor::random(shape, seed);
  float* p = t.data_mutable<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] = lo + (p[i] + 1.0f) * 0.5f * (hi - lo);
  return t;
}

Value* scalar(Graph& g, const std::string& name, float v) {
  return g.add_initializer(name, Tensor::scalar(v));
}

Value* ints(Graph& g, const std::string& name, const std::vector<int64_t>& v) {
  return g.add_initializer(name, Tensor::from_vector<int64_t>({int64_t(v.size())}, v));
}

/// BatchNormalization with random statistics (positive variance, non-trivial scale and shift).
Value* batchnorm(Graph& g, Value* x, int64_t c, uint64_t seed, const std::string& p) {
  Value* gamma = g.add_initializer(p + "_gamma", uniform({c}, seed, 0.5f, 1.5f));
  Value* beta = g.add_initializer(p + "_beta", uniform({c}, seed + 1, -0.5f, 0.5f));
  Value* mean = g.add_initializer(p + "_mean", uniform({c}, seed + 2, -0.5f, 0.5f));
  Value* var = g.add_initializer(p + "_var", uniform({c}, seed + 3, 0.5f, 2.0f));
  return g.add_op("BatchNormalization", {x, gamma, beta, mean, var}, {{"epsilon", 1e-5f}}, p);
}

Value* conv3x3(Graph& g, Value* x, int64_t cin, int64_t cout, uint64_t seed, const std::string& p,
               bool bias, int64_t stride = 1) {
  std::vector<Value*> in = {x,
                            g.add_initializer(p + "_w", weights({cout, cin, 3, 3}, seed, cin * 9))};
  if (bias) in.push_back(g.add_initializer(p + "_b", uniform({cout}, seed + 1, -0.1f, 0.1f)));
  return g.add_op("Conv", in,
                  {{"kernel_shape", std::vector<int64_t>{3, 3}},
                   {"pads", std::vector<int64_t>{1, 1, 1, 1}},
                   {"strides", std::vector<int64_t>{stride, stride}}},
                  p);
}

Value* residual_block(Graph& g, Value* x, int64_t c, uint64_t seed, const std::string& p) {
  Value* h = conv3x3(g, x, c, c, seed, p + "_conv1", true);
  h = batchnorm(g, h, c, seed + 10, p + "_bn1");
  h = g.add_op("Relu", {h}, {}, p + "_relu1");
  h = conv3x3(g, h, c, c, seed + 20, p + "_conv2", false);
  h = batchnorm(g, h, c, seed + 30, p + "_bn2");
  h = g.add_op("Add", {h, x}, {}, p + "_add");
  return g.add_op("Relu", {h}, {}, p + "_out");
}

/// y = x @ W + b as torch.onnx writes nn.Linear on a 3-D input.
Value* linear(Graph& g, Value* x, int64_t in, int64_t out, uint64_t seed, const std::string& p) {
  Value* w = g.add_initializer(p + "_w", weights({in, out}, seed, in));
  Value* b = g.add_initializer(p + "_b", uniform({out}, seed + 1, -0.1f, 0.1f));
  Value* mm = g.add_op("MatMul", {x, w}, {}, p + "_matmul");
  return g.add_op("Add", {mm, b}, {}, p);
}

/// LayerNorm over the last axis, decomposed as torch.onnx (opset < 17) writes it.
Value* decomposed_layernorm(Graph& g, Value* x, int64_t d, uint64_t seed, const std::string& p) {
  const Attributes last_axis = {{"axes", std::vector<int64_t>{-1}}, {"keepdims", int64_t{1}}};
  Value* mean = g.add_op("ReduceMean", {x}, last_axis, p + "_mean");
  Value* diff = g.add_op("Sub", {x, mean}, {}, p + "_sub");
  Value* sq = g.add_op("Pow", {diff, scalar(g, p + "_two", 2.0f)}, {}, p + "_pow");
  Value* var = g.add_op("ReduceMean", {sq}, last_axis, p + "_var");
  Value* ve = g.add_op("Add", {var, scalar(g, p + "_eps", 1e-5f)}, {}, p + "_addeps");
  Value* sd = g.add_op("Sqrt", {ve}, {}, p + "_sqrt");
  Value* n = g.add_op("Div", {diff, sd}, {}, p + "_div");
  Value* gamma = g.add_initializer(p + "_gamma", uniform({d}, seed, 0.5f, 1.5f));
  Value* beta = g.add_initializer(p + "_beta", uniform({d}, seed + 1, -0.2f, 0.2f));
  Value* scaled = g.add_op("Mul", {n, gamma}, {}, p + "_mul");
  return g.add_op("Add", {scaled, beta}, {}, p);
}

/// GELU in the Erf form torch.onnx writes for F.gelu.
Value* erf_gelu(Graph& g, Value* x, const std::string& p) {
  Value* d = g.add_op("Div", {x, scalar(g, p + "_sqrt2", 1.4142135f)}, {}, p + "_div");
  Value* e = g.add_op("Erf", {d}, {}, p + "_erf");
  Value* a = g.add_op("Add", {e, scalar(g, p + "_one", 1.0f)}, {}, p + "_add");
  Value* m = g.add_op("Mul", {x, a}, {}, p + "_mul");
  return g.add_op("Mul", {m, scalar(g, p + "_half", 0.5f)}, {}, p);
}

} // namespace

Graph residual_cnn_block() {
  Graph g("residual_cnn_block");
  Value* x =
      g.add_input("x", TensorType{DType::f32, std::vector<Dim>{Dim::sym("N"), Dim::known(8),
                                                               Dim::known(8), Dim::known(8)}});
  g.set_outputs({residual_block(g, x, 8, 100, "block")});
  infer_shapes(g);
  return g;
}

Graph small_cnn() {
  Graph g("small_cnn");
  Value* x =
      g.add_input("x", TensorType{DType::f32, std::vector<Dim>{Dim::sym("N"), Dim::known(1),
                                                               Dim::known(28), Dim::known(28)}});
  Value* h = conv3x3(g, x, 1, 8, 200, "stem_conv", true, 2);
  h = batchnorm(g, h, 8, 210, "stem_bn");
  h = g.add_op("Relu", {h}, {}, "stem_relu");
  h = residual_block(g, h, 8, 300, "block");
  h = g.add_op("GlobalAveragePool", {h}, {}, "pool");
  h = g.add_op("Flatten", {h}, {{"axis", int64_t{1}}}, "flatten");
  Value* w = g.add_initializer("fc_w", weights({10, 8}, 400, 8));
  Value* b = g.add_initializer("fc_b", uniform({10}, 401, -0.1f, 0.1f));
  g.set_outputs({g.add_op("Gemm", {h, w, b}, {{"transB", int64_t{1}}}, "logits")});
  infer_shapes(g);
  return g;
}

Graph transformer_encoder_block() {
  constexpr int64_t kT = 16, kD = 32, kHeads = 4, kHeadDim = kD / kHeads;
  Graph g("transformer_encoder_block");
  Value* x = g.add_input(
      "x", TensorType{DType::f32, std::vector<Dim>{Dim::sym("N"), Dim::known(kT), Dim::known(kD)}});
  Value* heads_shape = ints(g, "heads_shape", {-1, kT, kHeads, kHeadDim});
  Value* merged_shape = ints(g, "merged_shape", {-1, kT, kD});
  auto to_heads = [&](Value* v, const std::vector<int64_t>& perm, const std::string& p) {
    Value* r = g.add_op("Reshape", {v, heads_shape}, {}, p + "_reshape");
    return g.add_op("Transpose", {r}, {{"perm", perm}}, p + "_heads");
  };
  Value* q = to_heads(linear(g, x, kD, kD, 500, "q_proj"), {0, 2, 1, 3}, "q");
  Value* k = to_heads(linear(g, x, kD, kD, 510, "k_proj"), {0, 2, 3, 1}, "k");
  Value* v = to_heads(linear(g, x, kD, kD, 520, "v_proj"), {0, 2, 1, 3}, "v");
  Value* scores = g.add_op("MatMul", {q, k}, {}, "scores");
  Value* scaled =
      g.add_op("Div", {scores, scalar(g, "sqrt_head_dim", std::sqrt(static_cast<float>(kHeadDim)))},
               {}, "scores_scaled");
  Value* probs = g.add_op("Softmax", {scaled}, {{"axis", int64_t{-1}}}, "probs");
  Value* ctx = g.add_op("MatMul", {probs, v}, {}, "context");
  ctx = g.add_op("Transpose", {ctx}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}}, "context_t");
  ctx = g.add_op("Reshape", {ctx, merged_shape}, {}, "context_merged");
  Value* attn = linear(g, ctx, kD, kD, 530, "out_proj");
  Value* r1 = g.add_op("Add", {x, attn}, {}, "residual1");
  Value* ln1 = decomposed_layernorm(g, r1, kD, 540, "ln1");
  Value* h = linear(g, ln1, kD, 2 * kD, 550, "fc1");
  h = erf_gelu(g, h, "gelu");
  h = linear(g, h, 2 * kD, kD, 560, "fc2");
  Value* r2 = g.add_op("Add", {ln1, h}, {}, "residual2");
  g.set_outputs({decomposed_layernorm(g, r2, kD, 570, "ln2")});
  infer_shapes(g);
  return g;
}

Graph noisy_graph(bool static_batch) {
  Graph g("noisy");
  Dim batch = static_batch ? Dim::known(2) : Dim::sym("N");
  Value* x = g.add_input(
      "x",
      TensorType{DType::f32, std::vector<Dim>{batch, Dim::known(4), Dim::known(8), Dim::known(8)}});
  Value* h = g.add_op("Identity", {x}, {}, "input_identity");
  h = conv3x3(g, h, 4, 6, 600, "conv", true);
  h = g.add_op("Dropout", {h}, {{"ratio", 0.1f}}, "dropout");
  h = g.add_op("Relu", {h}, {}, "relu");
  // The flatten as torch.onnx writes x.view(x.size(0), -1).
  Value* shape = g.add_op("Shape", {h}, {}, "shape");
  Value* zero =
      g.add_op("Constant", {},
               {{"value", Tensor::from_vector<int64_t>({}, std::vector<int64_t>{0})}}, "zero");
  Value* n = g.add_op("Gather", {shape, zero}, {{"axis", int64_t{0}}}, "batch");
  Value* n1 = g.add_op("Unsqueeze", {n, ints(g, "unsqueeze_axes", {0})}, {}, "batch_1d");
  Value* minus1 = g.add_op("Constant", {},
                           {{"value", Tensor::from_vector<int64_t>({1}, std::vector<int64_t>{-1})}},
                           "minus_one");
  Value* target = g.add_op("Concat", {n1, minus1}, {{"axis", int64_t{0}}}, "flat_shape");
  h = g.add_op("Reshape", {h, target}, {}, "flatten");
  h = g.add_op("Identity", {h}, {}, "flat_identity");
  Value* w = g.add_initializer("fc_w", weights({10, 6 * 8 * 8}, 610, 6 * 8 * 8));
  Value* b = g.add_initializer("fc_b", uniform({10}, 611, -0.1f, 0.1f));
  h = g.add_op("Gemm", {h, w, b}, {{"transB", int64_t{1}}}, "fc");
  h = g.add_op("Cast", {h}, {{"to", int64_t{onnx_dtype(DType::f32)}}}, "cast");
  h = g.add_op("Transpose", {h}, {{"perm", std::vector<int64_t>{0, 1}}}, "logits");
  g.set_outputs({h});
  infer_shapes(g);
  return g;
}

std::vector<Tensor> random_inputs(const Graph& graph, int64_t batch, uint64_t seed) {
  std::vector<Tensor> out;
  for (const Value* in : graph.inputs()) {
    Shape shape;
    if (in->type().ranked())
      for (const Dim& d : *in->type().dims)
        shape.push_back(d.is_known() ? d.value : batch);
    Tensor t = Tensor::random(shape, seed++);
    out.push_back(in->type().dtype == DType::f32 ? t : t.cast(in->type().dtype));
  }
  return out;
}

int count_ops(const Graph& graph, const std::string& op) {
  int n = 0;
  for (const Node* node : graph.nodes())
    if (node->op() == op) ++n;
  return n;
}

} // namespace shrink::testing

namespace shrink::testing {

double max_output_error(const Graph& a, const Graph& b, int64_t batch, uint64_t seed) {
  std::vector<Tensor> inputs = random_inputs(a, batch, seed);
  ReferenceExecutor exec;
  std::vector<Tensor> ya = exec.run(a, inputs);
  std::vector<Tensor> yb = exec.run(b, inputs);
  check(ya.size() == yb.size(), "max_output_error: the graphs have different output counts");
  double worst = 0;
  for (size_t i = 0; i < ya.size(); ++i) {
    check(ya[i].shape() == yb[i].shape(), "max_output_error: output " + std::to_string(i) +
                                              " has shape " + shape_str(ya[i].shape()) + " vs " +
                                              shape_str(yb[i].shape()));
    worst = std::max(worst, max_relative_error(yb[i].cast(DType::f32), ya[i].cast(DType::f32)));
  }
  return worst;
}

} // namespace shrink::testing
