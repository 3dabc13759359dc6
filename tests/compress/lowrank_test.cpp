// The lowrank pass: exactness at full rank, rank selection, budgets, whitening, errors.
#include "shrink/compress/lowrank.h"
#include "shrink/compress/register.h"
#include "shrink/core/error.h"
#include "shrink/exec/reference.h"
#include "shrink/io/datasets.h"
#include "shrink/ir/shape_inference.h"
#include "shrink/ir/text.h"
#include "shrink/pass/pass_manager.h"
#include "shrink/pass/registry.h"
#include "support/test_graphs.h"

#include <catch2/catch.hpp>

#include <algorithm>

#include <cmath>
#include <sstream>

using namespace shrink;
using shrink::testing::count_ops;
using shrink::testing::max_output_error;

namespace {

PassResult run_lowrank(Graph& g, const Options& options, PassContext ctx = {}) {
  infer_shapes(g);
  LowRankPass pass(options);
  return pass.run(g, ctx);
}

const LowRankLayer& layer(const LowRankPass& pass, const std::string& node) {
  for (const LowRankLayer& l : pass.layers())
    if (l.node == node) return l;
  FAIL("no record for node " << node);
  throw Error("unreachable");
}

/// Uniform random values in [-scale, scale).
Tensor random(const Shape& shape, uint64_t seed, float scale = 1.0f) {
  Tensor t = Tensor::random(shape, seed);
  float* p = t.data_mutable<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] *= scale;
  return t;
}

/// An m x n matrix of exact rank k (a product of random factors) plus `noise` uniform noise.
Tensor low_rank_matrix(int64_t m, int64_t n, int64_t k, uint64_t seed, float noise = 0.0f) {
  Tensor a = Tensor::random({m, k}, seed), b = Tensor::random({k, n}, seed + 1);
  Tensor e = Tensor::random({m, n}, seed + 2);
  Tensor out(DType::f32, {m, n});
  float* o = out.data_mutable<float>();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float s = 0;
      for (int64_t r = 0; r < k; ++r)
        s += a.data<float>()[i * k + r] * b.data<float>()[r * n + j];
      o[i * n + j] = s / std::sqrt(float(k)) + noise * e.data<float>()[i * n + j];
    }
  return out;
}

/// ||a - b|| / ||a|| (Frobenius).
double relative_error(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = a.at(i) - b.at(i);
    num += d * d;
    den += a.at(i) * a.at(i);
  }
  return std::sqrt(num / den);
}

/// Relative error of value `name` between two graphs over `data` (reference executor).
double value_error(const Graph& a, const Graph& b, const Tensor& data, const std::string& name) {
  ReferenceExecutor exec;
  Tensor ya = exec.run(a, {data}, {name}).back();
  Tensor yb = exec.run(b, {data}, {name}).back();
  return relative_error(ya, yb);
}

/// Anisotropic activations: x @ M with M's columns scaled by 0.85^j, so the second moment of
/// the result has a fast-decaying spectrum.
Tensor mixing_matrix(int64_t n, uint64_t seed) {
  Tensor m = Tensor::random({n, n}, seed);
  float* p = m.data_mutable<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      p[i * n + j] *= static_cast<float>(std::pow(0.85, double(j)));
  return m;
}

/// x: f32[N,n] -> MatMul(mix) -> h -> Gemm fc (weight `w`, transB=1, no bias) -> y.
Graph whitening_graph(int64_t n, const Tensor& w) {
  Graph g("whiten");
  Value* x =
      g.add_input("x", TensorType{DType::f32, std::vector<Dim>{Dim::sym("N"), Dim::known(n)}});
  Value* mix = g.add_initializer("mix", mixing_matrix(n, 11));
  Value* h = g.add_op("MatMul", {x, mix}, {}, "h");
  Value* wv = g.add_initializer("fc_w", w);
  Value* y = g.add_op("Gemm", {h, wv}, {{"transB", int64_t{1}}}, "fc");
  g.set_outputs({y});
  infer_shapes(g);
  return g;
}

} // namespace

TEST_CASE("lowrank at full rank reproduces the original graph", "[lowrank]") {
  const char* layers[] = {
      "graph @g(%x: f32[N,12]) {\n  %w = const f32[10,12] random(seed=1)\n"
      "  %b = const f32[10] random(seed=2)\n"
      "  %y = Gemm(%x, %w, %b) {transB=1, alpha=0.5, beta=2.0} : f32\n  return %y\n}\n",
      "graph @g(%x: f32[12,N]) {\n  %w = const f32[12,20] random(seed=1)\n"
      "  %b = const f32[20] random(seed=2)\n"
      "  %y = Gemm(%x, %w, %b) {transA=1} : f32\n  return %y\n}\n",
      "graph @g(%x: f32[N,5,12]) {\n  %w = const f32[12,9] random(seed=1)\n"
      "  %y = MatMul(%x, %w) : f32\n  return %y\n}\n",
      "graph @g(%x: f32[N,3,9,11]) {\n  %w = const f32[6,3,3,3] random(seed=1)\n"
      "  %b = const f32[6] random(seed=2)\n"
      "  %y = Conv(%x, %w, %b) {pads=[1,2,0,1], strides=[2,1], dilations=[1,2]} : f32\n"
      "  return %y\n}\n",
      "graph @g(%x: f32[N,4,7,7]) {\n  %w = const f32[5,4,3,2] random(seed=1)\n"
      "  %y = Conv(%x, %w) {auto_pad=\"SAME_UPPER\", kernel_shape=[3,2]} : f32\n"
      "  return %y\n}\n",
      "graph @g(%x: f32[N,4,16]) {\n  %w = const f32[6,4,5] random(seed=1)\n"
      "  %y = Conv(%x, %w) {pads=[2,2], strides=[2]} : f32\n  return %y\n}\n",
  };
  for (const char* text : layers) {
    for (const char* conv : {"channel", "spatial"}) {
      for (const char* svd : {"exact", "randomized"}) {
        CAPTURE(text, conv, svd);
        Graph g = parse(text);
        infer_shapes(g);
        Graph before = g.clone();
        const std::string op = g.outputs()[0]->producer()->op();
        PassResult r =
            run_lowrank(g, {{"ratio", "1.0"}, {"force", "true"}, {"conv", conv}, {"svd", svd}});
        CHECK(r.changed);
        CHECK(r.stats.at("layers_factorized") == 1);
        CHECK(count_ops(g, op) == 2);
        CHECK(g.outputs()[0]->name() == "y");
        CHECK(g.find_node("y") != nullptr);
        CHECK(max_output_error(before, g, 3) < 1e-5);
      }
    }
  }
}

TEST_CASE("lowrank factorizes the small CNN in both conv modes", "[lowrank]") {
  for (const char* conv : {"channel", "spatial"}) {
    Graph g = testing::small_cnn();
    Graph before = g.clone();
    LowRankPass pass(
        Options{{"ratio", "1.0"}, {"force", "true"}, {"conv", conv}, {"multiple", "1"}});
    PassContext ctx;
    PassResult r = pass.run(g, ctx);
    CHECK(r.stats.at("layers_factorized") == static_cast<double>(pass.layers().size()));
    CHECK(max_output_error(before, g, 2) < 1e-4);
    for (const LowRankLayer& l : pass.layers())
      if (l.op == "Conv") CHECK(l.form == std::string("conv-") + conv);
  }
}

TEST_CASE("lowrank writes the documented before/after example", "[lowrank]") {
  Graph g = parse(R"(graph @main(%x: f32[N,64]) {
  %w = const f32[64,64] random(seed=1)
  %b = const f32[64] zeros
  %y = Gemm(%x, %w, %b) {transB=1} : f32[N,64]
  return %y
}
)");
  run_lowrank(g, {{"ratio", "0.25"}});
  const std::string text = print(g);
  CHECK_THAT(text, Catch::Contains("%w_lr1 = const f32[16,64]"));
  CHECK_THAT(text, Catch::Contains("%w_lr2 = const f32[64,16]"));
  CHECK_THAT(text, Catch::Contains("%y_lr = Gemm(%x, %w_lr1) {transB=1} : f32[N,16]"));
  CHECK_THAT(text, Catch::Contains("%y = Gemm(%y_lr, %w_lr2, %b) {transB=1} : f32[N,64]"));
  CHECK(g.find_value("w") == nullptr);
  CHECK(g.num_parameters() == 2 * 16 * 64 + 64);
}

TEST_CASE("lowrank energy mode finds the rank of a low-rank weight", "[lowrank]") {
  Graph g("g");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {4, 96}));
  Value* w = g.add_initializer("w", low_rank_matrix(96, 80, 5, 3));
  g.set_outputs({g.add_op("MatMul", {x, w}, {}, "fc")});
  Graph before = g.clone();
  infer_shapes(before);
  LowRankPass pass(Options{{"energy", "0.9999"}, {"multiple", "1"}});
  PassContext ctx;
  infer_shapes(g);
  pass.run(g, ctx);
  const LowRankLayer& l = layer(pass, "fc");
  CHECK(l.factorized);
  CHECK(l.rank == 5);
  CHECK(l.full_rank == 80);
  CHECK(l.params_after == 5 * (96 + 80));
  CHECK(l.energy_kept > 0.9999);
  CHECK(max_output_error(before, g) < 1e-4);
}

TEST_CASE("lowrank rounds ranks up to the multiple", "[lowrank]") {
  for (int64_t multiple : {1, 5, 8, 16}) {
    CAPTURE(multiple);
    Graph g("g");
    Value* x = g.add_input("x", TensorType::of(DType::f32, {2, 128}));
    Value* w = g.add_initializer("w", low_rank_matrix(128, 128, 6, 5, 0.01f));
    g.set_outputs({g.add_op("MatMul", {x, w}, {}, "fc")});
    LowRankPass pass(Options{{"energy", "0.99"}, {"multiple", std::to_string(multiple)}});
    PassContext ctx;
    infer_shapes(g);
    pass.run(g, ctx);
    const LowRankLayer& l = layer(pass, "fc");
    REQUIRE(l.factorized);
    CHECK(l.rank % multiple == 0);
    CHECK(l.rank >= 6);
    CHECK(l.rank < 6 + multiple);
    // The initializers really have that rank.
    CHECK(g.find_value("w_lr1")->initializer().shape() == Shape{128, l.rank});
  }
}

TEST_CASE("lowrank keeps layers whose factorization saves nothing", "[lowrank]") {
  Graph g = parse(R"(graph @g(%x: f32[N,16]) {
  %w1 = const f32[16,16] random(seed=1)
  %w2 = const f32[64,16] random(seed=2)
  %a = MatMul(%x, %w1) : f32
  %b = Gemm(%a, %w2) {transB=1} : f32
  return %b
}
)");
  infer_shapes(g);
  Graph before = g.clone();
  LowRankPass pass(Options{{"ratio", "0.5"}});
  PassContext ctx;
  PassResult r = pass.run(g, ctx);
  // a: rank 8 of 16x16 needs 8 * 32 = 256 weights, as many as it has.
  CHECK_FALSE(layer(pass, "a").factorized);
  CHECK_THAT(layer(pass, "a").reason, Catch::Contains("not worth it"));
  CHECK(layer(pass, "a").params_after == 256);
  // b: rank 8 of 64x16 needs 8 * 80 = 640 < 1024.
  CHECK(layer(pass, "b").factorized);
  CHECK(layer(pass, "b").rank == 8);
  CHECK(r.stats.at("layers_factorized") == 1);
  CHECK(r.stats.at("layers_kept") == 1);
  CHECK(r.stats.at("params_before") == 256 + 1024);
  CHECK(r.stats.at("params_after") == 256 + 640);
  CHECK(count_ops(g, "MatMul") == 1);
  CHECK(count_ops(g, "Gemm") == 2);
  CHECK(g.num_parameters() == before.num_parameters() - 1024 + 640);
}

TEST_CASE("lowrank leaves depthwise and grouped convolutions alone", "[lowrank]") {
  Graph g = parse(R"(graph @g(%x: f32[N,16,8,8]) {
  %dw = const f32[16,1,3,3] random(seed=3)
  %gw = const f32[16,4,3,3] random(seed=4)
  %pw = const f32[32,16,3,3] random(seed=5)
  %a = Conv(%x, %dw) {group=16, pads=[1,1,1,1]} : f32
  %b = Conv(%a, %gw) {group=4, pads=[1,1,1,1]} : f32
  %c = Conv(%b, %pw) {pads=[1,1,1,1]} : f32
  return %c
}
)");
  infer_shapes(g);
  LowRankPass pass(Options{{"ratio", "0.25"}});
  PassContext ctx;
  PassResult r = pass.run(g, ctx);
  CHECK_THAT(layer(pass, "a").reason, Catch::Contains("depthwise"));
  CHECK_THAT(layer(pass, "b").reason, Catch::Contains("grouped"));
  CHECK(layer(pass, "c").factorized);
  CHECK(layer(pass, "c").form == "conv-channel");
  CHECK(r.stats.at("layers_skipped") == 2);
  CHECK(count_ops(g, "Conv") == 4);
}

TEST_CASE("lowrank conv=none leaves convolutions alone", "[lowrank]") {
  Graph g = testing::small_cnn();
  Graph before = g.clone();
  LowRankPass pass(Options{{"conv", "none"}, {"ratio", "0.25"}, {"multiple", "1"}});
  PassContext ctx;
  pass.run(g, ctx);
  CHECK(count_ops(g, "Conv") == count_ops(before, "Conv"));
  for (const LowRankLayer& l : pass.layers())
    if (l.op == "Conv") CHECK_THAT(l.reason, Catch::Contains("conv=none"));
}

TEST_CASE("lowrank spatial mode splits k x k into k x 1 and 1 x k", "[lowrank]") {
  Graph g = parse(R"(graph @g(%x: f32[N,32,16,16]) {
  %w = const f32[32,32,3,3] random(seed=1)
  %b = const f32[32] random(seed=2)
  %y = Conv(%x, %w, %b) {pads=[1,1,1,1], strides=[2,2], kernel_shape=[3,3]} : f32
  return %y
}
)");
  LowRankPass pass(Options{{"conv", "spatial"}, {"ratio", "0.25"}});
  infer_shapes(g);
  PassContext ctx;
  pass.run(g, ctx);
  const LowRankLayer& l = layer(pass, "y");
  REQUIRE(l.factorized);
  CHECK(l.rows == 32 * 3);
  CHECK(l.cols == 32 * 3);
  CHECK(l.rank == 24);
  const std::string text = print(g);
  CHECK_THAT(text, Catch::Contains("Conv(%x, %w_lr1) {kernel_shape=[3,1], pads=[1,0,1,0], "
                                   "strides=[2,1]} : f32[N,24,8,16]"));
  CHECK_THAT(text, Catch::Contains("Conv(%y_lr, %w_lr2, %b) {kernel_shape=[1,3], "
                                   "pads=[0,1,0,1], strides=[1,2]} : f32[N,32,8,8]"));
}

TEST_CASE("lowrank whitening lowers the output error on correlated inputs", "[lowrank]") {
  const int64_t n = 64;
  Graph g = whitening_graph(n, random({n, n}, 21));
  TensorDataSource data({random({256, n}, 31)});
  ReferenceExecutor exec;
  PassContext ctx;
  ctx.calibration = &data;
  ctx.executor = &exec;
  const Tensor calib = data.batch(0, 256).inputs[0];

  Graph plain = g.clone(), whitened = g.clone();
  LowRankPass plain_pass(Options{{"ratio", "0.25"}, {"include", "fc"}});
  LowRankPass white_pass(Options{{"ratio", "0.25"}, {"include", "fc"}, {"whiten", "true"}});
  plain_pass.run(plain, ctx);
  PassResult r = white_pass.run(whitened, ctx);
  CHECK(layer(plain_pass, "h").reason == "not matched by any include pattern");
  REQUIRE(layer(plain_pass, "fc").rank == 16);
  REQUIRE(layer(white_pass, "fc").rank == 16);
  CHECK(layer(white_pass, "fc").whitened);
  CHECK_FALSE(layer(plain_pass, "fc").whitened);
  CHECK(r.stats.at("calibration_samples") == 256);

  const double e_plain = value_error(g, plain, calib, "fc");
  const double e_white = value_error(g, whitened, calib, "fc");
  CAPTURE(e_plain, e_white);
  CHECK(e_white < 0.5 * e_plain);
  // The error the pass reports is the one measured on the calibration data.
  CHECK(layer(white_pass, "fc").output_error == Approx(e_white).epsilon(0.02));
  CHECK(layer(plain_pass, "fc").output_error == -1);
  // The energy of the whitened spectrum, not of W's, is what was kept.
  CHECK(layer(white_pass, "fc").energy_kept > layer(plain_pass, "fc").energy_kept);
}

TEST_CASE("lowrank whitening of convolutions and transposed Gemm inputs measures its error",
          "[lowrank]") {
  // The reported error comes from X^T X of the im2col patches; it matches the measured error
  // only when the patches (strides, pads, dilations, SAME pads) are right.
  struct Case {
    const char* text;
    Shape data;
    const char* batch_size; ///< The transA Gemm reads its whole K x N input as one batch.
  };
  const Case cases[] = {
      {R"(graph @g(%x: f32[N,3,9,10]) {
  %w = const f32[12,3,3,3] random(seed=1)
  %b = const f32[12] random(seed=2)
  %y = Conv(%x, %w, %b) {pads=[1,0,2,1], strides=[2,1], dilations=[1,2]} : f32
  return %y
}
)",
       {20, 3, 9, 10},
       "7"},
      {R"(graph @g(%x: f32[N,4,7,7]) {
  %w = const f32[16,4,3,3] random(seed=1)
  %y = Conv(%x, %w) {auto_pad="SAME_LOWER", strides=[2,2]} : f32
  return %y
}
)",
       {20, 4, 7, 7},
       "7"},
      {R"(graph @g(%x: f32[N,4,20]) {
  %w = const f32[16,4,5] random(seed=1)
  %y = Conv(%x, %w) {pads=[2,1], strides=[3]} : f32
  return %y
}
)",
       {20, 4, 20},
       "7"},
      {R"(graph @g(%x: f32[24,N]) {
  %w = const f32[24,24] random(seed=1)
  %y = Gemm(%x, %w) {transA=1} : f32
  return %y
}
)",
       {24, 64},
       "24"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    Graph g = parse(c.text);
    infer_shapes(g);
    const Tensor x = random(c.data, 7);
    TensorDataSource data({x});
    ReferenceExecutor exec;
    PassContext ctx;
    ctx.calibration = &data;
    ctx.executor = &exec;
    ctx.seed = 3;
    Graph f = g.clone();
    LowRankPass pass(Options{{"ratio", "0.5"},
                             {"whiten", "true"},
                             {"force", "true"},
                             {"multiple", "1"},
                             {"batch_size", c.batch_size},
                             {"damp", "0"}});
    pass.run(f, ctx);
    const LowRankLayer& l = layer(pass, "y");
    REQUIRE(l.factorized);
    CHECK(l.whitened);
    // The reported error is of the output before the bias: remove the bias from both.
    ReferenceExecutor e;
    Tensor ya = e.run(g, {x}).at(0), yb = e.run(f, {x}).at(0);
    const Value* bias = g.outputs()[0]->producer()->input(2);
    if (bias) {
      const Tensor& bt = bias->initializer();
      const int64_t c = ya.dim(1), inner = ya.numel() / ya.dim(0) / c;
      float* pa = ya.data_mutable<float>();
      float* pb = yb.data_mutable<float>();
      for (int64_t i = 0; i < ya.numel(); ++i) {
        const float bv = bt.data<float>()[(i / inner) % c];
        pa[i] -= bv;
        pb[i] -= bv;
      }
    }
    const double measured = relative_error(ya, yb);
    CAPTURE(measured, l.output_error);
    CHECK(measured > 1e-3);
    CHECK(l.output_error == Approx(measured).epsilon(0.01));
  }
}

TEST_CASE("lowrank whitening falls back to plain SVD when X^T X is singular", "[lowrank]") {
  const int64_t n = 32;
  Graph g = parse(R"(graph @g(%x: f32[N,32]) {
  %w = const f32[32,32] random(seed=1)
  %y = MatMul(%x, %w) : f32
  return %y
}
)");
  // Input feature 0 is always zero: X^T X is singular.
  Tensor data_x = random({100, n}, 5);
  for (int64_t i = 0; i < 100; ++i)
    data_x.data_mutable<float>()[i * n] = 0.0f;
  TensorDataSource data({data_x});
  ReferenceExecutor exec;
  PassContext ctx;
  ctx.calibration = &data;
  ctx.executor = &exec;
  {
    Graph f = g.clone();
    PassResult r = run_lowrank(f, {{"ratio", "0.25"}, {"whiten", "true"}, {"damp", "0"}}, ctx);
    REQUIRE(r.warnings.size() == 1);
    CHECK_THAT(r.warnings[0], Catch::Contains("node 'y' (MatMul)"));
    CHECK_THAT(r.warnings[0], Catch::Contains("singular"));
    CHECK_THAT(r.warnings[0], Catch::Contains("plain SVD"));
    CHECK(r.stats.at("layer:y:whitened") == 0);
    CHECK(r.stats.at("layer:y:factorized") == 1);
    // Still measured on the calibration data.
    CHECK(r.stats.at("layer:y:output_error") > 0);
  }
  {
    Graph f = g.clone();
    PassResult r = run_lowrank(f, {{"ratio", "0.25"}, {"whiten", "true"}}, ctx);
    CHECK(r.warnings.empty());
    CHECK(r.stats.at("layer:y:whitened") == 1);
  }
}

TEST_CASE("lowrank whitening needs calibration data and an executor", "[lowrank]") {
  Graph g = testing::small_cnn();
  PassContext ctx;
  CHECK_THROWS_WITH(LowRankPass(Options{{"whiten", "true"}}).run(g, ctx),
                    Catch::Contains("needs calibration data"));
  TensorDataSource data({random({4, 1, 28, 28}, 1)});
  ctx.calibration = &data;
  CHECK_THROWS_WITH(LowRankPass(Options{{"whiten", "true"}}).run(g, ctx),
                    Catch::Contains("needs an executor"));
  CHECK(LowRankPass(Options{{"whiten", "true"}}).info().needs.calibration_data);
  CHECK_FALSE(LowRankPass().info().needs.calibration_data);
  // The manager refuses the pipeline before anything runs.
  PassManager pm = PassManager::from_text("lowrank{whiten=true}");
  PassContext empty;
  CHECK_THROWS_AS(pm.run(g, empty), RecipeError);
}

namespace {

/// Three MatMul layers: an almost rank-8 one, an almost rank-24 one and a full-rank one.
Graph budget_graph() {
  Graph g("budget");
  Value* x =
      g.add_input("x", TensorType{DType::f32, std::vector<Dim>{Dim::sym("N"), Dim::known(128)}});
  Value* h = g.add_op(
      "MatMul", {x, g.add_initializer("w1", low_rank_matrix(128, 128, 8, 1, 0.01f))}, {}, "l1");
  h = g.add_op("MatMul", {h, g.add_initializer("w2", low_rank_matrix(128, 128, 24, 2, 0.01f))}, {},
               "l2");
  h = g.add_op("MatMul", {h, g.add_initializer("w3", random({128, 128}, 3))}, {}, "l3");
  g.set_outputs({h});
  infer_shapes(g);
  return g;
}

} // namespace

TEST_CASE("lowrank budget meets the parameter budget, cutting the least lossy layers first",
          "[lowrank]") {
  for (double budget : {0.2, 0.35, 0.6}) {
    CAPTURE(budget);
    Graph g = budget_graph();
    LowRankPass pass(Options{{"budget", std::to_string(budget)}});
    PassContext ctx;
    PassResult r = pass.run(g, ctx);
    const double before = 3 * 128 * 128;
    CHECK(r.stats.at("params_before") == before);
    CHECK(r.stats.at("params_after") <= budget * before);
    CHECK(g.num_parameters() == static_cast<int64_t>(r.stats.at("params_after")));
    for (const LowRankLayer& l : pass.layers())
      CHECK(l.rank % 8 == 0);
    // The nearly low-rank layers lose the least energy per saved weight: they go first, and
    // the full-rank one keeps the most.
    const LowRankLayer &l1 = layer(pass, "l1"), &l2 = layer(pass, "l2"), &l3 = layer(pass, "l3");
    CHECK(l1.factorized);
    CHECK(l1.rank <= 16);
    CHECK(l1.energy_kept > 0.99);
    INFO("ranks l1 " << l1.rank << " l2 " << l2.rank << " l3 " << l3.rank);
    // At 20% every layer must be cut (rank 8 steps: 8 + 16 + 8 is the only fit); the full-rank
    // layer then loses the most energy. With room to spare it keeps at least l2's rank.
    if (budget < 0.3)
      CHECK(l3.energy_kept < l2.energy_kept);
    else
      CHECK((!l3.factorized || l3.rank >= l2.rank));
    if (budget >= 0.6) CHECK_FALSE(l3.factorized);
  }
}

TEST_CASE("lowrank budget on FLOPs counts multiply-accumulates per sample", "[lowrank]") {
  Graph g = parse(R"(graph @g(%x: f32[N,16,16,16]) {
  %w1 = const f32[32,16,3,3] random(seed=1)
  %w2 = const f32[10,8192] random(seed=2)
  %c = Conv(%x, %w1) {pads=[1,1,1,1]} : f32
  %s = const i64[2] [-1, 8192]
  %f = Reshape(%c, %s) : f32
  %y = Gemm(%f, %w2) {transB=1} : f32
  return %y
}
)");
  infer_shapes(g);
  Graph before = g.clone();
  LowRankPass pass(Options{{"budget", "0.5"}, {"budget_metric", "flops"}, {"multiple", "4"}});
  PassContext ctx;
  PassResult r = pass.run(g, ctx);
  const double conv_flops = 16 * 16 * 32 * 16 * 9, gemm_flops = 10 * 8192;
  CHECK(r.stats.at("flops_before") == conv_flops + gemm_flops);
  CHECK(r.stats.at("flops_after") <= 0.5 * (conv_flops + gemm_flops));
  CHECK(layer(pass, "c").flops_after == layer(pass, "c").rank * 256.0 * (16 * 9 + 32));
  CHECK(r.warnings.empty());
}

TEST_CASE("lowrank reports a budget that cannot be met", "[lowrank]") {
  Graph g = budget_graph();
  PassContext ctx;
  try {
    LowRankPass(Options{{"budget", "0.05"}}).run(g, ctx);
    FAIL("no error");
  } catch (const RecipeError&) {
    FAIL("a budget that cannot be met is not a recipe error");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("cannot be met"));
    CHECK_THAT(e.what(), Catch::Contains("5.0%"));
    CHECK_THAT(e.what(), Catch::Contains("multiple of 8"));
  }
  // Nothing was changed.
  CHECK(count_ops(g, "MatMul") == 3);
}

TEST_CASE("lowrank include and exclude select layers by glob pattern", "[lowrank]") {
  Graph g = budget_graph();
  LowRankPass pass(Options{{"ratio", "0.25"}, {"include", "[l?]"}, {"exclude", "*3"}});
  PassContext ctx;
  pass.run(g, ctx);
  CHECK(layer(pass, "l1").factorized);
  CHECK(layer(pass, "l2").factorized);
  CHECK_FALSE(layer(pass, "l3").factorized);
  CHECK(layer(pass, "l3").reason == "excluded by pattern '*3'");

  for (const char* key : {"include", "exclude"}) {
    Graph h = budget_graph();
    CHECK_THROWS_MATCHES(LowRankPass(Options{{key, "[l1, fc*]"}}).run(h, ctx), RecipeError,
                         Catch::Matchers::Predicate<RecipeError>([&](const RecipeError& e) {
                           const std::string m = e.what();
                           return m.find(std::string(key) + " pattern 'fc*'") !=
                                      std::string::npos &&
                                  m.find("l1, l2, l3") != std::string::npos;
                         }));
  }
}

TEST_CASE("lowrank rejects bad options", "[lowrank]") {
  CHECK_THROWS_WITH(LowRankPass(Options{{"energy", "0.9"}, {"ratio", "0.5"}}),
                    Catch::Contains("at most one of 'energy', 'ratio' and 'budget'"));
  CHECK_THROWS_AS(LowRankPass(Options{{"energy", "1.5"}}), RecipeError);
  CHECK_THROWS_AS(LowRankPass(Options{{"ratio", "0"}}), RecipeError);
  CHECK_THROWS_AS(LowRankPass(Options{{"multiple", "0"}}), RecipeError);
  CHECK_THROWS_AS(LowRankPass(Options{{"damp", "-1"}}), RecipeError);
  CHECK_THROWS_WITH(LowRankPass(Options{{"conv", "depthwise"}}), Catch::Contains("allowed values"));
  CHECK_THROWS_WITH(LowRankPass(Options{{"ratoi", "0.5"}}),
                    Catch::Contains("did you mean 'ratio'"));
  LowRankOptions o;
  o.svd = "lapack";
  CHECK_THROWS_AS(LowRankPass(o), RecipeError);
  CHECK(LowRankPass(Options{{"budget", "0.3"}}).options().select == LowRankOptions::Select::budget);
  CHECK(LowRankPass().options().select == LowRankOptions::Select::energy);
}

TEST_CASE("lowrank is in the global registry and its records survive in the report", "[lowrank]") {
  CHECK(PassRegistry::global().contains("lowrank"));
  PassRegistry own;
  register_compress_passes(own);
  register_compress_passes(own);
  // Idempotent: every name once, lowrank and the pruning passes among them.
  std::vector<std::string> names = own.names();
  for (const char* name : {"lowrank", "prune-channels", "prune-heads"})
    CHECK(std::count(names.begin(), names.end(), name) == 1);

  Graph g = budget_graph();
  Graph before = g.clone();
  PassManager pm = PassManager::from_text("lowrank{ratio=0.25,exclude=[l3]}");
  PassContext ctx;
  PipelineReport report = pm.run(g, ctx);
  const PassRecord* rec = report.find("lowrank");
  REQUIRE(rec != nullptr);
  CHECK(rec->changed);
  std::vector<LowRankLayer> layers = lowrank_layers_from_stats(rec->stats);
  REQUIRE(layers.size() == 2);
  CHECK(layers[0].node == "l1");
  CHECK(layers[0].rank == 32);
  CHECK(layers[0].factorized);
  CHECK(layers[0].params_before == 128 * 128);
  CHECK(layers[0].params_after == 32 * 256);
  CHECK(layers[0].output_error == -1);
  CHECK(layers[1].node == "l2");
  CHECK(report.params_after == 2 * 32 * 256 + 128 * 128);
}

TEST_CASE("lowrank randomized SVD is close to the exact one", "[lowrank]") {
  // A decaying spectrum: a rank-40 matrix plus noise.
  Graph g("g");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {64, 200}));
  g.set_outputs({g.add_op(
      "MatMul", {x, g.add_initializer("w", low_rank_matrix(200, 180, 40, 9, 0.05f))}, {}, "fc")});
  infer_shapes(g);
  const Tensor data = random({64, 200}, 4);
  double err[2];
  int i = 0;
  for (const char* svd : {"exact", "randomized"}) {
    Graph f = g.clone();
    LowRankPass pass(Options{{"ratio", "0.1"}, {"svd", svd}});
    PassContext ctx;
    pass.run(f, ctx);
    CHECK(layer(pass, "fc").svd == svd);
    err[i++] = value_error(g, f, data, "fc");
  }
  CAPTURE(err[0], err[1]);
  CHECK(err[1] <= 1.05 * err[0]);
}

TEST_CASE("lowrank logs one line per selected layer", "[lowrank]") {
  Graph g = budget_graph();
  std::ostringstream log;
  PassContext ctx;
  ctx.log = &log;
  int progress_calls = 0;
  ctx.progress = [&](int64_t, int64_t, const std::string&) { ++progress_calls; };
  LowRankPass(Options{{"ratio", "0.25"}}).run(g, ctx);
  CHECK_THAT(log.str(), Catch::Contains("lowrank: l1 (MatMul matrix 128x128): rank 32/128"));
  CHECK(progress_calls == 3);
}
