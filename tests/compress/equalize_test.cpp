// The equalize pass: the header example, numerical equivalence on chains (grouped, depthwise,
// dense) and a residual block, equalized ranges, and the cases it must leave alone.
#include "shrink/compress/equalize.h"
#include "shrink/core/error.h"
#include "shrink/exec/reference.h"
#include "shrink/ir/shape_inference.h"
#include "shrink/ir/text.h"
#include "shrink/pass/pass_manager.h"
#include "shrink/pass/registry.h"
#include "support/test_graphs.h"

#include <catch2/catch.hpp>

#include <cmath>

using namespace shrink;
using shrink::testing::max_output_error;

namespace {

const char* const kBefore = R"(graph @main(%x: f32[N,2,4,4]) {
  %w1 = const f32[2,2,1,1] [4.0, -2.0, 0.5, 1.0]
  %b1 = const f32[2] [2.0, -1.0]
  %w2 = const f32[2,2,1,1] [1.0, 0.5, -0.5, 4.0]
  %c1 = Conv(%x, %w1, %b1) : f32[N,2,4,4]
  %r = Relu(%c1) : f32[N,2,4,4]
  %c2 = Conv(%r, %w2) : f32[N,2,4,4]
  return %c2
}
)";

const char* const kAfter = R"(graph @main(%x: f32[N,2,4,4]) {
  %w1 = const f32[2,2,1,1] [2.0, -1.0, 1.0, 2.0]
  %b1 = const f32[2] [1.0, -2.0]
  %w2 = const f32[2,2,1,1] [2.0, 0.25, -1.0, 2.0]
  %c1 = Conv(%x, %w1, %b1) : f32[N,2,4,4]
  %r = Relu(%c1) : f32[N,2,4,4]
  %c2 = Conv(%r, %w2) : f32[N,2,4,4]
  return %c2
}
)";

/// Random weights whose output channel o is multiplied by 4^(o % 5 - 2), so that channel
/// ranges differ by up to 256x, as they do after batch-norm folding.
Tensor skewed(const Shape& shape, uint64_t seed) {
  Tensor t = Tensor::random(shape, seed);
  float* p = t.data_mutable<float>();
  const int64_t per = t.numel() / shape[0];
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] *= static_cast<float>(std::pow(4.0, (i / per) % 5 - 2));
  return t;
}

Value* conv(Graph& g, Value* x, int64_t cin, int64_t cout, int64_t group, uint64_t seed,
            const std::string& name, bool bias = true) {
  std::vector<Value*> in = {
      x, g.add_initializer(name + "_w", skewed({cout, cin / group, 3, 3}, seed))};
  if (bias) in.push_back(g.add_initializer(name + "_b", Tensor::random({cout}, seed + 1)));
  return g.add_op("Conv", in, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}, {"group", group}}, name);
}

Graph chain_graph() {
  Graph g("chain");
  Value* x =
      g.add_input("x", TensorType{DType::f32, std::vector<Dim>{Dim::sym("N"), Dim::known(4),
                                                               Dim::known(6), Dim::known(6)}});
  Value* h = conv(g, x, 4, 8, 1, 1, "c1");
  h = g.add_op("Relu", {h}, {}, "r1");
  h = conv(g, h, 8, 8, 8, 10, "dw"); // depthwise
  Value* zero = g.add_initializer("zero", Tensor::scalar(0.f));
  h = g.add_op("Clip", {h, zero}, {}, "clip");
  h = conv(g, h, 8, 6, 2, 20, "c3", false); // two groups
  h = conv(g, h, 6, 4, 1, 30, "c4");        // no activation in between
  g.set_outputs({h});
  infer_shapes(g);
  return g;
}

const EqualizedPair& pair(const EqualizePass& p, const std::string& first) {
  for (const EqualizedPair& q : p.pairs())
    if (q.first == first) return q;
  FAIL("no pair starts at " << first);
  throw Error("unreachable");
}

std::string reason(const EqualizePass& p, const std::string& node) {
  for (const EqualizeSkip& s : p.skipped())
    if (s.node == node) return s.reason;
  return "";
}

double spread(const std::vector<double>& r) {
  double lo = 1e300, hi = 0;
  for (double v : r) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  return hi / lo;
}

} // namespace

TEST_CASE("equalize: the header example", "[equalize]") {
  Graph g = parse(kBefore);
  Graph before = g.clone();
  PassContext ctx;
  EqualizePass pass;
  PassResult r = pass.run(g, ctx);
  CHECK(r.changed);
  CHECK(print(g) == kAfter);
  CHECK(max_output_error(before, g) < 1e-6);
  REQUIRE(pass.pairs().size() == 1);
  const EqualizedPair& p = pass.pairs()[0];
  CHECK(p.activation == "Relu");
  CHECK(p.first_ranges_before == std::vector<double>{4.0, 1.0});
  CHECK(p.second_ranges_before == std::vector<double>{1.0, 4.0});
  CHECK(p.first_ranges_after == std::vector<double>{2.0, 2.0});
  CHECK(p.second_ranges_after == std::vector<double>{2.0, 2.0});
  CHECK(p.min_scale == 0.5);
  CHECK(p.max_scale == 2.0);
  CHECK(r.stats.at("pairs") == 1);
  CHECK(r.stats.at("iterations") == 2); // the second round finds nothing left to move
  CHECK(r.stats.at("pair:c1->c2:first_max_before") == 4.0);
  CHECK(r.stats.at("pair:c1->c2:second_min_after") == 2.0);
  CHECK(reason(pass, "c2") == "its output 'c2' is a graph output");
  // Equalized graphs are a fixed point.
  EqualizePass again;
  CHECK_FALSE(again.run(g, ctx).changed);
}

TEST_CASE("equalize: a chain with depthwise and grouped convs computes the same function",
          "[equalize]") {
  Graph g = chain_graph();
  Graph before = g.clone();
  PassContext ctx;
  EqualizePass pass(Options{{"iterations", "50"}});
  PassResult r = pass.run(g, ctx);
  CHECK(r.changed);
  CHECK(max_output_error(before, g, 3, 11) < 1e-5);
  REQUIRE(pass.pairs().size() == 3);
  CHECK(pair(pass, "c1").second == "dw");
  CHECK(pair(pass, "dw").activation == "Clip");
  CHECK(pair(pass, "c3").activation.empty());
  // Converged: on every pair, both sides of each channel have the same range.
  CHECK(r.stats.at("iterations") < 50);
  for (const EqualizedPair& p : pass.pairs()) {
    INFO(p.first << " -> " << p.second);
    REQUIRE(p.first_ranges_after.size() == static_cast<size_t>(p.channels));
    for (int64_t c = 0; c < p.channels; ++c)
      CHECK(p.first_ranges_after[c] == Approx(p.second_ranges_after[c]).epsilon(1e-6));
    // The skewed channels got much more even.
    CHECK(spread(p.first_ranges_after) < spread(p.first_ranges_before) / 4);
  }
}

TEST_CASE("equalize: one round gives both sides sqrt(r1 r2) per channel", "[equalize]") {
  Graph g = chain_graph();
  PassContext ctx;
  EqualizePass pass(Options{{"iterations", "1"}, {"include", "[c3]"}});
  pass.run(g, ctx);
  REQUIRE(pass.pairs().size() == 1);
  const EqualizedPair& p = pass.pairs()[0];
  CHECK(p.second == "c4");
  for (int64_t c = 0; c < p.channels; ++c) {
    const double want = std::sqrt(p.first_ranges_before[c] * p.second_ranges_before[c]);
    CHECK(p.first_ranges_after[c] == Approx(want).epsilon(1e-6));
    CHECK(p.second_ranges_after[c] == Approx(want).epsilon(1e-6));
  }
  CHECK(reason(pass, "c1") == "not matched by any include pattern");
}

TEST_CASE("equalize: a residual block with batch norms is folded and equalized losslessly",
          "[equalize]") {
  Graph g = testing::residual_cnn_block();
  Graph before = g.clone();
  PassContext ctx;
  EqualizePass pass;
  PassResult r = pass.run(g, ctx);
  CHECK(r.stats.at("batchnorm_folded") == 2);
  CHECK(testing::count_ops(g, "BatchNormalization") == 0);
  REQUIRE(pass.pairs().size() == 1);
  CHECK(pass.pairs()[0].first == "block_conv1");
  CHECK(pass.pairs()[0].second == "block_conv2");
  // conv2 feeds the residual Add, which also reads the block input.
  CHECK_THAT(reason(pass, "block_conv2"), Catch::Contains("(Add), which is not a layer"));
  CHECK(max_output_error(before, g, 2, 5) < 1e-5);

  // Without folding, the batch norm between the layers breaks the pair.
  Graph unfolded = testing::residual_cnn_block();
  EqualizePass no_fold(Options{{"fold_batchnorm", "false"}});
  PassResult r2 = no_fold.run(unfolded, ctx);
  CHECK_FALSE(r2.changed);
  CHECK(no_fold.pairs().empty());
  CHECK_THAT(reason(no_fold, "block_conv1"),
             Catch::Contains("feeds BatchNormalization 'block_bn1': run fold-batchnorm first"));
}

TEST_CASE("equalize: Gemm and MatMul chains", "[equalize]") {
  Graph g("dense");
  Value* x =
      g.add_input("x", TensorType{DType::f32, std::vector<Dim>{Dim::sym("N"), Dim::known(8)}});
  Value* w1 = g.add_initializer("w1", skewed({16, 8}, 3)); // transB=1: [N, K]
  Value* b1 = g.add_initializer("b1", Tensor::random({16}, 4));
  Value* h = g.add_op("Gemm", {x, w1, b1}, {{"transB", int64_t{1}}, {"alpha", 0.5f}}, "fc1");
  h = g.add_op("Relu", {h}, {}, "relu");
  Value* w2 = g.add_initializer("w2", Tensor::random({16, 12}, 5)); // MatMul: [K, N]
  h = g.add_op("MatMul", {h, w2}, {}, "fc2");
  Value* w3 = g.add_initializer("w3", Tensor::random({12, 4}, 6)); // transB=0: [K, N]
  Value* b3 = g.add_initializer("b3", Tensor::random({4}, 7));
  h = g.add_op("Gemm", {h, w3, b3}, {}, "fc3");
  g.set_outputs({h});
  infer_shapes(g);
  Graph before = g.clone();
  PassContext ctx;
  EqualizePass pass;
  CHECK(pass.run(g, ctx).changed);
  REQUIRE(pass.pairs().size() == 2);
  CHECK(pair(pass, "fc1").second == "fc2");
  CHECK(pair(pass, "fc2").second == "fc3");
  CHECK(max_output_error(before, g, 4, 9) < 1e-5);
  CHECK(spread(pair(pass, "fc1").first_ranges_after) <
        spread(pair(pass, "fc1").first_ranges_before) / 4);
}

TEST_CASE("equalize: skips two consumers, non-homogeneous activations and shared paths",
          "[equalize]") {
  Graph g("skips");
  Value* x =
      g.add_input("x", TensorType{DType::f32, std::vector<Dim>{Dim::sym("N"), Dim::known(4),
                                                               Dim::known(5), Dim::known(5)}});
  // a: its Relu output has two readers.
  Value* a = g.add_op("Relu", {conv(g, x, 4, 4, 1, 1, "a")}, {}, "a_relu");
  Value* b = conv(g, a, 4, 4, 1, 2, "b");
  Value* b2 = conv(g, a, 4, 4, 1, 3, "b2");
  // b: LeakyRelu is not positively homogeneous with a per-channel scale of the negative side.
  Value* lb = g.add_op("LeakyRelu", {b}, {{"alpha", 0.1f}}, "b_leaky");
  Value* c = conv(g, lb, 4, 4, 1, 4, "c");
  // b2: ReLU6 (Clip with a max).
  Value* lo = g.add_initializer("lo", Tensor::scalar(0.f));
  Value* hi = g.add_initializer("hi", Tensor::scalar(6.f));
  Value* six = g.add_op("Clip", {b2, lo, hi}, {}, "b2_relu6");
  Value* d = conv(g, six, 4, 4, 1, 5, "d");
  // c: Clip with min -1 is not homogeneous either.
  Value* m1 = g.add_initializer("m1", Tensor::scalar(-1.f));
  Value* cc = g.add_op("Clip", {c, m1}, {}, "c_clip");
  Value* e = conv(g, cc, 4, 4, 1, 6, "e");
  g.set_outputs({g.add_op("Add", {g.add_op("Add", {d, e}, {}, "sum1"), x}, {}, "sum2")});
  infer_shapes(g);
  Graph before = g.clone();
  PassContext ctx;
  EqualizePass pass;
  PassResult r = pass.run(g, ctx);
  CHECK_FALSE(r.changed);
  CHECK(pass.pairs().empty());
  CHECK(r.stats.at("pairs") == 0);
  CHECK(r.stats.at("layers_skipped") == 6);
  CHECK_THAT(reason(pass, "a"), Catch::Contains("'a_relu' has 2 consumers"));
  CHECK_THAT(reason(pass, "b"), Catch::Contains("'b_leaky' (LeakyRelu), which is not positively "
                                                "homogeneous"));
  CHECK_THAT(reason(pass, "b2"), Catch::Contains("has a max"));
  CHECK_THAT(reason(pass, "c"), Catch::Contains("has min -1"));
  CHECK_THAT(reason(pass, "d"), Catch::Contains("(Add), which is not a layer"));
  CHECK(max_output_error(before, g) == 0.0);
}

TEST_CASE("equalize: runs from pipeline text and rejects bad options", "[equalize]") {
  Graph g = testing::small_cnn();
  Graph before = g.clone();
  PassContext ctx;
  PipelineReport rep = PassManager::from_text("equalize{iterations=20}").run(g, ctx);
  const PassRecord* rec = rep.find("equalize");
  REQUIRE(rec);
  CHECK(rec->stats.at("pairs") == 1);
  CHECK(max_output_error(before, g) < 1e-5);
  CHECK_THROWS_WITH(EqualizePass(Options{{"iterations", "0"}}),
                    Catch::Contains("option 'iterations' must be at least 1"));
  CHECK_THROWS_WITH(EqualizePass(Options{{"iteration", "3"}}), Catch::Contains("iterations"));
  Graph g2 = testing::small_cnn();
  CHECK_THROWS_AS(EqualizePass(Options{{"exclude", "[nothing*]"}}).run(g2, ctx), RecipeError);
}
