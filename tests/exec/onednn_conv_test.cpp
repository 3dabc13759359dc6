// Convolution steps of the oneDNN runtime (lib/exec/onednn_conv.cpp): fp32 and int8 parity with
// the reference executor, fused post-ops, and what the plan fuses.

#include "exec/onednn_test_util.h"
#include "exec/qdq_graphs.h"

#include "shrink/ir/shape_inference.h"

using namespace shrink;
using namespace shrink::testing;

namespace {

struct ConvCase {
  int64_t n, c, h, w, oc, k, stride, pad, dil, group;
};

int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

// x -> Conv(+bias) -> post-op pattern; the residual comes from a second graph input or from a
// second convolution of x (so that it lives in a pool buffer and the sum can run in place).
Graph conv_graph(const ConvCase& cc, const std::string& post, Shape* residual_shape) {
  Graph g("conv");
  Value* x = g.add_input("x", batch_type({cc.c, cc.h, cc.w}));
  const int64_t oh = conv_out(cc.h, cc.k, cc.stride, cc.pad, cc.dil);
  const int64_t ow = conv_out(cc.w, cc.k, cc.stride, cc.pad, cc.dil);
  *residual_shape = {cc.n, cc.oc, oh, ow};
  Value* r = nullptr;
  if (post == "residual" || post == "residual_relu")
    r = g.add_input("r", batch_type({cc.oc, oh, ow}));
  Value* w = g.add_initializer("w", scaled_random({cc.oc, cc.c / cc.group, cc.k, cc.k}, 3, 0.5f));
  Value* b = g.add_initializer("b", scaled_random({cc.oc}, 4, 0.5f));
  Attributes a = {{"strides", std::vector<int64_t>{cc.stride, cc.stride}},
                  {"pads", std::vector<int64_t>{cc.pad, cc.pad, cc.pad, cc.pad}},
                  {"dilations", std::vector<int64_t>{cc.dil, cc.dil}},
                  {"group", cc.group}};
  Value* y = g.add_op("Conv", {x, w, b}, a, "conv");
  if (post == "relu") y = g.add_op("Relu", {y});
  if (post == "leaky") y = g.add_op("LeakyRelu", {y}, {{"alpha", 0.1f}});
  if (post == "relu6")
    y = g.add_op("Clip", {y, g.add_initializer("lo", Tensor::scalar(0.f)),
                          g.add_initializer("hi", Tensor::scalar(6.f))});
  if (post == "sigmoid") y = g.add_op("Sigmoid", {y});
  if (post == "tanh") y = g.add_op("Tanh", {y});
  if (post == "gelu") y = g.add_op("Gelu", {y});
  if (post == "gelu_tanh") y = g.add_op("Gelu", {y}, {{"approximate", std::string("tanh")}});
  if (post == "hardswish") y = g.add_op("HardSwish", {y});
  if (post == "residual") y = g.add_op("Add", {y, r});
  if (post == "residual_relu") y = g.add_op("Relu", {g.add_op("Add", {r, y})});
  if (post == "bias_add")
    y = g.add_op("Add", {y, g.add_initializer("c", scaled_random({cc.oc, 1, 1}, 5, 1.f))});
  if (post == "scale") y = g.add_op("Mul", {y, g.add_initializer("k", Tensor::scalar(0.5f))});
  if (post == "channel_mul")
    y = g.add_op("Mul", {y, g.add_initializer("m", scaled_random({1, cc.oc, 1, 1}, 6, 1.f))});
  if (post == "batchnorm") {
    Tensor var = scaled_random({cc.oc}, 7, 0.5f);
    for (int64_t i = 0; i < cc.oc; ++i)
      var.data_mutable<float>()[i] += 1.f;
    y = g.add_op("BatchNormalization",
                 {y, g.add_initializer("bn_s", scaled_random({cc.oc}, 8, 1.f)),
                  g.add_initializer("bn_b", scaled_random({cc.oc}, 9, 1.f)),
                  g.add_initializer("bn_m", scaled_random({cc.oc}, 10, 1.f)),
                  g.add_initializer("bn_v", var)},
                 {{"epsilon", 1e-3f}});
    y = g.add_op("Relu", {y});
  }
  g.set_outputs({y});
  infer_shapes(g);
  return g;
}

const std::vector<ConvCase> kCases = {
    {1, 3, 8, 8, 8, 3, 1, 1, 1, 1},    // small stem
    {2, 16, 10, 9, 32, 3, 2, 1, 1, 1}, // stride 2, odd sizes
    {3, 8, 7, 7, 24, 1, 1, 0, 1, 1},   // 1x1
    {2, 16, 9, 9, 16, 3, 1, 1, 1, 16}, // depthwise
    {1, 8, 12, 12, 12, 3, 1, 2, 2, 2}, // dilation 2, two groups
    {2, 4, 11, 13, 6, 5, 2, 2, 1, 1},  // 5x5 stride 2
};

} // namespace

TEST_CASE("fp32 conv matches the reference over shapes and fused post-ops", "[onednn]") {
  const ConvCase cc = GENERATE(from_range(kCases));
  const std::string post = GENERATE(
      as<std::string>{}, "none", "relu", "leaky", "relu6", "sigmoid", "tanh", "gelu", "gelu_tanh",
      "hardswish", "residual", "residual_relu", "bias_add", "scale", "channel_mul", "batchnorm");
  INFO("conv " << cc.c << "x" << cc.h << "x" << cc.w << " -> " << cc.oc << " k" << cc.k << " s"
               << cc.stride << " p" << cc.pad << " d" << cc.dil << " g" << cc.group << ", "
               << post);
  Shape rshape;
  const Graph g = conv_graph(cc, post, &rshape);
  std::vector<Tensor> inputs = {scaled_random({cc.n, cc.c, cc.h, cc.w}, 1, 1.f)};
  if (post == "residual" || post == "residual_relu")
    inputs.push_back(scaled_random(rshape, 2, 1.f));
  OneDnnExecutor exec;
  check_parity(g, inputs, exec);
  const OneDnnPlanInfo info = exec.plan_info();
  INFO(info.str());
  // The whole pattern is one convolution step.
  REQUIRE(info.steps.size() == 1);
  CHECK(info.steps[0].kind == "conv");
  CHECK(info.steps[0].fallback_reason.empty());
  CHECK(info.steps[0].nodes.size() == g.num_nodes());
  CHECK_FALSE(info.steps[0].implementation.empty());
}

TEST_CASE("fp32 conv post-ops are named in the plan", "[onednn]") {
  Shape rshape;
  const ConvCase cc = kCases[1];
  OneDnnExecutor exec;
  const Graph g = conv_graph(cc, "batchnorm", &rshape);
  check_parity(g, {scaled_random({2, cc.c, cc.h, cc.w}, 1, 1.f)}, exec);
  const std::vector<std::string> want = {"bias", "batchnorm-folded", "relu"};
  CHECK(exec.plan_info().steps[0].post_ops == want);
  const Graph r = conv_graph(cc, "residual_relu", &rshape);
  check_parity(r, {scaled_random({2, cc.c, cc.h, cc.w}, 1, 1.f), scaled_random(rshape, 2, 1.f)},
               exec);
  const std::vector<std::string> want_r = {"bias", "sum", "relu"};
  CHECK(exec.plan_info().steps[0].post_ops == want_r);
}

TEST_CASE("fp32 conv: 1-D, 3-D, asymmetric pads and auto_pad", "[onednn]") {
  struct Case {
    Shape x, w;
    Attributes attrs;
  };
  const Case c = GENERATE(
      Case{{2, 4, 17},
           {6, 4, 3},
           {{"pads", std::vector<int64_t>{1, 2}}, {"strides", std::vector<int64_t>{2}}}},
      Case{{1, 3, 5, 6, 7}, {4, 3, 3, 3, 3}, {{"pads", std::vector<int64_t>{1, 1, 1, 1, 1, 1}}}},
      Case{{2, 5, 9, 8}, {7, 5, 3, 2}, {{"pads", std::vector<int64_t>{0, 1, 2, 0}}}},
      Case{{2, 5, 9, 8},
           {7, 5, 3, 3},
           {{"auto_pad", std::string("SAME_UPPER")}, {"strides", std::vector<int64_t>{2, 2}}}},
      Case{{2, 5, 9, 8}, {7, 5, 4, 4}, {{"auto_pad", std::string("SAME_LOWER")}}},
      Case{{1, 5, 9, 8}, {7, 5, 3, 3}, {{"auto_pad", std::string("VALID")}}});
  Graph g("conv");
  Value* x = g.add_input("x", TensorType::of(DType::f32, c.x));
  Value* w = g.add_initializer("w", scaled_random(c.w, 3, 0.5f));
  g.set_outputs({g.add_op("Relu", {g.add_op("Conv", {x, w}, c.attrs)})});
  infer_shapes(g);
  OneDnnExecutor exec;
  check_parity(g, {scaled_random(c.x, 1, 1.f)}, exec);
  CHECK(exec.plan_info().count("conv") == 1);
  CHECK(exec.plan_info().count("reference") == 0);
}

TEST_CASE("fp32 conv with weights and bias computed at run time", "[onednn]") {
  Graph g("conv");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {2, 4, 6, 6}));
  Value* w = g.add_input("w", TensorType::of(DType::f32, {8, 4, 3, 3}));
  Value* b = g.add_input("b", TensorType::of(DType::f32, {8}));
  g.set_outputs({g.add_op("Conv", {x, w, b}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}})});
  infer_shapes(g);
  OneDnnExecutor exec;
  check_parity(g,
               {scaled_random({2, 4, 6, 6}, 1, 1.f), scaled_random({8, 4, 3, 3}, 2, 1.f),
                scaled_random({8}, 3, 1.f)},
               exec);
  CHECK(exec.plan_info().count("conv") == 1);
}

TEST_CASE("a residual from another convolution is summed into the conv output", "[onednn]") {
  // Two convolutions of x meet in an Add: one of them absorbs the Add as a sum post-op whose
  // residual buffer dies there (the in-place path).
  Graph g("two_convs");
  Value* x = g.add_input("x", batch_type({8, 6, 6}));
  auto c = [&](uint64_t seed, const std::string& name) {
    return g.add_op("Conv",
                    {x, g.add_initializer(name + "_w", scaled_random({8, 8, 3, 3}, seed, 0.3f))},
                    {{"pads", std::vector<int64_t>{1, 1, 1, 1}}}, name);
  };
  Value* a = c(1, "a");
  Value* b = c(2, "b");
  g.set_outputs({g.add_op("Relu", {g.add_op("Add", {a, b})})});
  infer_shapes(g);
  OneDnnExecutor exec;
  for (int64_t n : {1, 3})
    check_parity(g, {scaled_random({n, 8, 6, 6}, 5, 1.f)}, exec);
  const OneDnnPlanInfo info = exec.plan_info();
  INFO(info.str());
  REQUIRE(info.count("conv") == 2);
  CHECK(info.steps.size() == 2);
  CHECK(info.steps[1].post_ops == std::vector<std::string>{"sum", "relu"});
}

TEST_CASE("fp32 conv chains stay in oneDNN layouts and match with plain layouts", "[onednn]") {
  const Graph g = resnet_cnn(8, 1);
  const Tensor x = scaled_random({3, 1, 28, 28}, 11, 1.f);
  OneDnnExecutor blocked;
  OneDnnOptions plain_opts;
  plain_opts.blocked_layouts = false;
  OneDnnExecutor plain(plain_opts);
  check_parity(g, {x}, blocked);
  check_parity(g, {x}, plain);
  const OneDnnPlanInfo info = blocked.plan_info();
  INFO(info.str());
  CHECK(info.count("conv") == 9); // stem, 3 blocks x 2, two projections
  CHECK(info.count("pool") == 1); // global average pooling
  CHECK(info.count("view") == 1); // Flatten, a zero-copy view
  CHECK(info.count("reference") == 0);
  CHECK(info.count("matmul") == 1); // the classifier Gemm
  CHECK(info.steps.size() == 12);   // every Add and Relu is fused
}

// ---- int8 --------------------------------------------------------------------------------------

namespace {

// x -> conv_a -> act -> conv_b -> [Add(x) -> Relu] -> conv_c: after quantization conv_a ends in
// a requantization to u8 (its output feeds conv_b), conv_b sums the int8 residual x, conv_c
// returns f32.
Graph int8_chain(int64_t c, const std::string& act, bool residual) {
  Graph g("int8_chain");
  Value* x = g.add_input("x", batch_type({c, 9, 9}));
  Attributes same = {{"pads", std::vector<int64_t>{1, 1, 1, 1}}};
  auto conv = [&](Value* in, int64_t cout, uint64_t seed, const std::string& name) {
    return g.add_op("Conv",
                    {in, g.add_initializer(name + "_w", scaled_random({cout, c, 3, 3}, seed, 0.4f)),
                     g.add_initializer(name + "_b", scaled_random({cout}, seed + 1, 0.2f))},
                    same, name);
  };
  Value* a = conv(x, c, 1, "conv_a");
  if (act == "relu") a = g.add_op("Relu", {a}, {}, "act");
  if (act == "gelu") a = g.add_op("Gelu", {a}, {}, "act");
  if (act == "clip")
    a = g.add_op("Clip",
                 {a, g.add_initializer("lo", Tensor::scalar(0.f)),
                  g.add_initializer("hi", Tensor::scalar(2.f))},
                 {}, "act");
  Value* b = conv(a, c, 3, "conv_b");
  if (residual) b = g.add_op("Relu", {g.add_op("Add", {b, x}, {}, "res")}, {}, "res_relu");
  g.set_outputs({conv(b, 5, 5, "conv_c")});
  infer_shapes(g);
  return g;
}

} // namespace

TEST_CASE("int8 QDQ convolutions fuse into u8/s8 primitives within one step", "[onednn]") {
  const std::string act = GENERATE(as<std::string>{}, "none", "relu", "gelu", "clip");
  const bool residual = GENERATE(false, true);
  const DType adt = GENERATE(DType::u8, DType::i8);
  INFO(act << (residual ? " + residual" : "") << " activations " << dtype_name(adt));
  const Graph fp32 = int8_chain(8, act, residual);
  std::vector<std::vector<Tensor>> calib = {{scaled_random({4, 8, 9, 9}, 21, 1.f)}};
  ReferenceExecutor ref;
  const Graph q = quantize_for_test(fp32, ref, calib, adt);
  // conv_a's requantized output: the QuantizeLinear that feeds conv_b.
  std::string a_q;
  for (const Node* n : q.nodes())
    if (n->op() == "QuantizeLinear" && n->input(0)->producer() &&
        n->input(0)->producer()->name() == (act == "none" ? "conv_a" : "act"))
      a_q = n->output()->name();
  REQUIRE_FALSE(a_q.empty());
  const std::vector<Tensor> x = {scaled_random({3, 8, 9, 9}, 22, 1.f)};
  OneDnnExecutor exec;
  const std::vector<Tensor> want = ref.run(q, x, {a_q});
  const std::vector<Tensor> got = exec.run(q, x, {a_q});
  const OneDnnPlanInfo info = exec.plan_info();
  INFO(info.str());
  CHECK(info.count("int8 conv") == 3);
  CHECK(info.count("conv") == 0);
  CHECK(info.count("reference") == 0);
  for (const OneDnnStepInfo& s : info.steps)
    CHECK(s.fallback_reason.empty());
  // The int8 intermediate is within one quantization step of the reference.
  check_within_steps(got[1], want[1], 1.0);
  // conv_c's f32 output (after at most one-step differences in its int8 input) is close.
  CHECK(max_relative_error(got[0], want[0]) < 0.02);
  // The first conv requantizes in its epilogue; with a residual, conv_b sums int8 x.
  CHECK(info.steps[1].post_ops.back() == "requantize");
  if (residual) {
    bool summed = false;
    for (const OneDnnStepInfo& s : info.steps)
      for (const std::string& p : s.post_ops)
        summed = summed || p == "sum";
    CHECK(summed);
  }
}

TEST_CASE("int8 conv with the int8 option off runs the QDQ graph in fp32", "[onednn]") {
  const Graph fp32 = int8_chain(4, "relu", true);
  ReferenceExecutor ref;
  const Graph q = quantize_for_test(fp32, ref, {{scaled_random({2, 4, 9, 9}, 1, 1.f)}});
  OneDnnOptions opts;
  opts.int8 = false;
  OneDnnExecutor exec(opts);
  const std::vector<Tensor> x = {scaled_random({2, 4, 9, 9}, 2, 1.f)};
  const std::vector<Tensor> want = ref.run(q, x);
  const std::vector<Tensor> got = exec.run(q, x);
  CHECK(exec.plan_info().count("int8 conv") == 0);
  CHECK(exec.plan_info().count("conv") == 3);
  CHECK(max_relative_error(got[0], want[0]) < 0.02);
}

TEST_CASE("int8 conv over shapes: depthwise, strided, 1x1, per-tensor weights", "[onednn]") {
  const ConvCase cc = GENERATE(from_range(kCases));
  Shape rshape;
  const Graph fp32 = conv_graph(cc, "relu", &rshape);
  // Quantize x and the relu output (by giving the graph a consumer of it).
  Graph g = fp32.clone();
  Value* y = g.outputs()[0];
  g.set_outputs({g.add_op("MaxPool", {y}, {{"kernel_shape", std::vector<int64_t>{1, 1}}}, "pool")});
  infer_shapes(g);
  ReferenceExecutor ref;
  const Graph q = quantize_for_test(g, ref, {{scaled_random({cc.n, cc.c, cc.h, cc.w}, 1, 1.f)}});
  const std::vector<Tensor> x = {scaled_random({cc.n, cc.c, cc.h, cc.w}, 2, 1.f)};
  OneDnnExecutor exec;
  const std::vector<Tensor> want = ref.run(q, x);
  const std::vector<Tensor> got = exec.run(q, x);
  const OneDnnPlanInfo info = exec.plan_info();
  INFO(info.str());
  CHECK(info.count("int8 conv") == 1);
  CHECK(info.steps[1].post_ops.back() == "requantize");
  CHECK(info.count("dequantize") == 1);
  CHECK(info.count("pool") == 1);
  // The pool reads the dequantized u8 relu output: one step is that output's scale.
  float step = 0.f;
  for (const Node* n : q.nodes())
    if (n->op() == "DequantizeLinear" && n->output()->uses().size() == 1 &&
        n->output()->uses()[0].node->op() == "MaxPool")
      step = n->input(1)->initializer().data<float>()[0];
  REQUIRE(step > 0.f);
  CHECK(max_abs_diff(got[0], want[0]) <= step * 1.001);
}
