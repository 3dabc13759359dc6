#include "io_test_graphs.h"

#include "io_test_support.h"

namespace shrink::test {

namespace {
TensorType batch_type(const std::vector<int64_t>& rest) {
  std::vector<Dim> dims{Dim::sym("N")};
  for (int64_t d : rest)
    dims.push_back(Dim::known(d));
  return TensorType{DType::f32, dims};
}

Value* weight(Graph& g, const std::string& name, const Shape& shape, uint64_t seed,
              float scale = 0.3f) {
  return g.add_initializer(name, random_tensor(shape, seed, -scale, scale));
}

Value* i64s(Graph& g, const std::string& name, const std::vector<int64_t>& v) {
  return g.add_initializer(name, Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v));
}
} // namespace

Graph residual_cnn() {
  Graph g("residual_cnn");
  Value* x = g.add_input("x", batch_type({3, 8, 8}));
  Attributes pad1{{"pads", std::vector<int64_t>{1, 1, 1, 1}}};
  Value* c1 = g.add_op("Conv", {x, weight(g, "w1", {8, 3, 3, 3}, 1), weight(g, "b1", {8}, 2)}, pad1,
                       "conv1");
  Value* r1 = g.add_op("Relu", {c1}, {}, "relu1");
  Value* c2 = g.add_op("Conv", {r1, weight(g, "w2", {8, 8, 3, 3}, 3)}, pad1, "conv2");
  Value* bn = g.add_op("BatchNormalization",
                       {c2, g.add_initializer("bn_scale", random_tensor({8}, 4, 0.5f, 1.5f)),
                        weight(g, "bn_bias", {8}, 5), weight(g, "bn_mean", {8}, 6, 0.1f),
                        g.add_initializer("bn_var", random_tensor({8}, 7, 0.5f, 1.5f))},
                       {{"epsilon", 1e-5f}}, "bn2");
  Value* sum = g.add_op("Add", {r1, bn}, {}, "residual");
  Value* r2 = g.add_op("Relu", {sum}, {}, "relu2");
  Value* p = g.add_op(
      "MaxPool", {r2},
      {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}},
      "pool");
  Value* gap = g.add_op("GlobalAveragePool", {p}, {}, "gap");
  Value* f = g.add_op("Flatten", {gap}, {{"axis", int64_t{1}}}, "flatten");
  Value* logits = g.add_op("Gemm", {f, weight(g, "fc_w", {10, 8}, 8), weight(g, "fc_b", {10}, 9)},
                           {{"transB", int64_t{1}}}, "fc");
  Value* y = g.add_op("Softmax", {logits}, {{"axis", int64_t{-1}}}, "softmax");
  g.set_outputs({y});
  g.rename(y, "y");
  return g;
}

Graph transformer_block() {
  Graph g("encoder_block");
  Value* x = g.add_input("x", batch_type({5, 16}));
  Value* qkv = g.add_op("Add",
                        {g.add_op("MatMul", {x, weight(g, "w_qkv", {16, 48}, 11)}, {}, "qkv_mm"),
                         weight(g, "b_qkv", {48}, 12, 0.1f)},
                        {}, "qkv");
  Node* split = g.add_node("Split", {qkv}, 3, {{"axis", int64_t{2}}, {"num_outputs", int64_t{3}}},
                           "split_qkv");
  Value* heads = i64s(g, "heads_shape", {0, 0, 2, 8});
  auto to_heads = [&](Value* v, const std::string& name, std::vector<int64_t> perm) {
    Value* r = g.add_op("Reshape", {v, heads}, {}, name + "_reshape");
    return g.add_op("Transpose", {r}, {{"perm", perm}}, name + "_transpose");
  };
  Value* q = to_heads(split->output(0), "q", {0, 2, 1, 3});
  Value* k = to_heads(split->output(1), "k", {0, 2, 3, 1});
  Value* v = to_heads(split->output(2), "v", {0, 2, 1, 3});
  Value* scores = g.add_op("Mul",
                           {g.add_op("MatMul", {q, k}, {}, "qk"),
                            g.add_initializer("attn_scale", Tensor::scalar(0.35355339f))},
                           {}, "scores");
  Value* probs = g.add_op("Softmax", {scores}, {{"axis", int64_t{-1}}}, "attn_softmax");
  Value* ctx = g.add_op("MatMul", {probs, v}, {}, "attn_v");
  Value* merged = g.add_op(
      "Reshape",
      {g.add_op("Transpose", {ctx}, {{"perm", std::vector<int64_t>{0, 2, 1, 3}}}, "ctx_transpose"),
       i64s(g, "merge_shape", {0, 0, 16})},
      {}, "ctx_reshape");
  Value* attn =
      g.add_op("Add",
               {g.add_op("MatMul", {merged, weight(g, "w_o", {16, 16}, 13)}, {}, "out_mm"),
                weight(g, "b_o", {16}, 14, 0.1f)},
               {}, "out_proj");
  Value* h = g.add_op("LayerNormalization",
                      {g.add_op("Add", {x, attn}, {}, "residual1"),
                       g.add_initializer("ln1_g", random_tensor({16}, 15, 0.8f, 1.2f)),
                       weight(g, "ln1_b", {16}, 16, 0.1f)},
                      {{"axis", int64_t{-1}}, {"epsilon", 1e-5f}}, "ln1");
  Value* ff = g.add_op("Add",
                       {g.add_op("MatMul", {h, weight(g, "w_ff1", {16, 32}, 17)}, {}, "ff1_mm"),
                        weight(g, "b_ff1", {32}, 18, 0.1f)},
                       {}, "ff1");
  Value* act = g.add_op("Gelu", {ff}, {}, "gelu");
  Value* ff2 = g.add_op("Add",
                        {g.add_op("MatMul", {act, weight(g, "w_ff2", {32, 16}, 19)}, {}, "ff2_mm"),
                         weight(g, "b_ff2", {16}, 20, 0.1f)},
                        {}, "ff2");
  Value* out = g.add_op("LayerNormalization",
                        {g.add_op("Add", {h, ff2}, {}, "residual2"),
                         g.add_initializer("ln2_g", random_tensor({16}, 21, 0.8f, 1.2f)),
                         weight(g, "ln2_b", {16}, 22, 0.1f)},
                        {{"axis", int64_t{-1}}, {"epsilon", 1e-5f}}, "ln2");
  Value* pooled = g.add_op("ReduceMean", {out},
                           {{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{0}}}, "pool");
  Value* un = g.add_op("Unsqueeze", {pooled}, {{"axes", std::vector<int64_t>{1}}}, "unsqueeze");
  Value* sq = g.add_op("Squeeze", {un}, {{"axes", std::vector<int64_t>{1}}}, "squeeze");
  Value* y = g.add_op("Clip", {sq}, {{"min", -1.5f}, {"max", 1.5f}}, "clip");
  g.set_outputs({y});
  g.rename(y, "y");
  return g;
}

Graph qdq_conv() {
  Graph g("qdq_conv");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {1, 3, 8, 8}));
  Value* xs = g.add_initializer("x_scale", Tensor::scalar(0.02f));
  Value* xz = g.add_initializer("x_zero", Tensor::from_vector<uint8_t>({}, {128}));
  Value* xq = g.add_op("QuantizeLinear", {x, xs, xz}, {}, "x_quant");
  Value* xd = g.add_op("DequantizeLinear", {xq, xs, xz}, {}, "x_dequant");
  std::vector<int8_t> wq(4 * 3 * 3 * 3);
  for (size_t i = 0; i < wq.size(); ++i)
    wq[i] = static_cast<int8_t>(static_cast<int>(i * 37 % 255) - 127);
  Value* w = g.add_initializer("w_q", Tensor::from_vector<int8_t>({4, 3, 3, 3}, wq));
  Value* ws =
      g.add_initializer("w_scale", Tensor::from_vector<float>({4}, {0.01f, 0.02f, 0.005f, 0.015f}));
  Value* wz = g.add_initializer("w_zero", Tensor::from_vector<int8_t>({4}, {0, 0, 0, 0}));
  Value* wd = g.add_op("DequantizeLinear", {w, ws, wz}, {{"axis", int64_t{0}}}, "w_dequant");
  Value* c = g.add_op("Conv", {xd, wd, g.add_initializer("bias", random_tensor({4}, 31))},
                      {{"pads", std::vector<int64_t>{1, 1, 1, 1}}}, "conv");
  Value* y = g.add_op("Relu", {c}, {}, "relu");
  g.set_outputs({y, xq});
  g.rename(y, "y");
  return g;
}

} // namespace shrink::test
