// GraphModule: lowering parity with the reference kernels for every op, gradients against
// finite differences, fake quantization, and write-back followed by ONNX export.

#include "shrink/core/error.h"
#include "shrink/exec/reference.h"
#include "shrink/io/model.h"
#include "shrink/ir/op_table.h"
#include "shrink/ir/text.h"
#include "shrink/torch/graph_module.h"

#include "support/test_graphs.h"

#include <catch2/catch.hpp>
#include <torch/nn/functional/loss.h>
#include <torch/optim/sgd.h>

#include <cstdio>
#include <optional>
#include <set>

using namespace shrink;
using namespace shrink::testing;

namespace {

Tensor f32(const Shape& s, uint64_t seed) {
  return Tensor::random(s, seed);
}

Tensor pos(const Shape& s, uint64_t seed) {
  Tensor t = Tensor::random(s, seed);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data_mutable<float>()[i] = std::fabs(t.data<float>()[i]) + 0.1f;
  return t;
}

Tensor i64(const Shape& s, const std::vector<int64_t>& v) {
  return Tensor::from_vector(s, v);
}
Tensor fv(const Shape& s, const std::vector<float>& v) {
  return Tensor::from_vector(s, v);
}
Tensor bools(const Shape& s, const std::vector<bool>& v) {
  return Tensor::from_vector(s, v);
}

struct OpCase {
  std::string name;
  std::string op;
  std::vector<std::optional<Tensor>> inputs;
  Attributes attrs;
  int outputs = 1;
};

std::vector<OpCase> op_cases() {
  const Tensor x234 = f32({2, 3, 4}, 1);
  const Tensor img = f32({1, 2, 6, 6}, 2);
  std::vector<OpCase> c = {
      {"Abs", "Abs", {x234}, {}},
      {"Add", "Add", {x234, f32({3, 4}, 3)}, {}},
      {"And",
       "And",
       {bools({4}, {true, true, false, false}), bools({4}, {true, false, true, false})},
       {}},
      {"ArgMax", "ArgMax", {f32({3, 5}, 4)}, {{"axis", int64_t{1}}}},
      {"ArgMax last",
       "ArgMax",
       {fv({2, 3}, {1, 3, 3, 2, 2, 0})},
       {{"axis", int64_t{1}}, {"keepdims", int64_t{0}}, {"select_last_index", int64_t{1}}}},
      {"AveragePool",
       "AveragePool",
       {img},
       {{"kernel_shape", std::vector<int64_t>{3, 3}},
        {"strides", std::vector<int64_t>{2, 2}},
        {"pads", std::vector<int64_t>{1, 1, 1, 1}}}},
      {"AveragePool include pad",
       "AveragePool",
       {img},
       {{"kernel_shape", std::vector<int64_t>{3, 3}},
        {"pads", std::vector<int64_t>{1, 1, 1, 1}},
        {"count_include_pad", int64_t{1}}}},
      {"AveragePool asymmetric",
       "AveragePool",
       {img},
       {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"pads", std::vector<int64_t>{0, 0, 1, 1}}}},
      {"BatchNormalization",
       "BatchNormalization",
       {f32({2, 3, 4, 4}, 5), f32({3}, 6), f32({3}, 7), f32({3}, 8), pos({3}, 9)},
       {{"epsilon", 1e-3f}}},
      {"Cast f32->i32", "Cast", {fv({4}, {-1.7f, 2.5f, 0.2f, 300.f})}, {{"to", int64_t{6}}}},
      {"Cast f32->u8", "Cast", {fv({3}, {-1.7f, 2.5f, 300.f})}, {{"to", int64_t{2}}}},
      {"Cast i64->f32", "Cast", {i64({3}, {1, -2, 7})}, {{"to", int64_t{1}}}},
      {"Ceil", "Ceil", {x234}, {}},
      {"Clip", "Clip", {x234, fv({}, {-0.3f}), fv({}, {0.5f})}, {}},
      {"Concat", "Concat", {x234, f32({2, 1, 4}, 10)}, {{"axis", int64_t{1}}}},
      {"Constant", "Constant", {}, {{"value", f32({2, 2}, 11)}}},
      {"ConstantOfShape", "ConstantOfShape", {i64({2}, {2, 3})}, {{"value", fv({1}, {1.5f})}}},
      {"Conv",
       "Conv",
       {f32({1, 2, 5, 5}, 12), f32({4, 2, 3, 3}, 13), f32({4}, 14)},
       {{"pads", std::vector<int64_t>{1, 1, 1, 1}}, {"strides", std::vector<int64_t>{2, 2}}}},
      {"Conv group asym",
       "Conv",
       {f32({1, 4, 5, 5}, 15), f32({4, 2, 3, 3}, 16)},
       {{"group", int64_t{2}}, {"pads", std::vector<int64_t>{0, 1, 2, 0}}}},
      {"Conv same_lower dilated",
       "Conv",
       {f32({1, 2, 6, 6}, 17), f32({3, 2, 3, 3}, 18)},
       {{"auto_pad", std::string("SAME_LOWER")},
        {"dilations", std::vector<int64_t>{2, 2}},
        {"strides", std::vector<int64_t>{2, 2}}}},
      {"Conv 1d", "Conv", {f32({2, 3, 7}, 19), f32({2, 3, 3}, 20)}, {}},
      {"ConvTranspose",
       "ConvTranspose",
       {f32({1, 2, 3, 3}, 21), f32({2, 3, 3, 3}, 22), f32({3}, 23)},
       {{"strides", std::vector<int64_t>{2, 2}},
        {"pads", std::vector<int64_t>{1, 1, 1, 1}},
        {"output_padding", std::vector<int64_t>{1, 1}}}},
      {"ConvTranspose same_upper",
       "ConvTranspose",
       {f32({1, 2, 3, 3}, 24), f32({2, 2, 2, 2}, 25)},
       {{"strides", std::vector<int64_t>{2, 2}}, {"auto_pad", std::string("SAME_UPPER")}}},
      {"Cos", "Cos", {x234}, {}},
      {"DequantizeLinear",
       "DequantizeLinear",
       {Tensor::from_vector<uint8_t>({4}, {0, 10, 128, 255}), fv({}, {0.05f}),
        Tensor::from_vector<uint8_t>({}, {128})},
       {}},
      {"Div", "Div", {x234, pos({4}, 26)}, {}},
      {"Dropout", "Dropout", {x234}, {{"ratio", 0.3f}}},
      {"Equal", "Equal", {fv({4}, {1, 2, 3, 4}), fv({4}, {1, 0, 3, 0})}, {}},
      {"Erf", "Erf", {x234}, {}},
      {"Exp", "Exp", {x234}, {}},
      {"Expand", "Expand", {f32({3, 1}, 27), i64({3}, {2, 3, 4})}, {}},
      {"Flatten", "Flatten", {x234}, {{"axis", int64_t{2}}}},
      {"Floor", "Floor", {x234}, {}},
      {"Gather", "Gather", {f32({4, 3}, 28), i64({2, 2}, {0, -1, 2, 1})}, {}},
      {"Gather axis 1", "Gather", {f32({4, 3}, 29), i64({}, {2})}, {{"axis", int64_t{1}}}},
      {"Gelu", "Gelu", {x234}, {}},
      {"Gelu tanh", "Gelu", {x234}, {{"approximate", std::string("tanh")}}},
      {"Gemm",
       "Gemm",
       {f32({3, 4}, 30), f32({5, 4}, 31), f32({5}, 32)},
       {{"transB", int64_t{1}}, {"alpha", 0.5f}, {"beta", 2.0f}}},
      {"Gemm transA", "Gemm", {f32({4, 3}, 33), f32({4, 5}, 34)}, {{"transA", int64_t{1}}}},
      {"GlobalAveragePool", "GlobalAveragePool", {img}, {}},
      {"Greater", "Greater", {x234, f32({4}, 35)}, {}},
      {"HardSigmoid", "HardSigmoid", {x234}, {{"alpha", 0.3f}}},
      {"HardSwish", "HardSwish", {f32({10}, 36)}, {}},
      {"Identity", "Identity", {x234}, {}},
      {"LayerNormalization", "LayerNormalization", {x234, f32({4}, 37), f32({4}, 38)}, {}},
      {"LayerNormalization axis 1",
       "LayerNormalization",
       {x234, f32({3, 4}, 39)},
       {{"axis", int64_t{1}}}},
      {"LeakyRelu", "LeakyRelu", {x234}, {{"alpha", 0.2f}}},
      {"Less", "Less", {x234, f32({4}, 40)}, {}},
      {"Log", "Log", {pos({5}, 41)}, {}},
      {"LogSoftmax", "LogSoftmax", {x234}, {{"axis", int64_t{1}}}},
      {"MatMul", "MatMul", {x234, f32({4, 5}, 42)}, {}},
      {"Max", "Max", {x234, f32({4}, 43), f32({3, 1}, 44)}, {}},
      {"MaxPool",
       "MaxPool",
       {img},
       {{"kernel_shape", std::vector<int64_t>{3, 3}},
        {"strides", std::vector<int64_t>{2, 2}},
        {"pads", std::vector<int64_t>{1, 1, 1, 1}}},
       2},
      {"MaxPool ceil",
       "MaxPool",
       {f32({1, 2, 7, 7}, 45)},
       {{"kernel_shape", std::vector<int64_t>{2, 2}},
        {"strides", std::vector<int64_t>{2, 2}},
        {"ceil_mode", int64_t{1}}}},
      {"MaxPool asymmetric",
       "MaxPool",
       {img},
       {{"kernel_shape", std::vector<int64_t>{2, 2}}, {"pads", std::vector<int64_t>{1, 0, 0, 1}}}},
      {"Min", "Min", {x234, f32({4}, 46)}, {}},
      {"Mul", "Mul", {x234, f32({2, 1, 4}, 47)}, {}},
      {"Neg", "Neg", {x234}, {}},
      {"Not", "Not", {bools({3}, {true, false, true})}, {}},
      {"Or", "Or", {bools({2}, {true, false}), bools({2}, {false, false})}, {}},
      {"Pad", "Pad", {img, i64({8}, {0, 0, 1, 2, 0, 0, 2, 1}), fv({}, {0.5f})}, {}},
      {"Pad reflect",
       "Pad",
       {img, i64({8}, {0, 0, 1, 2, 0, 0, 2, 1})},
       {{"mode", std::string("reflect")}}},
      {"Pad edge", "Pad", {x234, i64({6}, {0, 1, 0, 0, 2, 3})}, {{"mode", std::string("edge")}}},
      {"Pow", "Pow", {pos({2, 3}, 48), f32({3}, 49)}, {}},
      {"QuantizeLinear",
       "QuantizeLinear",
       {x234, fv({}, {0.02f}), Tensor::from_vector<uint8_t>({}, {100})},
       {}},
      {"QuantizeLinear per-axis i8",
       "QuantizeLinear",
       {x234, fv({3}, {0.01f, 0.02f, 0.005f}), Tensor::from_vector<int8_t>({3}, {0, 3, -2})},
       {{"axis", int64_t{1}}}},
      {"Range", "Range", {fv({}, {0.5f}), fv({}, {3.0f}), fv({}, {0.75f})}, {}},
      {"Reciprocal", "Reciprocal", {pos({5}, 50)}, {}},
      {"ReduceMax", "ReduceMax", {x234, i64({1}, {1})}, {{"keepdims", int64_t{0}}}},
      {"ReduceMean", "ReduceMean", {x234, i64({2}, {0, -1})}, {}},
      {"ReduceMin", "ReduceMin", {x234}, {}},
      {"ReduceSum", "ReduceSum", {x234, i64({1}, {2})}, {}},
      {"Relu", "Relu", {x234}, {}},
      {"Reshape", "Reshape", {x234, i64({2}, {0, -1})}, {}},
      {"Resize linear",
       "Resize",
       {f32({1, 1, 3, 4}, 51), fv({0}, {}), fv({4}, {1, 1, 2, 1.5f})},
       {{"mode", std::string("linear")}}},
      {"Resize nearest sizes",
       "Resize",
       {f32({1, 2, 3, 3}, 52), std::nullopt, std::nullopt, i64({4}, {1, 2, 5, 7})},
       {{"mode", std::string("nearest")},
        {"coordinate_transformation_mode", std::string("asymmetric")}}},
      {"Resize cubic",
       "Resize",
       {f32({1, 1, 4, 4}, 53), fv({0}, {}), fv({4}, {1, 1, 1.5f, 2})},
       {{"mode", std::string("cubic")}}},
      {"Shape", "Shape", {x234}, {{"start", int64_t{1}}}},
      {"Sigmoid", "Sigmoid", {x234}, {}},
      {"Sin", "Sin", {x234}, {}},
      {"Slice",
       "Slice",
       {f32({4, 5}, 54), i64({2}, {1, -1}), i64({2}, {3, -6}), i64({2}, {0, 1}), i64({2}, {1, -2})},
       {}},
      {"Softmax", "Softmax", {x234}, {}},
      {"Split", "Split", {f32({5, 4}, 55), i64({2}, {2, 3})}, {}, 2},
      {"Split equal", "Split", {f32({6, 4}, 56)}, {{"axis", int64_t{0}}}, 3},
      {"Sqrt", "Sqrt", {pos({5}, 57)}, {}},
      {"Squeeze", "Squeeze", {f32({2, 1, 3}, 58), i64({1}, {1})}, {}},
      {"Sub", "Sub", {x234, f32({4}, 59)}, {}},
      {"Sum", "Sum", {x234, f32({4}, 60), f32({3, 4}, 61)}, {}},
      {"Tanh", "Tanh", {x234}, {}},
      {"Tile", "Tile", {f32({2, 3}, 62), i64({2}, {2, 1})}, {}},
      {"Transpose", "Transpose", {x234}, {{"perm", std::vector<int64_t>{1, 0, 2}}}},
      {"Trilu", "Trilu", {f32({4, 4}, 63), i64({}, {1})}, {{"upper", int64_t{0}}}},
      {"Unsqueeze", "Unsqueeze", {f32({2, 3}, 64), i64({2}, {0, 3})}, {}},
      {"Where", "Where", {bools({4}, {true, false, false, true}), f32({4}, 65), f32({4}, 66)}, {}},
      {"Add i64", "Add", {i64({3}, {1, 2, 3}), i64({3}, {10, 20, 30})}, {}},
  };
  return c;
}

// Builds a one-node graph whose present inputs are graph inputs.
Graph one_node_graph(const OpCase& c) {
  Graph g("op_" + c.op);
  std::vector<Value*> ins;
  for (size_t i = 0; i < c.inputs.size(); ++i)
    ins.push_back(c.inputs[i]
                      ? g.add_input("in" + std::to_string(i),
                                    TensorType::of(c.inputs[i]->dtype(), c.inputs[i]->shape()))
                      : nullptr);
  Node* n = g.add_node(c.op, ins, c.outputs, c.attrs, "n");
  g.set_outputs(n->outputs());
  return g;
}

} // namespace

TEST_CASE("GraphModule matches the reference kernel of every op", "[torch][graph-module]") {
  std::set<std::string> covered;
  for (const OpCase& c : op_cases()) {
    INFO("case " << c.name);
    covered.insert(c.op);
    Graph g = one_node_graph(c);
    std::vector<const Tensor*> ptrs;
    std::vector<torch::Tensor> tin;
    for (const auto& t : c.inputs) {
      ptrs.push_back(t ? &*t : nullptr);
      if (t) tin.push_back(to_torch(*t));
    }
    std::vector<Tensor> want = evaluate_node(*g.find_node("n"), ptrs);
    GraphModule m(g);
    m->eval();
    std::vector<torch::Tensor> got = m->forward(tin);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      Tensor have = from_torch(got[i]);
      INFO("output " << i << " want " << dtype_name(want[i].dtype()) << shape_str(want[i].shape())
                     << " have " << dtype_name(have.dtype()) << shape_str(have.shape()));
      REQUIRE(have.dtype() == want[i].dtype());
      REQUIRE(have.shape() == want[i].shape());
      if (is_float(have.dtype()))
        CHECK(max_relative_error(have, want[i]) < 1e-5);
      else
        CHECK(have.equals(want[i]));
    }
  }
  std::vector<std::string> missing;
  for (const OpSchema* s : all_ops())
    if (!covered.count(s->name)) missing.push_back(s->name);
  INFO("ops without a parity case: " << missing.size());
  for (const std::string& m : missing)
    UNSCOPED_INFO(m);
  CHECK(missing.empty());
}

namespace {

// Gradient of sum(out * probe) w.r.t. every parameter, against central differences.
void check_gradients(const Graph& g, const std::vector<Tensor>& inputs) {
  GraphModule m(g);
  m->eval();
  std::vector<torch::Tensor> in;
  for (const Tensor& t : inputs)
    in.push_back(to_torch(t));
  torch::Tensor out = m->forward(in)[0];
  torch::Tensor probe = to_torch(Tensor::random(from_torch(out).shape(), 99));
  (out * probe).sum().backward();
  const float eps = 1e-2f;
  for (auto& pr : m->named_parameters()) {
    torch::Tensor p = pr.value();
    torch::Tensor grad = p.grad().clone();
    REQUIRE(grad.defined());
    torch::NoGradGuard ng;
    torch::Tensor flat = p.view({-1});
    for (int64_t i = 0; i < flat.numel(); i += std::max<int64_t>(1, flat.numel() / 7)) {
      const float old = flat[i].item<float>();
      flat[i] = old + eps;
      const double up = (m->forward(in)[0] * probe).sum().item<double>();
      flat[i] = old - eps;
      const double down = (m->forward(in)[0] * probe).sum().item<double>();
      flat[i] = old;
      const double fd = (up - down) / (2 * eps);
      const double ad = grad.view({-1})[i].item<double>();
      INFO("parameter " << pr.key() << "[" << i << "]: autograd " << ad << ", finite diff " << fd);
      CHECK(std::fabs(ad - fd) <= 3e-3 + 2e-2 * std::fabs(fd));
    }
  }
}

} // namespace

TEST_CASE("GraphModule gradients match finite differences", "[torch][graph-module]") {
  SECTION("an MLP with softmax") {
    Graph g = parse(R"(graph @mlp(%x: f32[N,3]) {
  %w1 = const f32[5,3] random(seed=1)
  %b1 = const f32[5] random(seed=2)
  %w2 = const f32[4,5] random(seed=3)
  %h = Gemm(%x, %w1, %b1) {transB=1} : f32[N,5]
  %t = Tanh(%h) : f32[N,5]
  %o = Gemm(%t, %w2) {transB=1} : f32[N,4]
  %y = Softmax(%o) {axis=1} : f32[N,4]
  return %y
})");
    check_gradients(g, {Tensor::random({2, 3}, 5)});
  }
  SECTION("a conv block with batch norm, pooling and layer norm") {
    Graph g = parse(R"(graph @conv(%x: f32[N,2,6,6]) {
  %w = const f32[3,2,3,3] random(seed=1)
  %b = const f32[3] random(seed=2)
  %s = const f32[3] random(seed=3)
  %bb = const f32[3] random(seed=4)
  %m = const f32[3] random(seed=5)
  %v = const f32[3] random(seed=6)
  %g = const f32[3] random(seed=7)
  %c = Conv(%x, %w, %b) {pads=[1,1,1,1]} : f32[N,3,6,6]
  %n = BatchNormalization(%c, %s, %bb, %m, %g) : f32[N,3,6,6]
  %a = Sigmoid(%n) : f32[N,3,6,6]
  %p = AveragePool(%a) {kernel_shape=[2,2], strides=[2,2]} : f32[N,3,3,3]
  %t = Transpose(%p) {perm=[0,2,3,1]} : f32[N,3,3,3]
  %l = LayerNormalization(%t, %s, %bb) : f32[N,3,3,3]
  return %l
})");
    // BatchNormalization's variance must be positive: use |g| + 0.5.
    Value* gv = g.find_value("g");
    Tensor var = gv->initializer().clone();
    for (int64_t i = 0; i < var.numel(); ++i)
      var.data_mutable<float>()[i] = std::fabs(var.data<float>()[i]) + 0.5f;
    g.set_initializer(gv, var);
    check_gradients(g, {Tensor::random({2, 2, 6, 6}, 6)});
  }
}

TEST_CASE("GraphModule keeps statistics as buffers and weights as parameters",
          "[torch][graph-module]") {
  Graph g = small_cnn();
  GraphModule m(g);
  int64_t params = 0;
  for (auto& p : m->parameters())
    params += p.numel();
  int64_t bn_stats = 0;
  for (const Node* n : g.nodes())
    if (n->op() == "BatchNormalization")
      bn_stats += n->input(3)->initializer().numel() + n->input(4)->initializer().numel();
  int64_t float_inits = 0;
  for (const Value* v : g.initializers())
    if (is_float(v->initializer().dtype())) float_inits += v->initializer().numel();
  CHECK(params == float_inits - bn_stats);
  CHECK_FALSE(m->named_initializer_parameters().empty());
}

TEST_CASE("QDQ lowers to fake quantization with a straight-through gradient",
          "[torch][graph-module]") {
  Graph h = parse(R"(graph @qdq(%x: f32[N,3]) {
  %w = const f32[3,4] random(seed=1)
  %s = const f32[] random(seed=2)
  %z = const i8[] zeros
  %q = QuantizeLinear(%w, %s, %z) : i8[3,4]
  %d = DequantizeLinear(%q, %s, %z) : f32[3,4]
  %y = MatMul(%x, %d) : f32[N,4]
  return %y
})");
  h.set_initializer(h.find_value("s"), Tensor::from_vector<float>({}, {0.05f}));
  Tensor x = Tensor::random({2, 3}, 3);
  ReferenceExecutor ref;
  Tensor want = ref.run(h, {x})[0];
  GraphModule m(h);
  torch::Tensor y = m->forward({to_torch(x)})[0];
  CHECK(max_relative_error(from_torch(y), want) < 1e-5);
  // STE: dy/dw equals d(x @ w)/dw = x^T @ 1 where w is inside the clamp range.
  y.sum().backward();
  auto params = m->named_initializer_parameters();
  REQUIRE(params.size() == 1); // the scale and zero point are buffers
  CHECK(params[0].first == "w");
  torch::Tensor expect = to_torch(x).sum(0).unsqueeze(1).expand({3, 4});
  CHECK(torch::allclose(params[0].second.grad(), expect, 1e-5, 1e-5));
  // The quantized value itself, fetched, has its integer type.
  torch::Tensor q = m->forward({to_torch(x)}, {"q"})[1];
  CHECK(q.scalar_type() == torch::kChar);
}

TEST_CASE("write_back and ONNX export reproduce the trained module", "[torch][graph-module]") {
  Graph g = small_cnn();
  GraphModule m(g);
  m->train();
  torch::optim::SGD opt(m->parameters(), torch::optim::SGDOptions(0.05));
  std::vector<Tensor> inputs = random_inputs(g, 4, 11);
  torch::Tensor x = to_torch(inputs[0]);
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    torch::Tensor out = m->forward({x})[0];
    out.pow(2).mean().backward();
    opt.step();
  }
  m->eval();
  torch::Tensor trained = m->forward({x})[0].detach();
  Graph copy = g.clone();
  m->write_back(copy);
  ReferenceExecutor ref;
  Tensor before = ref.run(g, inputs)[0];
  Tensor after = ref.run(copy, inputs)[0];
  CHECK(max_relative_error(after, from_torch(trained)) < 1e-4);
  CHECK(max_relative_error(before, from_torch(trained)) > 1e-3); // training changed something
  // The original graph's initializers are untouched (write_back stores new tensors).
  CHECK(max_relative_error(ref.run(g, inputs)[0], before) == 0.0);

  const std::string path = "/tmp/shrink_torch_write_back_test.onnx";
  save_model(copy, path);
  Graph loaded = load_model(path);
  std::remove(path.c_str());
  CHECK(max_relative_error(ref.run(loaded, inputs)[0], from_torch(trained)) < 1e-4);
}

TEST_CASE("GraphModule reports unknown fetch names and wrong input counts",
          "[torch][graph-module]") {
  Graph g = small_cnn();
  GraphModule m(g);
  torch::Tensor x = to_torch(random_inputs(g, 1, 1)[0]);
  CHECK_THROWS_WITH(m->forward({x}, {"no_such_value"}), Catch::Contains("no_such_value"));
  CHECK_THROWS_WITH(m->forward({x, x}), Catch::Contains("inputs"));
}
