// The fuse pass: LayerNorm, GELU, Gemm and HardSwish patterns.
#include "shrink/core/error.h"
#include "shrink/ir/shape_inference.h"
#include "shrink/ir/text.h"
#include "shrink/transforms/fuse.h"
#include "support/test_graphs.h"

#include <catch2/catch.hpp>

using namespace shrink;
using shrink::testing::count_ops;

namespace {
PassResult fuse(Graph& g, const Options& options = {}) {
  infer_shapes(g);
  PassContext ctx;
  return FusePass(options).run(g, ctx);
}

/// Parses `body` inside a graph on x: f32[N,6,8] with the usual scalar constants.
Graph graph_with(const std::string& body) {
  return parse(R"(graph @main(%x: f32[N,6,8]) {
  %half = const f32[] [0.5]
  %one = const f32[] [1.0]
  %two = const f32[] [2.0]
  %three = const f32[] [3.0]
  %sqrt2 = const f32[] [1.4142135]
  %inv_sqrt2 = const f32[] [0.70710677]
  %eps = const f32[] [1e-05]
  %c = const f32[] [0.044715]
  %k = const f32[] [0.7978846]
)" + body + "\n}\n");
}
} // namespace

TEST_CASE("fuse turns the transformer block's LayerNorms and GELU into single ops",
          "[transforms]") {
  Graph g = testing::transformer_encoder_block();
  Graph before = g.clone();
  PassResult r = fuse(g);
  CHECK(r.changed);
  CHECK(r.stats.at("layernorm") == 2);
  CHECK(r.stats.at("gelu") == 1);
  CHECK(r.stats.at("gemm") == 0);
  CHECK(count_ops(g, "LayerNormalization") == 2);
  CHECK(count_ops(g, "Gelu") == 1);
  CHECK(count_ops(g, "Erf") == 0);
  CHECK(count_ops(g, "ReduceMean") == 0);
  CHECK(g.num_nodes() + 2 * 8 + 4 == before.num_nodes());
  CHECK(g.outputs()[0]->name() == "ln2");
  CHECK(testing::max_output_error(before, g) < 1e-5);
}

TEST_CASE("fuse recognises every GELU association order", "[transforms]") {
  const std::vector<std::string> variants = {
      // PyTorch: (x * (1 + erf(x / sqrt2))) * 0.5
      R"(  %d = Div(%x, %sqrt2) : f32[N,6,8]
  %e = Erf(%d) : f32[N,6,8]
  %a = Add(%e, %one) : f32[N,6,8]
  %m = Mul(%x, %a) : f32[N,6,8]
  %y = Mul(%m, %half) : f32[N,6,8]
  return %y)",
      // (x * 0.5) * (1 + erf(x * 1/sqrt2)), constants first.
      R"(  %d = Mul(%inv_sqrt2, %x) : f32[N,6,8]
  %e = Erf(%d) : f32[N,6,8]
  %a = Add(%one, %e) : f32[N,6,8]
  %h = Mul(%half, %x) : f32[N,6,8]
  %y = Mul(%h, %a) : f32[N,6,8]
  return %y)",
      // x * ((1 + erf(x / sqrt2)) * 0.5)
      R"(  %d = Div(%x, %sqrt2) : f32[N,6,8]
  %e = Erf(%d) : f32[N,6,8]
  %a = Add(%e, %one) : f32[N,6,8]
  %h = Mul(%a, %half) : f32[N,6,8]
  %y = Mul(%x, %h) : f32[N,6,8]
  return %y)",
  };
  for (const auto& body : variants) {
    CAPTURE(body);
    Graph g = graph_with(body);
    Graph before = g.clone();
    CHECK(fuse(g).stats.at("gelu") == 1);
    REQUIRE(g.num_nodes() == 1);
    CHECK(g.nodes()[0]->op() == "Gelu");
    CHECK_FALSE(g.nodes()[0]->has_attr("approximate"));
    CHECK(g.outputs()[0]->name() == "y");
    CHECK(testing::max_output_error(before, g) < 1e-5);
  }
}

TEST_CASE("fuse recognises the tanh GELU", "[transforms]") {
  for (const char* cube : {"  %p = Pow(%x, %three) : f32[N,6,8]",
                           "  %sq = Mul(%x, %x) : f32[N,6,8]\n  %p = Mul(%sq, %x) : f32[N,6,8]",
                           "  %sq = Mul(%x, %x) : f32[N,6,8]\n  %p = Mul(%x, %sq) : f32[N,6,8]"}) {
    CAPTURE(cube);
    Graph g = graph_with(std::string(cube) + R"(
  %m1 = Mul(%p, %c) : f32[N,6,8]
  %s = Add(%x, %m1) : f32[N,6,8]
  %m2 = Mul(%k, %s) : f32[N,6,8]
  %t = Tanh(%m2) : f32[N,6,8]
  %a = Add(%t, %one) : f32[N,6,8]
  %m = Mul(%x, %a) : f32[N,6,8]
  %y = Mul(%m, %half) : f32[N,6,8]
  return %y)");
    Graph before = g.clone();
    CHECK(fuse(g).stats.at("gelu-tanh") == 1);
    REQUIRE(g.num_nodes() == 1);
    CHECK(g.nodes()[0]->attr_string("approximate", "") == "tanh");
    CHECK(testing::max_output_error(before, g) < 1e-5);
  }
}

TEST_CASE("fuse recognises TensorFlow's LayerNorm and one without scale", "[transforms]") {
  Graph tf = parse(R"(graph @main(%x: f32[N,6,8]) {
  %axes = const i64[1] [2]
  %eps = const f32[] [0.001]
  %gamma = const f32[1,1,8] random(seed=4)
  %beta = const f32[8] random(seed=5)
  %m = ReduceMean(%x, %axes) : f32[N,6,1]
  %d = Sub(%x, %m) : f32[N,6,8]
  %sq = Mul(%d, %d) : f32[N,6,8]
  %v = ReduceMean(%sq, %axes) : f32[N,6,1]
  %ve = Add(%eps, %v) : f32[N,6,1]
  %s = Sqrt(%ve) : f32[N,6,1]
  %r = Reciprocal(%s) : f32[N,6,1]
  %n = Mul(%r, %d) : f32[N,6,8]
  %g = Mul(%gamma, %n) : f32[N,6,8]
  %y = Add(%beta, %g) : f32[N,6,8]
  return %y
}
)");
  Graph before = tf.clone();
  CHECK(fuse(tf).stats.at("layernorm") == 1);
  REQUIRE(tf.num_nodes() == 1);
  const Node* ln = tf.nodes()[0];
  CHECK(ln->op() == "LayerNormalization");
  CHECK(ln->attr_int("axis", 0) == 2);
  CHECK(ln->attr_float("epsilon", 0) == Approx(0.001f));
  CHECK(ln->input(1)->initializer().shape() == Shape{8});
  CHECK(testing::max_output_error(before, tf) < 1e-5);

  Graph plain = graph_with(R"(  %m = ReduceMean(%x) {axes=[-2,-1]} : f32[N,1,1]
  %d = Sub(%x, %m) : f32[N,6,8]
  %sq = Pow(%d, %two) : f32[N,6,8]
  %v = ReduceMean(%sq) {axes=[1,2]} : f32[N,1,1]
  %ve = Add(%v, %eps) : f32[N,1,1]
  %s = Sqrt(%ve) : f32[N,1,1]
  %y = Div(%d, %s) : f32[N,6,8]
  return %y)");
  before = plain.clone();
  CHECK(fuse(plain).stats.at("layernorm") == 1);
  REQUIRE(plain.num_nodes() == 1);
  CHECK(plain.nodes()[0]->attr_int("axis", 0) == 1);
  CHECK(plain.nodes()[0]->num_inputs() == 2);
  CHECK(testing::max_output_error(before, plain) < 1e-5);
}

TEST_CASE("fuse leaves patterns whose intermediates are used elsewhere", "[transforms]") {
  const std::vector<std::string> bodies = {
      // The Erf output is also a graph output.
      R"(  %d = Div(%x, %sqrt2) : f32[N,6,8]
  %e = Erf(%d) : f32[N,6,8]
  %a = Add(%e, %one) : f32[N,6,8]
  %m = Mul(%x, %a) : f32[N,6,8]
  %y = Mul(%m, %half) : f32[N,6,8]
  return %y, %e)",
      // The wrong constant: 0.6 instead of 0.5.
      R"(  %six = const f32[] [0.6]
  %d = Div(%x, %sqrt2) : f32[N,6,8]
  %e = Erf(%d) : f32[N,6,8]
  %a = Add(%e, %one) : f32[N,6,8]
  %m = Mul(%x, %a) : f32[N,6,8]
  %y = Mul(%m, %six) : f32[N,6,8]
  return %y)",
      // The mean is over a leading axis.
      R"(  %m = ReduceMean(%x) {axes=[1]} : f32[N,1,8]
  %d = Sub(%x, %m) : f32[N,6,8]
  %sq = Pow(%d, %two) : f32[N,6,8]
  %v = ReduceMean(%sq) {axes=[1]} : f32[N,1,8]
  %ve = Add(%v, %eps) : f32[N,1,8]
  %s = Sqrt(%ve) : f32[N,1,8]
  %y = Div(%d, %s) : f32[N,6,8]
  return %y)",
      // The centred value has a third user.
      R"(  %m = ReduceMean(%x) {axes=[-1]} : f32[N,6,1]
  %d = Sub(%x, %m) : f32[N,6,8]
  %sq = Pow(%d, %two) : f32[N,6,8]
  %v = ReduceMean(%sq) {axes=[-1]} : f32[N,6,1]
  %ve = Add(%v, %eps) : f32[N,6,1]
  %s = Sqrt(%ve) : f32[N,6,1]
  %n = Div(%d, %s) : f32[N,6,8]
  %y = Add(%n, %d) : f32[N,6,8]
  return %y)",
      // MatMul on a 3-D input cannot become a Gemm.
      R"(  %w = const f32[8,4] random(seed=1)
  %b = const f32[4] random(seed=2)
  %mm = MatMul(%x, %w) : f32[N,6,4]
  %y = Add(%mm, %b) : f32[N,6,4]
  return %y)",
      // HardSigmoid with the default alpha is not HardSwish's.
      R"(  %h = HardSigmoid(%x) : f32[N,6,8]
  %y = Mul(%x, %h) : f32[N,6,8]
  return %y)",
  };
  for (const auto& body : bodies) {
    CAPTURE(body);
    Graph g = graph_with(body);
    infer_shapes(g);
    std::string text = print(g);
    CHECK_FALSE(fuse(g).changed);
    CHECK(print(g) == text);
  }
}

TEST_CASE("fuse turns 2-D MatMul+Add into Gemm and x*HardSigmoid(x) into HardSwish",
          "[transforms]") {
  Graph g = parse(R"(graph @main(%x: f32[N,8]) {
  %w = const f32[8,4] random(seed=1)
  %b = const f32[4] random(seed=2)
  %mm = MatMul(%x, %w) : f32[N,4]
  %z = Add(%b, %mm) : f32[N,4]
  %h = HardSigmoid(%z) {alpha=0.16666667, beta=0.5} : f32[N,4]
  %y = Mul(%h, %z) : f32[N,4]
  return %y
}
)");
  Graph before = g.clone();
  PassResult r = fuse(g);
  CHECK(r.stats.at("gemm") == 1);
  CHECK(r.stats.at("hardswish") == 1);
  REQUIRE(g.num_nodes() == 2);
  CHECK(g.nodes()[0]->op() == "Gemm");
  CHECK(g.nodes()[1]->op() == "HardSwish");
  CHECK(g.find_value("z")->producer()->op() == "Gemm");
  CHECK(testing::max_output_error(before, g) < 1e-5);

  Graph only = parse(print(before));
  CHECK(fuse(only, {{"patterns", "[hardswish]"}}).stats.count("gemm") == 0);
  CHECK(count_ops(only, "MatMul") == 1);
  CHECK(count_ops(only, "HardSwish") == 1);
  CHECK_THROWS_WITH(FusePass(Options{{"patterns", "[gelu,layrenorm]"}}),
                    Catch::Contains("did you mean 'layernorm'"));
}
