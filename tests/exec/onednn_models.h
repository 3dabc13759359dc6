#pragma once
// Models built with the Graph API for the oneDNN runtime's tests and benchmarks: a ResNet-style
// CNN for 1x28x28 images and a transformer encoder. Weights are deterministic pseudo-random
// values scaled by 1/sqrt(fan_in) so that activations keep a sensible range through the layers.

#include "shrink/ir/graph.h"
#include "shrink/ir/shape_inference.h"

#include <cmath>
#include <string>
#include <vector>

namespace shrink::testing {

/// A symbolic-batch f32 type: [N, dims...].
inline TensorType batch_type(const std::vector<int64_t>& dims, DType dtype = DType::f32) {
  std::vector<Dim> d = {Dim::sym("N")};
  for (int64_t v : dims)
    d.push_back(Dim::known(v));
  return TensorType{dtype, d};
}

/// Random weights uniform in [-1, 1) * scale.
inline Tensor scaled_random(const Shape& shape, uint64_t seed, float scale) {
  Tensor t = Tensor::random(shape, seed);
  float* p = t.data_mutable<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] *= scale;
  return t;
}

/// Adds a Conv (+ bias) with He-style scaled weights and returns its output.
inline Value* conv(Graph& g, Value* x, int64_t cin, int64_t cout, int64_t k, int64_t stride,
                   uint64_t seed, const std::string& name, int64_t group = 1) {
  const int64_t pad = k / 2;
  const float scale = std::sqrt(6.f / static_cast<float>(cin / group * k * k));
  Value* w = g.add_initializer(name + "_w", scaled_random({cout, cin / group, k, k}, seed, scale));
  Value* b = g.add_initializer(name + "_b", scaled_random({cout}, seed + 1, 0.1f));
  Attributes a = {{"kernel_shape", std::vector<int64_t>{k, k}},
                  {"strides", std::vector<int64_t>{stride, stride}},
                  {"pads", std::vector<int64_t>{pad, pad, pad, pad}}};
  if (group > 1) a["group"] = group;
  return g.add_op("Conv", {x, w, b}, a, name);
}

/// The ResNet-style CNN: a 3x3 stem to `width` channels, then three stages of `blocks` basic
/// residual blocks (3x3 conv, ReLU, 3x3 conv, Add, ReLU) at 28x28, 14x14 and 7x7 with `width`,
/// 2*`width` and 4*`width` channels (a stride-2 block with a 1x1 projection opens stages 2 and
/// 3), global average pooling and a 10-way Gemm classifier. Input [N,1,28,28], output [N,10].
inline Graph resnet_cnn(int64_t width = 32, int blocks = 1, uint64_t seed = 1) {
  Graph g("resnet_cnn");
  Value* x = g.add_input("image", batch_type({1, 28, 28}));
  Value* h = g.add_op("Relu", {conv(g, x, 1, width, 3, 1, seed, "stem")}, {}, "stem_relu");
  int64_t c = width;
  int id = 0;
  for (int stage = 0; stage < 3; ++stage) {
    const int64_t cout = width << stage;
    for (int blk = 0; blk < blocks; ++blk) {
      const std::string p = "s" + std::to_string(stage) + "b" + std::to_string(blk);
      const int64_t stride = (stage > 0 && blk == 0) ? 2 : 1;
      Value* a = g.add_op("Relu", {conv(g, h, c, cout, 3, stride, seed + 10 * ++id, p + "_c1")}, {},
                          p + "_r1");
      Value* b2 = conv(g, a, cout, cout, 3, 1, seed + 10 * ++id, p + "_c2");
      Value* shortcut = h;
      if (stride != 1 || c != cout)
        shortcut = conv(g, h, c, cout, 1, stride, seed + 10 * ++id, p + "_proj");
      h = g.add_op("Relu", {g.add_op("Add", {b2, shortcut}, {}, p + "_add")}, {}, p + "_r2");
      c = cout;
    }
  }
  Value* pooled = g.add_op("GlobalAveragePool", {h}, {}, "gap");
  Value* flat = g.add_op("Flatten", {pooled}, {{"axis", int64_t{1}}}, "flatten");
  Value* fw = g.add_initializer("fc_w", scaled_random({10, c}, seed + 999, std::sqrt(3.f / c)));
  Value* fb = g.add_initializer("fc_b", scaled_random({10}, seed + 998, 0.1f));
  Value* logits = g.add_op("Gemm", {flat, fw, fb}, {{"transB", int64_t{1}}}, "fc");
  g.set_outputs({logits});
  infer_shapes(g);
  return g;
}

/// Adds x @ W + b with W [k, n] and returns the output.
inline Value* linear(Graph& g, Value* x, int64_t k, int64_t n, uint64_t seed,
                     const std::string& name) {
  Value* w = g.add_initializer(name + "_w", scaled_random({k, n}, seed, std::sqrt(3.f / k)));
  Value* b = g.add_initializer(name + "_b", scaled_random({n}, seed + 1, 0.05f));
  return g.add_op("Add", {g.add_op("MatMul", {x, w}, {}, name), b}, {}, name + "_bias");
}

/// A pre-LayerNorm transformer encoder: `layers` blocks of multi-head self-attention (`heads`
/// heads) and a GELU feed-forward network of width 4*`hidden`, each with a residual Add, then a
/// final LayerNorm. Input and output [N, seq, hidden].
inline Graph transformer_encoder(int64_t seq = 128, int64_t hidden = 256, int layers = 4,
                                 int64_t heads = 4, uint64_t seed = 7) {
  Graph g("transformer_encoder");
  Value* x = g.add_input("tokens", batch_type({seq, hidden}));
  const int64_t d = hidden / heads;
  Value* split_shape =
      g.add_initializer("split_heads", Tensor::from_vector<int64_t>({4}, {0, 0, heads, d}));
  Value* merge_shape =
      g.add_initializer("merge_heads", Tensor::from_vector<int64_t>({3}, {0, 0, hidden}));
  Value* inv_sqrt_d = g.add_initializer("inv_sqrt_d", Tensor::scalar(1.f / std::sqrt(float(d))));
  auto layer_norm = [&](Value* v, const std::string& name) {
    Value* s = g.add_initializer(
        name + "_scale", Tensor::from_vector<float>({hidden}, std::vector<float>(hidden, 1.f)));
    Value* b = g.add_initializer(name + "_bias", scaled_random({hidden}, seed + 5, 0.02f));
    return g.add_op("LayerNormalization", {v, s, b}, {{"axis", int64_t{-1}}}, name);
  };
  uint64_t sd = seed;
  for (int l = 0; l < layers; ++l) {
    const std::string p = "l" + std::to_string(l);
    Value* h = layer_norm(x, p + "_ln1");
    auto heads_of = [&](const std::string& name, std::vector<int64_t> perm) {
      Value* v = linear(g, h, hidden, hidden, sd += 10, p + "_" + name);
      Value* r = g.add_op("Reshape", {v, split_shape}, {}, p + "_" + name + "_split");
      return g.add_op("Transpose", {r}, {{"perm", perm}}, p + "_" + name + "_t");
    };
    Value* q = heads_of("q", {0, 2, 1, 3});
    Value* k = heads_of("k", {0, 2, 3, 1});
    Value* v = heads_of("v", {0, 2, 1, 3});
    Value* scores =
        g.add_op("Mul", {g.add_op("MatMul", {q, k}, {}, p + "_qk"), inv_sqrt_d}, {}, p + "_scale");
    Value* probs = g.add_op("Softmax", {scores}, {{"axis", int64_t{-1}}}, p + "_softmax");
    Value* ctx = g.add_op("MatMul", {probs, v}, {}, p + "_ctx");
    Value* merged = g.add_op(
        "Reshape",
        {g.add_op("Transpose", {ctx}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}}, p + "_ctx_t"),
         merge_shape},
        {}, p + "_merge");
    Value* attn = linear(g, merged, hidden, hidden, sd += 10, p + "_o");
    x = g.add_op("Add", {attn, x}, {}, p + "_res1");
    Value* f = layer_norm(x, p + "_ln2");
    f = g.add_op("Gelu", {linear(g, f, hidden, 4 * hidden, sd += 10, p + "_ff1")}, {}, p + "_gelu");
    f = linear(g, f, 4 * hidden, hidden, sd += 10, p + "_ff2");
    x = g.add_op("Add", {f, x}, {}, p + "_res2");
  }
  g.set_outputs({layer_norm(x, "final_ln")});
  infer_shapes(g);
  return g;
}

} // namespace shrink::testing
