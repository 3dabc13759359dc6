// Single-op steps of the oneDNN runtime (lib/exec/onednn_ops.cpp): pooling, eltwise, binary,
// softmax, normalization, Concat, Transpose, QuantizeLinear and DequantizeLinear against the
// reference executor.

#include "exec/onednn_test_util.h"
#include "exec/qdq_graphs.h"

#include "shrink/ir/shape_inference.h"

using namespace shrink;
using namespace shrink::testing;

namespace {

// One node over graph inputs of the given shapes (extra initializers allowed).
struct OneOp {
  Graph g{"op"};
  std::vector<Tensor> inputs;
  OneOp(const std::string& op, const std::vector<Shape>& shapes, Attributes attrs = {},
        const std::vector<Tensor>& constants = {}) {
    std::vector<Value*> ins;
    for (size_t i = 0; i < shapes.size(); ++i) {
      ins.push_back(g.add_input("in" + std::to_string(i), TensorType::of(DType::f32, shapes[i])));
      inputs.push_back(scaled_random(shapes[i], 10 + i, 2.f));
    }
    for (size_t i = 0; i < constants.size(); ++i)
      ins.push_back(g.add_initializer("c" + std::to_string(i), constants[i]));
    g.set_outputs({g.add_op(op, ins, attrs, "op")});
    infer_shapes(g);
  }
};

std::string only_kind(const OneDnnExecutor& exec) {
  const OneDnnPlanInfo info = exec.plan_info();
  REQUIRE(info.steps.size() == 1);
  INFO(info.str());
  CHECK(info.steps[0].fallback_reason.empty());
  return info.steps[0].kind;
}

} // namespace

TEST_CASE("pooling matches the reference", "[onednn]") {
  struct Case {
    std::string op;
    Shape x;
    Attributes attrs;
  };
  using V = std::vector<int64_t>;
  const Case c = GENERATE(
      Case{"MaxPool", {2, 3, 8, 8}, {{"kernel_shape", V{2, 2}}, {"strides", V{2, 2}}}},
      Case{"MaxPool",
           {1, 4, 9, 7},
           {{"kernel_shape", V{3, 3}}, {"strides", V{2, 2}}, {"pads", V{1, 1, 1, 1}}}},
      Case{"MaxPool",
           {1, 4, 9, 7},
           {{"kernel_shape", V{3, 3}}, {"strides", V{2, 2}}, {"ceil_mode", int64_t{1}}}},
      Case{"MaxPool", {1, 2, 10, 10}, {{"kernel_shape", V{2, 2}}, {"dilations", V{2, 2}}}},
      Case{"MaxPool",
           {2, 3, 7, 7},
           {{"kernel_shape", V{3, 3}}, {"auto_pad", std::string("SAME_UPPER")}}},
      Case{"MaxPool", {2, 3, 17}, {{"kernel_shape", V{3}}, {"strides", V{2}}}},
      Case{"AveragePool", {2, 3, 8, 8}, {{"kernel_shape", V{3, 3}}, {"pads", V{1, 1, 1, 1}}}},
      Case{"AveragePool",
           {2, 3, 8, 8},
           {{"kernel_shape", V{3, 3}}, {"pads", V{1, 1, 1, 1}}, {"count_include_pad", int64_t{1}}}},
      Case{"AveragePool",
           {1, 3, 9, 9},
           {{"kernel_shape", V{2, 2}}, {"strides", V{2, 2}}, {"ceil_mode", int64_t{1}}}},
      Case{"GlobalAveragePool", {3, 5, 7, 6}, {}}, Case{"GlobalAveragePool", {2, 8, 1, 1}, {}});
  INFO(c.op << " " << shape_str(c.x));
  OneOp t(c.op, {c.x}, c.attrs);
  OneDnnExecutor exec;
  check_parity(t.g, t.inputs, exec);
  CHECK(only_kind(exec) == "pool");
}

TEST_CASE("eltwise ops match the reference", "[onednn]") {
  const std::string op = GENERATE(as<std::string>{}, "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu",
                                  "HardSwish", "Abs", "Exp", "Neg", "Clip");
  const Shape s = GENERATE(Shape{7}, Shape{2, 3, 5, 4});
  INFO(op << " " << shape_str(s));
  std::vector<Tensor> constants;
  if (op == "Clip") constants = {Tensor::scalar(-0.5f), Tensor::scalar(1.5f)};
  OneOp t(op, {s}, op == "LeakyRelu" ? Attributes{{"alpha", 0.2f}} : Attributes{}, constants);
  OneDnnExecutor exec;
  check_parity(t.g, t.inputs, exec);
  CHECK(only_kind(exec) == "eltwise");
}

TEST_CASE("eltwise ops with restricted domains match the reference", "[onednn]") {
  const std::string op = GENERATE(as<std::string>{}, "Sqrt", "Log", "Reciprocal");
  Graph g("op");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {3, 11}));
  g.set_outputs({g.add_op(op, {g.add_op("Exp", {x})})});
  infer_shapes(g);
  OneDnnExecutor exec;
  check_parity(g, {scaled_random({3, 11}, 1, 2.f)}, exec);
  CHECK(exec.plan_info().count("eltwise") == 2);
}

TEST_CASE("binary ops broadcast like numpy", "[onednn]") {
  const std::string op = GENERATE(as<std::string>{}, "Add", "Sub", "Mul", "Div", "Max", "Min");
  struct Case {
    Shape a, b;
    bool accelerated;
  };
  const Case c =
      GENERATE(Case{{2, 3, 4, 5}, {2, 3, 4, 5}, true}, Case{{2, 3, 4, 5}, {3, 1, 1}, true},
               Case{{2, 3, 4, 5}, {5}, true}, Case{{4, 5}, {2, 3, 4, 5}, true},
               Case{{}, {3, 2}, true}, Case{{3, 1}, {1, 4}, false});
  const bool commutative = op != "Sub" && op != "Div";
  INFO(op << " " << shape_str(c.a) << " " << shape_str(c.b));
  OneOp t(op, {c.a, c.b});
  if (op == "Div") {
    // Keep divisors away from zero.
    float* p = t.inputs[1].data_mutable<float>();
    for (int64_t i = 0; i < t.inputs[1].numel(); ++i)
      p[i] = p[i] >= 0.f ? p[i] + 0.5f : p[i] - 0.5f;
  }
  OneDnnExecutor exec;
  check_parity(t.g, t.inputs, exec);
  const bool first_full = c.a.size() >= c.b.size() && c.accelerated &&
                          (c.a == c.b || shape_numel(c.a) >= shape_numel(c.b));
  const OneDnnPlanInfo info = exec.plan_info();
  REQUIRE(info.steps.size() == 1);
  CHECK(info.steps[0].kind == "binary");
  // oneDNN needs the first operand at full size; the runtime swaps commutative operands and
  // falls back to the reference kernel otherwise.
  const bool expect_fallback = !c.accelerated || (!first_full && !commutative);
  CHECK(info.steps[0].fallback_reason.empty() == !expect_fallback);
}

TEST_CASE("binary ops fuse the activations that follow them", "[onednn]") {
  Graph g("add_relu");
  Value* a = g.add_input("a", TensorType::of(DType::f32, {2, 8, 5, 5}));
  Value* b = g.add_input("b", TensorType::of(DType::f32, {2, 8, 5, 5}));
  g.set_outputs({g.add_op("Sigmoid", {g.add_op("Relu", {g.add_op("Add", {a, b})})})});
  infer_shapes(g);
  OneDnnExecutor exec;
  check_parity(g, {scaled_random({2, 8, 5, 5}, 1, 1.f), scaled_random({2, 8, 5, 5}, 2, 1.f)}, exec);
  CHECK(only_kind(exec) == "binary");
  CHECK(exec.plan_info().steps[0].post_ops == std::vector<std::string>{"relu", "sigmoid"});
}

TEST_CASE("softmax and log-softmax over any axis", "[onednn]") {
  const std::string op = GENERATE(as<std::string>{}, "Softmax", "LogSoftmax");
  const int64_t axis = GENERATE(-1, 0, 1, 2);
  OneOp t(op, {{3, 4, 10}}, {{"axis", axis}});
  OneDnnExecutor exec;
  check_parity(t.g, t.inputs, exec);
  CHECK(only_kind(exec) == "softmax");
}

TEST_CASE("layer normalization over trailing axes", "[onednn]") {
  const int64_t axis = GENERATE(-1, -2, 1);
  const bool with_bias = GENERATE(true, false);
  const Shape x = {2, 6, 4, 8};
  int64_t inner = 1;
  const int64_t a = axis < 0 ? axis + 4 : axis;
  Shape ps(x.begin() + a, x.end());
  for (int64_t d : ps)
    inner *= d;
  std::vector<Tensor> constants = {scaled_random(ps, 3, 1.f)};
  if (with_bias) constants.push_back(scaled_random(ps, 4, 1.f));
  OneOp t("LayerNormalization", {x}, {{"axis", axis}, {"epsilon", 1e-4f}}, constants);
  OneDnnExecutor exec;
  check_parity(t.g, t.inputs, exec);
  CHECK(only_kind(exec) == "layernorm");
  CHECK(inner > 0);
}

TEST_CASE("batch normalization (inference) with and without a fused Relu", "[onednn]") {
  const bool relu = GENERATE(false, true);
  Graph g("bn");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {2, 6, 5, 5}));
  Tensor var = scaled_random({6}, 1, 0.5f);
  for (int64_t i = 0; i < 6; ++i)
    var.data_mutable<float>()[i] += 1.f;
  Value* y = g.add_op("BatchNormalization", {x, g.add_initializer("s", scaled_random({6}, 2, 1.f)),
                                             g.add_initializer("b", scaled_random({6}, 3, 1.f)),
                                             g.add_initializer("m", scaled_random({6}, 4, 1.f)),
                                             g.add_initializer("v", var)});
  if (relu) y = g.add_op("Relu", {y});
  g.set_outputs({y});
  infer_shapes(g);
  OneDnnExecutor exec;
  check_parity(g, {scaled_random({2, 6, 5, 5}, 5, 2.f)}, exec);
  CHECK(only_kind(exec) == "batchnorm");
}

TEST_CASE("concat along any axis, repeated inputs included", "[onednn]") {
  const int64_t axis = GENERATE(0, 1, -1);
  Graph g("concat");
  Value* a = g.add_input("a", TensorType::of(DType::f32, {2, 3, 4}));
  Value* b = g.add_input("b", TensorType::of(DType::f32, {2, 3, 4}));
  g.set_outputs({g.add_op("Concat", {a, b, a}, {{"axis", axis}})});
  infer_shapes(g);
  OneDnnExecutor exec;
  check_parity(g, {scaled_random({2, 3, 4}, 1, 1.f), scaled_random({2, 3, 4}, 2, 1.f)}, exec);
  CHECK(only_kind(exec) == "concat");
}

TEST_CASE("transpose with any permutation", "[onednn]") {
  const std::vector<int64_t> perm =
      GENERATE(std::vector<int64_t>{1, 0, 2}, std::vector<int64_t>{0, 2, 3, 1},
               std::vector<int64_t>{3, 2, 1, 0}, std::vector<int64_t>{0, 2, 1, 3});
  const Shape x = perm.size() == 3 ? Shape{3, 5, 7} : Shape{2, 3, 4, 5};
  OneOp t("Transpose", {x}, {{"perm", perm}});
  OneDnnExecutor exec;
  check_parity(t.g, t.inputs, exec, 0.0);
  CHECK(only_kind(exec) == "transpose");
}

TEST_CASE("transpose of a blocked conv output", "[onednn]") {
  Graph g("conv_t");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {2, 16, 6, 6}));
  Value* c = g.add_op("Conv", {x, g.add_initializer("w", scaled_random({32, 16, 3, 3}, 1, 0.3f))},
                      {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  g.set_outputs({g.add_op("Transpose", {c}, {{"perm", std::vector<int64_t>{0, 2, 3, 1}}})});
  infer_shapes(g);
  OneDnnExecutor exec;
  check_parity(g, {scaled_random({2, 16, 6, 6}, 2, 1.f)}, exec);
  CHECK(exec.plan_info().count("transpose") == 1);
}

TEST_CASE("QuantizeLinear and DequantizeLinear steps", "[onednn]") {
  const DType qt = GENERATE(DType::u8, DType::i8);
  const int32_t zp = qt == DType::u8 ? GENERATE(0, 100) : GENERATE(0, -7);
  Graph g("qdq");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {4, 33}));
  Value* s = g.add_initializer("s", Tensor::scalar(0.0173f));
  Value* z = g.add_initializer("z", shrink::testing::detail::scalar_of(qt, zp));
  Value* q = g.add_op("QuantizeLinear", {x, s, z}, {}, "q");
  Value* dq = g.add_op("DequantizeLinear", {q, s, z}, {}, "dq");
  g.set_outputs({q, g.add_op("Sigmoid", {dq})});
  infer_shapes(g);
  const Tensor in = scaled_random({4, 33}, 1, 3.f);
  ReferenceExecutor ref;
  OneDnnExecutor exec;
  const std::vector<Tensor> want = ref.run(g, {in});
  const std::vector<Tensor> got = exec.run(g, {in});
  INFO(exec.plan_info().str());
  CHECK(exec.plan_info().count("quantize") == 1);
  CHECK(exec.plan_info().count("dequantize") == 1);
  check_within_steps(got[0], want[0], 1.0);
  CHECK(max_abs_diff(got[1], want[1]) <= 0.0173 * 0.25 + 1e-6);
}

TEST_CASE("int8 pooling between QDQ pairs pools the int8 values", "[onednn]") {
  const std::string op = GENERATE(as<std::string>{}, "MaxPool", "AveragePool", "GlobalAveragePool");
  Graph g("qpool");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {2, 4, 8, 8}));
  Attributes a;
  if (op != "GlobalAveragePool")
    a = {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}};
  Value* p = g.add_op(op, {x}, a, "pool");
  g.set_outputs({g.add_op("Relu", {p})});
  infer_shapes(g);
  std::map<std::string, ActQuant> params = {{"x", act_quant_for_range(-2.f, 2.f)},
                                            {p->name(), act_quant_for_range(-2.f, 2.f)}};
  const Graph q = make_qdq(g, params);
  const Tensor in = scaled_random({2, 4, 8, 8}, 3, 2.f);
  ReferenceExecutor ref;
  OneDnnExecutor exec;
  const std::vector<Tensor> want = ref.run(q, {in});
  const std::vector<Tensor> got = exec.run(q, {in});
  INFO(exec.plan_info().str());
  CHECK(exec.plan_info().count("int8 pool") == 1);
  CHECK(max_abs_diff(got[0], want[0]) <= params["x"].scale * 1.001);
}

TEST_CASE("an activation between int8 tensors runs as a table, bit-exact", "[onednn]") {
  const std::string op = GENERATE(as<std::string>{}, "Gelu", "Sigmoid", "Tanh", "Erf");
  const DType in_type = GENERATE(DType::u8, DType::i8);
  const DType out_type = op == "Gelu" ? DType::u8 : DType::i8;
  // 37 columns leave a partial 64-byte block; the large shape is split over threads.
  const Shape shape = GENERATE(Shape{3, 37}, Shape{2, 300, 700});
  const int threads = GENERATE(1, 2);
  CAPTURE(op, dtype_name(in_type), shape.size(), threads);
  // The graph reads int8 codes, so that only the table step differs from the reference.
  Graph g("table");
  Value* x = g.add_input("x", TensorType::of(in_type, shape));
  auto zero_point = [&](int32_t zp, DType t, const std::string& name) {
    Tensor z(t, {});
    if (t == DType::u8)
      *z.data_mutable<uint8_t>() = static_cast<uint8_t>(zp);
    else
      *z.data_mutable<int8_t>() = static_cast<int8_t>(zp);
    return g.add_initializer(name, z);
  };
  Value* xs = g.add_initializer("x_s", Tensor::scalar(4.f / 127.f));
  Value* xz = zero_point(in_type == DType::u8 ? 128 : 0, in_type, "x_z");
  Value* h = g.add_op("DequantizeLinear", {x, xs, xz}, {}, "x_dq");
  Value* a = g.add_op(op, {h}, {}, "act");
  Value* as =
      g.add_initializer("a_s", Tensor::scalar(out_type == DType::u8 ? 4.f / 255.f : 1.f / 127.f));
  Value* az = zero_point(0, out_type, "a_z");
  Value* aq = g.add_op("QuantizeLinear", {a, as, az}, {}, "a_q");
  g.set_outputs({g.add_op("DequantizeLinear", {aq, as, az}, {}, "a_dq")});
  infer_shapes(g);
  Tensor in(in_type, shape);
  uint64_t state = 12345;
  auto* codes = static_cast<uint8_t*>(in.raw_mutable());
  for (int64_t i = 0; i < in.numel(); ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    codes[i] = static_cast<uint8_t>(state >> 56);
  }
  ReferenceExecutor ref;
  OneDnnOptions o;
  o.threads = threads;
  OneDnnExecutor exec(o);
  const Tensor want = ref.run(g, {in})[0];
  const Tensor got = exec.run(g, {in})[0];
  const OneDnnPlanInfo info = exec.plan_info();
  INFO(info.str());
  REQUIRE(info.count("int8 table") == 1);
  for (const OneDnnStepInfo& s : info.steps)
    if (s.kind == "int8 table") {
      CHECK(s.fallback_reason.empty());
      CHECK(s.nodes == std::vector<std::string>{"x_dq", "act", "a_q"});
    }
  CHECK(max_abs_diff(got, want) == 0.0);
}

TEST_CASE("a table step needs int8 on both sides", "[onednn]") {
  // Without the QuantizeLinear after it, Gelu reads the dequantized value and runs in float.
  Graph g("no_table");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {4, 16}));
  Value* s = g.add_initializer("s", Tensor::scalar(0.05f));
  Value* q = g.add_op("QuantizeLinear", {x, s}, {}, "q");
  Value* dq = g.add_op("DequantizeLinear", {q, s}, {}, "dq");
  g.set_outputs({g.add_op("Gelu", {dq}, {}, "act")});
  infer_shapes(g);
  const Tensor in = scaled_random({4, 16}, 3, 2.f);
  OneDnnExecutor exec;
  const Tensor got = exec.run(g, {in})[0];
  CHECK(exec.plan_info().count("int8 table") == 0);
  ReferenceExecutor ref;
  CHECK(max_abs_diff(got, ref.run(g, {in})[0]) <= 1e-5);
}
