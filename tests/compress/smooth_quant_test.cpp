// The smooth-quant pass: float equivalence on LayerNorm -> q/k/v and linear chains, better int8
// activations with a planted outlier channel, the cases it leaves alone, and bad input.
#include "shrink/compress/quantize.h"
#include "shrink/compress/smooth_quant.h"
#include "shrink/core/error.h"
#include "shrink/exec/reference.h"
#include "shrink/io/datasets.h"
#include "shrink/ir/shape_inference.h"
#include "shrink/ir/text.h"
#include "shrink/pass/pass_manager.h"
#include "support/test_graphs.h"

#include <catch2/catch.hpp>

#include <memory>
#include <sstream>

using namespace shrink;
using shrink::testing::max_output_error;

namespace {

constexpr int64_t kChannels = 32;

/// x -> LayerNorm -> {q, k, v} MatMuls, combined as q * k + v (not as a sum of two layer
/// outputs, which `quantize` would treat as a projection shortcut and requantize), with a Shape
/// reader of the LayerNorm output that reshapes the sum, as attention blocks do. Gamma is about 1
/// except channel 5, which is `gain`: the planted outlier channel.
Graph ln_qkv_graph(float gain) {
  Graph g = parse(R"(
graph @ln_qkv(%x: f32[N,8,32]) {
  %gamma = const f32[32] ones
  %beta = const f32[32] random(seed=2)
  %wq = const f32[32,32] random(seed=3)
  %wk = const f32[32,32] random(seed=4)
  %wv = const f32[32,32] random(seed=5)
  %h = LayerNormalization(%x, %gamma, %beta) {axis=-1, epsilon=1e-05}
  %q = MatMul(%h, %wq)
  %k = MatMul(%h, %wk)
  %v = MatMul(%h, %wv)
  %qk = Mul(%q, %k)
  %s = Add(%qk, %v)
  %shape = Shape(%h)
  %y = Reshape(%s, %shape)
  return %y
}
)");
  Tensor gamma = Tensor::random({kChannels}, 1);
  float* p = gamma.data_mutable<float>();
  for (int64_t i = 0; i < kChannels; ++i)
    p[i] = 1.f + 0.2f * p[i];
  p[5] = gain;
  g.set_initializer(g.find_value("gamma"), gamma);
  infer_shapes(g);
  return g;
}

/// Calibration samples for a graph with one f32 input of per-sample shape `shape`.
std::shared_ptr<TensorDataSource> samples(Shape shape, uint64_t seed) {
  return std::make_shared<TensorDataSource>(std::vector<Tensor>{Tensor::random(shape, seed)},
                                            std::nullopt, "random");
}

const SmoothGroup& group_of(const SmoothQuantPass& p, const std::string& value) {
  for (const SmoothGroup& g : p.groups())
    if (g.value == value) return g;
  FAIL("no group for " << value);
  throw Error("unreachable");
}

/// Output SQNR of `q` against `f` on `inputs` (reference executor).
double output_sqnr(const Graph& f, const Graph& q, const std::vector<Tensor>& inputs) {
  ReferenceExecutor exec;
  return sqnr_db(exec.run(f, inputs)[0], exec.run(q, inputs)[0]);
}

/// `graph` smoothed (when `alpha >= 0`) and then quantized to static int8 with minmax ranges.
Graph quantized(const Graph& graph, double alpha, const DataSource& calib,
                const std::string& activations) {
  ReferenceExecutor exec;
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = &calib;
  Graph g = graph.clone();
  if (alpha >= 0) {
    SmoothQuantOptions o;
    o.alpha = alpha;
    SmoothQuantPass(o).run(g, ctx);
  }
  QuantizeOptions qo;
  qo.activations = activations;
  qo.measure_sqnr = false;
  QuantizePass(qo).run(g, ctx);
  return g;
}

} // namespace

TEST_CASE("smooth-quant: LayerNorm -> q/k/v keeps the float function and flattens the channels",
          "[smooth-quant]") {
  const Graph before = ln_qkv_graph(12.f);
  Graph g = before.clone();
  auto calib = samples({64, 8, kChannels}, 11);
  ReferenceExecutor exec;
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = calib.get();
  std::ostringstream log;
  ctx.log = &log;
  SmoothQuantPass pass;
  const PassResult r = pass.run(g, ctx);

  REQUIRE(r.changed);
  CHECK(max_output_error(before, g, 3, 21) < 1e-5);
  REQUIRE(pass.groups().size() == 1);
  const SmoothGroup& grp = group_of(pass, "h");
  CHECK(grp.smoothed);
  CHECK(grp.reason.empty());
  CHECK(grp.producer == "h");
  CHECK(grp.producer_op == "LayerNormalization");
  CHECK(grp.consumers == std::vector<std::string>{"q", "k", "v"});
  CHECK(grp.channels == kChannels);
  // The outlier channel spread shrinks: alpha=0.5 takes roughly its square root.
  const double spread_before = grp.act_max_before / grp.act_min_before;
  const double spread_after = grp.act_max_after / grp.act_min_after;
  CHECK(spread_before > 8);
  CHECK(spread_after < 0.5 * spread_before);
  CHECK(grp.act_max_after < grp.act_max_before);
  CHECK(grp.scale_min > 0);
  CHECK(grp.scale_max > grp.scale_min);
  // The constants were rewritten, not the nodes.
  CHECK(g.num_nodes() == before.num_nodes());
  CHECK_FALSE(
      g.find_value("gamma")->initializer().equals(before.find_value("gamma")->initializer()));
  CHECK_FALSE(g.find_value("wq")->initializer().equals(before.find_value("wq")->initializer()));
  CHECK(r.stats.at("groups_smoothed") == 1);
  CHECK(r.stats.at("layers_smoothed") == 3);
  CHECK(r.stats.at("calibration_samples") == 64);
  CHECK(r.stats.at("group:h:consumers") == 3);
  CHECK(r.stats.at("group:h:act_max_before") == Approx(grp.act_max_before));
  CHECK(log.str().find("smooth-quant: h (LayerNormalization) -> {q, k, v}") != std::string::npos);

  // The measured maxima are the real ones: after smoothing, channel 5 of h is 1/s_5 of before.
  const std::vector<Tensor> in = {Tensor::random({16, 8, kChannels}, 11)};
  const Tensor h0 = exec.run(before, in, {"h"})[1];
  const Tensor h1 = exec.run(g, in, {"h"})[1];
  double m0 = 0, m1 = 0;
  for (int64_t i = 5; i < h0.numel(); i += kChannels) {
    m0 = std::max(m0, std::fabs(h0.at(i)));
    m1 = std::max(m1, std::fabs(h1.at(i)));
  }
  CHECK(m1 < 0.5 * m0);
}

TEST_CASE("smooth-quant: Gemm -> Gemm -> Gemm and MatMul + bias chains keep the float function",
          "[smooth-quant]") {
  ReferenceExecutor exec;
  PassContext ctx;
  ctx.executor = &exec;

  SECTION("Gemm chain: the middle layer absorbs s of one group and 1/s of the next") {
    const Graph before = parse(R"(
graph @chain(%x: f32[N,16]) {
  %w1 = const f32[24,16] random(seed=1)
  %b1 = const f32[24] random(seed=2)
  %w2 = const f32[24,12] random(seed=3)
  %b2 = const f32[1,12] random(seed=4)
  %w3 = const f32[10,12] random(seed=5)
  %h1 = Gemm(%x, %w1, %b1) {transB=1}
  %h2 = Gemm(%h1, %w2, %b2)
  %y = Gemm(%h2, %w3) {transB=1, alpha=0.5}
  return %y
}
)");
    auto calib = samples({40, 16}, 3);
    ctx.calibration = calib.get();
    Graph g = before.clone();
    SmoothQuantPass pass(Options{{"alpha", "0.6"}});
    const PassResult r = pass.run(g, ctx);
    REQUIRE(r.changed);
    CHECK(r.stats.at("groups_smoothed") == 2);
    CHECK(group_of(pass, "h1").producer == "h1");
    CHECK(group_of(pass, "h1").consumers == std::vector<std::string>{"h2"});
    CHECK(group_of(pass, "h2").producer == "h2");
    CHECK(group_of(pass, "h2").consumers == std::vector<std::string>{"y"});
    CHECK(max_output_error(before, g, 5, 9) < 1e-5);
  }

  SECTION("MatMul + Add(bias) over 3-D activations, with a weight shared by another layer") {
    const Graph before = parse(R"(
graph @mlp(%x: f32[N,4,16]) {
  %w1 = const f32[16,16] random(seed=1)
  %b1 = const f32[16] random(seed=2)
  %w2 = const f32[16,8] random(seed=3)
  %m = MatMul(%x, %w1)
  %h = Add(%m, %b1)
  %y = MatMul(%h, %w2)
  %z = MatMul(%x, %w1) @side
  %t = ReduceSum(%z) {keepdims=0}
  return %y, %t
}
)");
    auto calib = samples({20, 4, 16}, 5);
    ctx.calibration = calib.get();
    Graph g = before.clone();
    SmoothQuantPass pass;
    const PassResult r = pass.run(g, ctx);
    REQUIRE(r.changed);
    const SmoothGroup& grp = group_of(pass, "h");
    CHECK(grp.smoothed);
    CHECK(grp.producer == "m");
    CHECK(grp.producer_op == "MatMul+Add");
    CHECK(grp.consumers == std::vector<std::string>{"y"});
    // The shared w1 got a private copy for m; the side layer still reads the original.
    CHECK(g.find_node("side")->input(1)->name() == "w1");
    CHECK(g.find_value("w1")->initializer().equals(before.find_value("w1")->initializer()));
    CHECK(g.find_node("m")->input(1)->name() != "w1");
    CHECK(max_output_error(before, g, 3, 4) < 1e-5);
  }
}

TEST_CASE("smooth-quant: a planted outlier channel hurts per-tensor int8 and smoothing repairs it",
          "[smooth-quant]") {
  auto calib = samples({64, 8, kChannels}, 11);
  // Measured on calibration samples: on unseen ones a few values beyond the calibrated maximum
  // of the outlier channel get clipped, and that error (the same with and without smoothing)
  // would hide the resolution this test is about.
  const std::vector<Tensor> test = calib->batch(0, 32).inputs;
  const Graph clean = ln_qkv_graph(1.f);
  const Graph outlier = ln_qkv_graph(40.f);
  for (const std::string act : {"u8", "s8"}) {
    INFO("activations=" << act);
    const double clean_plain = output_sqnr(clean, quantized(clean, -1, *calib, act), test);
    const double plain = output_sqnr(outlier, quantized(outlier, -1, *calib, act), test);
    const double smooth = output_sqnr(outlier, quantized(outlier, 0.5, *calib, act), test);
    INFO("clean " << clean_plain << " dB, outlier " << plain << " dB, smoothed " << smooth
                  << " dB");
    CHECK(plain < clean_plain - 6);
    CHECK(smooth > plain + 6);
  }
}

TEST_CASE("smooth-quant: activations it cannot smooth are left alone with a reason",
          "[smooth-quant]") {
  const Graph before = parse(R"(
graph @skip(%x: f32[N,8]) {
  %g = const f32[8] random(seed=1)
  %w = const f32[8,8] random(seed=2)
  %wb = const f32[8,8] random(seed=3)
  %h = LayerNormalization(%x, %g) {axis=-1}
  %a = MatMul(%h, %w)
  %r = Add(%h, %a)
  %m = MatMul(%x, %w) @from_input
  %u = Relu(%m)
  %z = MatMul(%u, %w) @after_relu
  %h2 = LayerNormalization(%z, %g) {axis=-1} @ln2
  %o = MatMul(%h2, %wb)
  %p = MatMul(%r, %o) @act_by_act
  return %p, %h2
}
)");
  Graph g = before.clone();
  auto calib = samples({8, 8}, 1);
  ReferenceExecutor exec;
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = calib.get();
  SmoothQuantPass pass;
  const PassResult r = pass.run(g, ctx);
  CHECK_FALSE(r.changed);
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0].find("left unchanged") != std::string::npos);
  CHECK(r.stats.at("groups_smoothed") == 0);
  CHECK(r.stats.at("groups_skipped") == 4);
  CHECK(group_of(pass, "h").reason.find("node 'r' (Add)") != std::string::npos);
  CHECK(group_of(pass, "x").reason.find("graph input") != std::string::npos);
  CHECK(group_of(pass, "u").reason.find("node 'u' (Relu) cannot absorb") != std::string::npos);
  CHECK(group_of(pass, "h2").reason.find("graph output") != std::string::npos);
  for (const SmoothGroup& grp : pass.groups())
    CHECK_FALSE(grp.smoothed);
  CHECK(print(g) == print(before));

  // No MatMul or Gemm with a constant weight at all.
  Graph plain = parse("graph @p(%x: f32[N,4]) {\n  %y = Relu(%x)\n  return %y\n}\n");
  const PassResult r2 = SmoothQuantPass().run(plain, ctx);
  CHECK_FALSE(r2.changed);
  REQUIRE(r2.warnings.size() == 1);
  CHECK(r2.warnings[0].find("no MatMul or Gemm") != std::string::npos);
}

TEST_CASE("smooth-quant: include and exclude select groups by producer or consumer name",
          "[smooth-quant]") {
  const Graph before = ln_qkv_graph(12.f);
  auto calib = samples({16, 8, kChannels}, 11);
  ReferenceExecutor exec;
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = calib.get();

  Graph g = before.clone();
  SmoothQuantPass excluded(Options{{"exclude", "[k]"}});
  CHECK_FALSE(excluded.run(g, ctx).changed);
  CHECK(group_of(excluded, "h").reason == "excluded by pattern 'k'");

  Graph g2 = before.clone();
  SmoothQuantPass included(Options{{"include", "[h*]"}});
  CHECK(included.run(g2, ctx).changed);

  Graph g3 = before.clone();
  SmoothQuantPass nothing(Options{{"include", "[fc*]"}});
  CHECK_THROWS_WITH(nothing.run(g3, ctx),
                    Catch::Contains("include pattern 'fc*' matches no producer or reader") &&
                        Catch::Contains("they are: h, q, k, v"));
}

TEST_CASE("smooth-quant: bad options and missing or wrong calibration data are clear errors",
          "[smooth-quant]") {
  CHECK_THROWS_AS(SmoothQuantPass(Options{{"alpha", "1.5"}}), RecipeError);
  CHECK_THROWS_WITH(SmoothQuantPass(Options{{"alpha", "-0.1"}}),
                    Catch::Contains("option 'alpha' must be in [0, 1]"));
  CHECK_THROWS_AS(SmoothQuantPass(Options{{"samples", "0"}}), RecipeError);
  CHECK_THROWS_WITH(SmoothQuantPass(Options{{"alpah", "0.5"}}), Catch::Contains("alpha"));

  const Graph before = ln_qkv_graph(12.f);
  ReferenceExecutor exec;
  PassContext ctx;
  ctx.executor = &exec;
  Graph g = before.clone();
  CHECK_THROWS_WITH(SmoothQuantPass().run(g, ctx), Catch::Contains("smooth-quant") &&
                                                       Catch::Contains("calibration data") &&
                                                       Catch::Contains("none given"));
  auto calib = samples({4, 8, kChannels}, 1);
  ctx.calibration = calib.get();
  ctx.executor = nullptr;
  CHECK_THROWS_WITH(SmoothQuantPass().run(g, ctx), Catch::Contains("needs an executor"));
  ctx.executor = &exec;
  auto wrong = samples({4, 8, 7}, 1);
  ctx.calibration = wrong.get();
  CHECK_THROWS_WITH(SmoothQuantPass().run(g, ctx),
                    Catch::Contains("smooth-quant") && Catch::Contains("per-sample shapes"));
  auto ints = std::make_shared<TensorDataSource>(
      std::vector<Tensor>{Tensor(DType::i64, {4, 8, kChannels})}, std::nullopt, "ints");
  ctx.calibration = ints.get();
  CHECK_THROWS_WITH(SmoothQuantPass().run(g, ctx), Catch::Contains("dtypes differ"));
  CHECK(print(g) == print(before));
}

TEST_CASE("smooth-quant: runs from pipeline text before quantize", "[smooth-quant]") {
  const Graph before = ln_qkv_graph(40.f);
  auto calib = samples({32, 8, kChannels}, 11);
  ReferenceExecutor exec;
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = calib.get();
  Graph g = before.clone();
  const PipelineReport report =
      PassManager::from_text("smooth-quant{alpha=0.5,samples=16,batch_size=8},quantize")
          .run(g, ctx);
  const PassRecord* rec = report.find("smooth-quant");
  REQUIRE(rec);
  CHECK(rec->changed);
  CHECK(rec->stats.at("calibration_samples") == 16);
  CHECK(rec->stats.at("groups_smoothed") == 1);
  CHECK(testing::count_ops(g, "QuantizeLinear") >= 1);
}

TEST_CASE("smooth-quant: the header example keeps its nodes and changes only the constants",
          "[smooth-quant]") {
  // The example of include/shrink/compress/smooth_quant.h.
  const Graph before = parse(R"(
graph @main(%x: f32[N,T,64]) {
  %g = const f32[64] random(seed=1)
  %b = const f32[64] zeros
  %wq = const f32[64,64] random(seed=2)
  %wk = const f32[64,64] random(seed=3)
  %h = LayerNormalization(%x, %g, %b) {axis=-1} : f32[N,T,64]
  %q = MatMul(%h, %wq) : f32[N,T,64]
  %k = MatMul(%h, %wk) : f32[N,T,64]
  %y = Add(%q, %k) : f32[N,T,64]
  return %y
}
)");
  auto calib = samples({8, 4, 64}, 2);
  ReferenceExecutor exec;
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = calib.get();
  Graph g = before.clone();
  REQUIRE(SmoothQuantPass().run(g, ctx).changed);
  REQUIRE(g.num_nodes() == before.num_nodes());
  const std::vector<Node*> a = before.nodes(), b = g.nodes();
  for (size_t i = 0; i < a.size(); ++i)
    CHECK(print_node(*a[i]) == print_node(*b[i]));
  for (const char* c : {"g", "wq", "wk"})
    CHECK_FALSE(g.find_value(c)->initializer().equals(before.find_value(c)->initializer()));
  CHECK(g.initializers().size() == before.initializers().size());
  CHECK(max_output_error(before, g, 2, 3) < 1e-5);
}
