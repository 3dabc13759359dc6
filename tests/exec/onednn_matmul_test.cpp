// MatMul and Gemm steps of the oneDNN runtime (lib/exec/onednn_matmul.cpp): fp32 and int8 parity
// with the reference executor and fused post-ops.

#include "exec/onednn_test_util.h"
#include "exec/qdq_graphs.h"

#include "shrink/ir/shape_inference.h"

using namespace shrink;
using namespace shrink::testing;

TEST_CASE("fp32 MatMul with constant weights, bias and activations", "[onednn]") {
  const Shape xs = GENERATE(Shape{5, 16}, Shape{3, 7, 16}, Shape{2, 3, 4, 16});
  const std::string post = GENERATE(as<std::string>{}, "none", "bias", "bias_relu", "bias_gelu",
                                    "gelu_tanh", "sigmoid", "residual", "row_add", "scale");
  INFO(shape_str(xs) << " " << post);
  Graph g("mm");
  Value* x = g.add_input("x", TensorType::of(DType::f32, xs));
  Shape out = xs;
  out.back() = 24;
  Value* r = post == "residual" ? g.add_input("r", TensorType::of(DType::f32, out)) : nullptr;
  Value* w = g.add_initializer("w", scaled_random({16, 24}, 1, 0.3f));
  Value* y = g.add_op("MatMul", {x, w});
  if (post.rfind("bias", 0) == 0)
    y = g.add_op("Add", {y, g.add_initializer("b", scaled_random({24}, 2, 1.f))});
  if (post == "bias_relu") y = g.add_op("Relu", {y});
  if (post == "bias_gelu") y = g.add_op("Gelu", {y});
  if (post == "gelu_tanh") y = g.add_op("Gelu", {y}, {{"approximate", std::string("tanh")}});
  if (post == "sigmoid") y = g.add_op("Sigmoid", {y});
  if (post == "residual") y = g.add_op("Add", {r, y});
  if (post == "row_add")
    y = g.add_op("Add", {y, g.add_initializer("rw", scaled_random({1, 24}, 3, 1.f))});
  if (post == "scale") y = g.add_op("Div", {y, g.add_initializer("d", Tensor::scalar(8.f))});
  g.set_outputs({y});
  infer_shapes(g);
  std::vector<Tensor> inputs = {scaled_random(xs, 4, 1.f)};
  if (r) inputs.push_back(scaled_random(out, 5, 1.f));
  OneDnnExecutor exec;
  check_parity(g, inputs, exec);
  const OneDnnPlanInfo info = exec.plan_info();
  INFO(info.str());
  REQUIRE(info.steps.size() == 1);
  CHECK(info.steps[0].kind == "matmul");
  CHECK(info.steps[0].fallback_reason.empty());
}

TEST_CASE("fp32 batched MatMul of two activations with broadcasting", "[onednn]") {
  struct Case {
    Shape a, b;
  };
  const Case c =
      GENERATE(Case{{2, 3, 5, 8}, {2, 3, 8, 6}}, Case{{4, 5, 8}, {4, 8, 3}},
               Case{{2, 1, 5, 8}, {1, 3, 8, 6}}, Case{{3, 5, 8}, {8, 6}}, Case{{5, 8}, {2, 8, 6}});
  Graph g("bmm");
  Value* a = g.add_input("a", TensorType::of(DType::f32, c.a));
  Value* b = g.add_input("b", TensorType::of(DType::f32, c.b));
  Value* s =
      g.add_op("Mul", {g.add_op("MatMul", {a, b}), g.add_initializer("k", Tensor::scalar(0.125f))});
  g.set_outputs({g.add_op("Softmax", {s}, {{"axis", int64_t{-1}}})});
  infer_shapes(g);
  OneDnnExecutor exec;
  check_parity(g, {scaled_random(c.a, 1, 1.f), scaled_random(c.b, 2, 1.f)}, exec);
  const OneDnnPlanInfo info = exec.plan_info();
  INFO(info.str());
  CHECK(info.count("matmul") == 1);
  CHECK(info.count("softmax") == 1);
  CHECK(info.steps[0].post_ops == std::vector<std::string>{"mul-scalar"});
}

TEST_CASE("fp32 Gemm: transposes, alpha, beta and every form of C", "[onednn]") {
  const int trans_a = GENERATE(0, 1);
  const int trans_b = GENERATE(0, 1);
  const std::string c_form =
      GENERATE(as<std::string>{}, "none", "row", "full", "column", "scalar", "runtime");
  const float alpha = GENERATE(1.f, 0.5f);
  const float beta = c_form == "runtime" ? 1.f : 2.f;
  INFO("transA " << trans_a << " transB " << trans_b << " C " << c_form << " alpha " << alpha);
  const int64_t m = 6, k = 10, n = 7;
  Graph g("gemm");
  Value* a = g.add_input("a", TensorType::of(DType::f32, trans_a ? Shape{k, m} : Shape{m, k}));
  Value* b = g.add_initializer("b", scaled_random(trans_b ? Shape{n, k} : Shape{k, n}, 1, 0.5f));
  std::vector<Value*> ins = {a, b};
  Shape cs;
  if (c_form == "row") cs = {n};
  if (c_form == "full") cs = {m, n};
  if (c_form == "column") cs = {m, 1};
  if (c_form == "scalar") cs = {1};
  if (c_form == "runtime") {
    ins.push_back(g.add_input("c", TensorType::of(DType::f32, {m, n})));
  } else if (c_form != "none") {
    ins.push_back(g.add_initializer("c", scaled_random(cs, 2, 1.f)));
  }
  g.set_outputs({g.add_op("Relu", {g.add_op("Gemm", ins,
                                            {{"transA", int64_t{trans_a}},
                                             {"transB", int64_t{trans_b}},
                                             {"alpha", alpha},
                                             {"beta", beta}})})});
  infer_shapes(g);
  std::vector<Tensor> inputs = {scaled_random(trans_a ? Shape{k, m} : Shape{m, k}, 3, 1.f)};
  if (c_form == "runtime") inputs.push_back(scaled_random({m, n}, 4, 1.f));
  OneDnnExecutor exec;
  check_parity(g, inputs, exec);
  const OneDnnPlanInfo info = exec.plan_info();
  INFO(info.str());
  REQUIRE(info.steps.size() == 1);
  CHECK(info.steps[0].kind == "matmul");
  CHECK(info.steps[0].fallback_reason.empty());
}

TEST_CASE("fp32 Gemm and MatMul with weights computed at run time", "[onednn]") {
  Graph g("runtime_weights");
  Value* a = g.add_input("a", TensorType::of(DType::f32, {4, 9}));
  Value* b = g.add_input("b", TensorType::of(DType::f32, {5, 9}));
  Value* c = g.add_initializer("c", scaled_random({5}, 1, 1.f));
  Value* y = g.add_op("Gemm", {a, b, c}, {{"transB", int64_t{1}}, {"alpha", 0.25f}});
  Value* z = g.add_op("MatMul", {g.add_op("Transpose", {y}), a}); // [5,4] x [4,9]
  g.set_outputs({y, z});
  infer_shapes(g);
  OneDnnExecutor exec;
  check_parity(g, {scaled_random({4, 9}, 2, 1.f), scaled_random({5, 9}, 3, 1.f)}, exec);
  CHECK(exec.plan_info().count("matmul") == 2);
  CHECK(exec.plan_info().count("transpose") == 1);
}

TEST_CASE("1-D MatMul operands fall back to the reference kernel", "[onednn]") {
  Graph g("vec");
  Value* a = g.add_input("a", TensorType::of(DType::f32, {6}));
  Value* w = g.add_initializer("w", scaled_random({6, 3}, 1, 1.f));
  g.set_outputs({g.add_op("MatMul", {a, w})});
  infer_shapes(g);
  OneDnnExecutor exec;
  check_parity(g, {scaled_random({6}, 2, 1.f)}, exec);
  const OneDnnPlanInfo info = exec.plan_info();
  REQUIRE(info.steps.size() == 1);
  CHECK_FALSE(info.steps[0].fallback_reason.empty());
}

// ---- int8 --------------------------------------------------------------------------------------

namespace {

// x -> MatMul(W1)+b1 -> act -> MatMul(W2)+b2 [-> Add residual]; after quantization the first
// MatMul requantizes to u8 (its output feeds the second).
Graph mlp(const Shape& xs, const std::string& act, bool gemm, bool residual) {
  Graph g("mlp");
  Value* x = g.add_input("x", TensorType::of(DType::f32, xs));
  const int64_t k = xs.back();
  Value* h;
  if (gemm) {
    h = g.add_op("Gemm",
                 {x, g.add_initializer("w1", scaled_random({32, k}, 1, 0.3f)),
                  g.add_initializer("b1", scaled_random({32}, 2, 0.3f))},
                 {{"transB", int64_t{1}}}, "fc1");
  } else {
    h = g.add_op("Add",
                 {g.add_op("MatMul", {x, g.add_initializer("w1", scaled_random({k, 32}, 1, 0.3f))},
                           {}, "fc1"),
                  g.add_initializer("b1", scaled_random({32}, 2, 0.3f))});
  }
  if (act == "relu") h = g.add_op("Relu", {h}, {}, "act");
  if (act == "gelu") h = g.add_op("Gelu", {h}, {}, "act");
  Value* y;
  if (gemm) {
    y = g.add_op("Gemm",
                 {h, g.add_initializer("w2", scaled_random({k, 32}, 3, 0.3f)),
                  g.add_initializer("b2", scaled_random({k}, 4, 0.3f))},
                 {{"transB", int64_t{1}}}, "fc2");
  } else {
    y = g.add_op("Add",
                 {g.add_op("MatMul", {h, g.add_initializer("w2", scaled_random({32, k}, 3, 0.3f))},
                           {}, "fc2"),
                  g.add_initializer("b2", scaled_random({k}, 4, 0.3f))});
  }
  if (residual) y = g.add_op("Add", {y, x});
  g.set_outputs({y});
  infer_shapes(g);
  return g;
}

} // namespace

TEST_CASE("int8 QDQ MatMul and Gemm fuse with bias, activation and requantization", "[onednn]") {
  const bool gemm = GENERATE(false, true);
  const std::string act = GENERATE(as<std::string>{}, "none", "relu", "gelu");
  const bool residual = GENERATE(false, true);
  const DType adt = GENERATE(DType::u8, DType::i8);
  const Shape xs = gemm ? Shape{12, 24} : GENERATE(Shape{12, 24}, Shape{3, 5, 24});
  INFO((gemm ? "Gemm " : "MatMul ")
       << shape_str(xs) << " " << act << (residual ? " residual" : "") << " " << dtype_name(adt));
  const Graph fp32 = mlp(xs, act, gemm, residual);
  ReferenceExecutor ref;
  const Graph q = quantize_for_test(fp32, ref, {{scaled_random(xs, 1, 1.f)}}, adt);
  std::string h_q;
  for (const Node* n : q.nodes())
    if (n->op() == "QuantizeLinear" && n->input(0)->name() != "x") h_q = n->output()->name();
  REQUIRE_FALSE(h_q.empty());
  const std::vector<Tensor> x = {scaled_random(xs, 2, 1.f)};
  OneDnnExecutor exec;
  const std::vector<Tensor> want = ref.run(q, x, {h_q});
  const std::vector<Tensor> got = exec.run(q, x, {h_q});
  const OneDnnPlanInfo info = exec.plan_info();
  INFO(info.str());
  CHECK(info.count("int8 matmul") == 2);
  CHECK(info.count("reference") == 0);
  for (const OneDnnStepInfo& s : info.steps)
    CHECK(s.fallback_reason.empty());
  check_within_steps(got[1], want[1], 1.0);
  CHECK(max_relative_error(got[0], want[0]) < 0.02);
}

TEST_CASE("int8 MatMul of two s8 activations", "[onednn]") {
  // Symmetric s8 activations on both sides run as a u8/s8 x s8 matmul with run-time weights.
  Graph g("qk");
  Value* a = g.add_input("a", TensorType::of(DType::f32, {2, 6, 16}));
  Value* b = g.add_input("b", TensorType::of(DType::f32, {2, 16, 6}));
  Value* s = g.add_op("MatMul", {a, b}, {}, "qk");
  g.set_outputs({g.add_op("Softmax", {s}, {{"axis", int64_t{-1}}})});
  infer_shapes(g);
  std::map<std::string, ActQuant> params = {{"a", act_quant_for_range(-1.f, 1.f, DType::u8)},
                                            {"b", act_quant_for_range(-1.f, 1.f, DType::i8)}};
  const Graph q = make_qdq(g, params);
  OneDnnExecutor exec;
  check_parity(q, {scaled_random({2, 6, 16}, 1, 1.f), scaled_random({2, 16, 6}, 2, 1.f)}, exec,
               1e-4);
  CHECK(exec.plan_info().count("int8 matmul") == 1);
}
