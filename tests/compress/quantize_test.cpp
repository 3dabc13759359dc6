// The quantize pass: static int8 QDQ graphs, weight-only int8/int4 with groups, GPTQ, layer
// selection, the accuracy budget, reports and bad input.
#include "shrink/compress/quantize.h"
#include "shrink/core/error.h"
#include "shrink/exec/onednn.h"
#include "shrink/exec/reference.h"
#include "shrink/io/datasets.h"
#include "shrink/io/onnx.h"
#include "shrink/ir/evaluate.h"
#include "shrink/ir/shape_inference.h"
#include "shrink/ir/text.h"
#include "shrink/pass/pass_manager.h"
#include "shrink/pass/registry.h"
#include "shrink/transforms/builtin.h"
#include "support/test_graphs.h"

#include <catch2/catch.hpp>

#include <cmath>

using namespace shrink;
using shrink::testing::count_ops;

namespace {

/// Random images in [0, 1) for small_cnn.
std::shared_ptr<TensorDataSource> images(int64_t n, uint64_t seed) {
  Tensor t = Tensor::random({n, 1, 28, 28}, seed);
  float* p = t.data_mutable<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] = 0.5f * (p[i] + 1.f);
  return std::make_shared<TensorDataSource>(std::vector<Tensor>{t}, std::nullopt, "images");
}

/// The graph output SQNR of `q` against `f` on `inputs` (reference executor).
double output_sqnr(const Graph& f, const Graph& q, const std::vector<Tensor>& inputs) {
  ReferenceExecutor exec;
  return sqnr_db(exec.run(f, inputs)[0], exec.run(q, inputs)[0]);
}

const QuantLayer& record(const QuantizePass& p, const std::string& node) {
  for (const QuantLayer& l : p.layers())
    if (l.node == node) return l;
  FAIL("no record for " << node);
  throw Error("unreachable");
}

/// y = MatMul(x, w) + b with x: f32[N, K] and w: f32[K, M].
Graph matmul_graph(int64_t k, int64_t m, uint64_t seed) {
  Graph g("mm");
  Value* x =
      g.add_input("x", TensorType{DType::f32, std::vector<Dim>{Dim::sym("N"), Dim::known(k)}});
  Value* w = g.add_initializer("w", Tensor::random({k, m}, seed));
  Value* b = g.add_initializer("b", Tensor::random({m}, seed + 1));
  Value* y = g.add_op("MatMul", {x, w}, {}, "mm");
  g.set_outputs({g.add_op("Add", {y, b}, {}, "y")});
  infer_shapes(g);
  return g;
}

/// Inputs with strongly correlated features (a few latent factors plus noise), where GPTQ's
/// error compensation matters.
Tensor correlated_inputs(int64_t n, int64_t k, uint64_t seed) {
  const int64_t r = 4;
  Tensor z = Tensor::random({n, r}, seed), a = Tensor::random({r, k}, 1234);
  Tensor e = Tensor::random({n, k}, seed + 2);
  Tensor x(DType::f32, {n, k});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) {
      float s = 0.05f * e.data<float>()[i * k + j];
      for (int64_t t = 0; t < r; ++t)
        s += z.data<float>()[i * r + t] * a.data<float>()[t * k + j];
      x.data_mutable<float>()[i * k + j] = s;
    }
  return x;
}

} // namespace

TEST_CASE("quantize: static int8 turns a CNN into a QDQ graph close to the float one",
          "[quantize]") {
  Graph f = testing::small_cnn();
  PassContext clean;
  PassManager::from_text(kCleanupPipeline).run(f, clean); // batch norms into the weights
  auto calib = images(32, 1);
  ReferenceExecutor exec;
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = calib.get();
  Graph q = f.clone();
  QuantizePass pass(Options{{"batch_size", "16"}});
  PassResult r = pass.run(q, ctx);
  CHECK(r.changed);
  CHECK(r.stats.at("layers_quantized") == 4); // three convs and the classifier
  CHECK(r.stats.at("calibration_samples") == 32);
  // Every layer weight is an s8 initializer behind a per-channel DequantizeLinear.
  for (const Node* n : q.nodes()) {
    if (n->op() != "Conv" && n->op() != "Gemm") continue;
    const Node* wdq = n->input(1)->producer();
    REQUIRE(wdq);
    CHECK(wdq->op() == "DequantizeLinear");
    CHECK(wdq->input(0)->initializer().dtype() == DType::i8);
    CHECK(n->input(0)->producer()->op() == "DequantizeLinear");
  }
  CHECK(count_ops(q, "QuantizeLinear") == 4);
  CHECK(count_ops(q, "BatchNormalization") == 0);
  // Per-channel scales and i32 biases weigh a lot in a model this small; 4x is for real ones.
  CHECK(q.parameter_bytes() * 2 < f.parameter_bytes());
  const double sqnr = output_sqnr(f, q, {images(8, 99)->batch(0, 8).inputs[0]});
  CHECK(sqnr > 25.0);
  const QuantLayer& stem = record(pass, "stem_conv");
  CHECK(stem.quantized);
  CHECK(stem.activation == "u8");
  CHECK(stem.method == "minmax");
  CHECK(stem.weight_sqnr_db > 30.0);
  CHECK(stem.output_sqnr_db > 25.0);
  CHECK(stem.act_lo >= 0.f); // the images are in [0, 1)
  CHECK(stem.act_lo < 0.01f);
  CHECK(stem.act_zero_point == 0);
  CHECK(stem.act_hi > 0.9f);
  // The records survive the trip through the stats.
  const auto from_stats = quantize_layers_from_stats(r.stats);
  REQUIRE(from_stats.size() == pass.layers().size());
  for (const QuantLayer& l : from_stats) {
    const QuantLayer& orig = record(pass, l.node);
    CHECK(l.quantized == orig.quantized);
    CHECK(l.activation == orig.activation);
    CHECK(l.method == orig.method);
    CHECK(l.act_scale == Approx(orig.act_scale));
  }
}

TEST_CASE("quantize: the oneDNN runtime runs the result as int8 primitives", "[quantize]") {
  Graph f = testing::small_cnn();
  auto calib = images(16, 2);
  OneDnnExecutor exec({1});
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = calib.get();
  Graph q = f.clone();
  QuantizePass(Options{{"method", "percentile"}}).run(q, ctx);
  const std::vector<Tensor> in = {images(4, 5)->batch(0, 4).inputs[0]};
  const Tensor got = exec.run(q, in)[0];
  CHECK(exec.plan_info().count("int8 conv") >= 3);
  ReferenceExecutor ref;
  CHECK(sqnr_db(ref.run(q, in)[0], got) > 30.0);
}

TEST_CASE("quantize: every calibration method and s8 activations work", "[quantize]") {
  Graph f = testing::small_cnn();
  auto calib = images(16, 3);
  ReferenceExecutor exec;
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = calib.get();
  const std::vector<Tensor> in = {images(8, 7)->batch(0, 8).inputs[0]};
  for (const char* m : {"minmax", "percentile", "entropy", "mse"}) {
    INFO(m);
    Graph q = f.clone();
    QuantizePass pass(Options{{"method", m}, {"activations", "s8"}});
    pass.run(q, ctx);
    CHECK(record(pass, "stem_conv").activation == "i8");
    CHECK(record(pass, "stem_conv").act_zero_point == 0);
    CHECK(output_sqnr(f, q, in) > 15.0);
  }
  // A per-layer override.
  Graph q = f.clone();
  QuantizePass pass(Options{{"methods", "[logits=mse]"}});
  pass.run(q, ctx);
  CHECK(record(pass, "logits").method == "mse");
  CHECK(record(pass, "stem_conv").method == "minmax");
}

TEST_CASE("quantize: include, exclude and keep_last keep layers in float", "[quantize]") {
  Graph f = testing::small_cnn();
  auto calib = images(8, 4);
  ReferenceExecutor exec;
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = calib.get();
  Graph q = f.clone();
  QuantizePass pass(Options{{"exclude", "[stem*]"}, {"keep_last", "true"}});
  pass.run(q, ctx);
  CHECK_FALSE(record(pass, "stem_conv").quantized);
  CHECK_THAT(record(pass, "stem_conv").reason, Catch::Contains("excluded by pattern 'stem*'"));
  CHECK_FALSE(record(pass, "logits").quantized);
  CHECK(q.find_node("logits")->input(1)->is_initializer()); // still the f32 weight
  CHECK(q.find_node("stem_conv")->input(0)->name() == "x");
  Graph q2 = f.clone();
  CHECK_THROWS_WITH(QuantizePass(Options{{"include", "[nothing*]"}}).run(q2, ctx),
                    Catch::Contains("include pattern 'nothing*' matches no quantizable layer"));
}

TEST_CASE("quantize: weight-only int4 with groups stores [-8, 7] values in blocks", "[quantize]") {
  Graph f = matmul_graph(128, 16, 11);
  Graph q = f.clone();
  PassContext ctx;
  QuantizePass pass(Options{{"mode", "weight-only"}, {"bits", "4"}, {"group_size", "32"}});
  PassResult r = pass.run(q, ctx);
  REQUIRE(r.changed);
  const Node* dq = q.find_node("mm")->input(1)->producer();
  REQUIRE(dq);
  CHECK(dq->attr_int("block_size", 0) == 32);
  CHECK(dq->attr_int("axis", -1) == 0);
  const Tensor& wq = dq->input(0)->initializer();
  CHECK(wq.dtype() == DType::i8);
  CHECK(dq->input(1)->initializer().shape() == Shape{4, 16});
  int lo = 0, hi = 0;
  for (int64_t i = 0; i < wq.numel(); ++i) {
    lo = std::min<int>(lo, wq.data<int8_t>()[i]);
    hi = std::max<int>(hi, wq.data<int8_t>()[i]);
  }
  CHECK(lo >= -8);
  CHECK(hi == 7);
  CHECK(q.find_value("w") == nullptr); // the f32 weight is gone
  CHECK(record(pass, "mm").weight_bits == 4);
  CHECK(record(pass, "mm").activation == "f32");
  CHECK(record(pass, "mm").weight_sqnr_db > 15.0);
  // ONNX needs opset 21 for blocked DequantizeLinear.
  CHECK(onnx_export_opset(q) == 21);
  CHECK_FALSE(save_onnx_to_string(q).empty());
}

TEST_CASE("quantize: GPTQ beats round-to-nearest on correlated inputs", "[quantize]") {
  const int64_t k = 64, m = 32;
  Graph f = matmul_graph(k, m, 21);
  auto calib = std::make_shared<TensorDataSource>(std::vector<Tensor>{correlated_inputs(256, k, 5)},
                                                  std::nullopt, "calib");
  const std::vector<Tensor> test = {correlated_inputs(128, k, 50)};
  ReferenceExecutor exec;
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = calib.get();
  Graph rtn = f.clone(), gptq = f.clone();
  QuantizePass(Options{{"mode", "weight-only"}, {"bits", "4"}, {"group_size", "32"}}).run(rtn, ctx);
  QuantizePass pass(
      Options{{"mode", "weight-only"}, {"bits", "4"}, {"group_size", "32"}, {"gptq", "true"}});
  pass.run(gptq, ctx);
  CHECK(record(pass, "mm").gptq);
  const double s_rtn = output_sqnr(f, rtn, test), s_gptq = output_sqnr(f, gptq, test);
  INFO("RTN " << s_rtn << " dB, GPTQ " << s_gptq << " dB");
  CHECK(s_gptq > s_rtn + 3.0);
}

TEST_CASE("quantize: weight-only int8 per channel on Gemm layers", "[quantize]") {
  Graph f = testing::small_cnn();
  Graph q = f.clone();
  PassContext ctx;
  QuantizePass pass(Options{{"mode", "weight-only"}});
  pass.run(q, ctx);
  CHECK(record(pass, "logits").quantized);
  CHECK_FALSE(record(pass, "stem_conv").quantized);
  const Node* dq = q.find_node("logits")->input(1)->producer();
  CHECK(dq->attr_int("axis", -1) == 0); // transB=1: rows are output channels
  CHECK(output_sqnr(f, q, {images(4, 8)->batch(0, 4).inputs[0]}) > 35.0);
}

TEST_CASE("quantize: max_drop keeps the most sensitive layers in float", "[quantize]") {
  // A two-layer MLP whose predictions vary with the input; labels are its own predictions, so
  // the float model scores 100%.
  Graph f("mlp");
  Value* x =
      f.add_input("x", TensorType{DType::f32, std::vector<Dim>{Dim::sym("N"), Dim::known(16)}});
  Value* h = f.add_op("Gemm", {x, f.add_initializer("w1", Tensor::random({32, 16}, 1))},
                      {{"transB", int64_t{1}}}, "fc1");
  h = f.add_op("Relu", {h}, {}, "relu");
  f.set_outputs({f.add_op("Gemm", {h, f.add_initializer("w2", Tensor::random({10, 32}, 2))},
                          {{"transB", int64_t{1}}}, "fc2")});
  infer_shapes(f);
  const Tensor in = Tensor::random({256, 16}, 3);
  ReferenceExecutor exec;
  const Tensor logits = exec.run(f, {in})[0];
  Tensor labels(DType::i64, {256});
  for (int64_t i = 0; i < 256; ++i) {
    int64_t best = 0;
    for (int64_t c = 1; c < 10; ++c)
      if (logits.data<float>()[i * 10 + c] > logits.data<float>()[i * 10 + best]) best = c;
    labels.data_mutable<int64_t>()[i] = best;
  }
  TensorDataSource data({in}, labels, "data");
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = &data;
  ctx.eval = &data;
  // Heavy clipping (the 51st percentile) wrecks accuracy unless layers go back to float.
  const Options heavy{{"method", "percentile"}, {"percentile", "51"}};
  Graph plain = f.clone();
  QuantizePass(heavy).run(plain, ctx);
  REQUIRE(evaluate(plain, data, "accuracy", exec).value < 0.9);
  Graph q = f.clone();
  Options budget = heavy;
  budget["max_drop"] = "1";
  QuantizePass pass(budget);
  PassResult r = pass.run(q, ctx);
  CHECK(r.stats.at("metric_float") == 1.0);
  CHECK(r.stats.at("metric_drop") <= 1.0);
  CHECK(evaluate(q, data, "accuracy", exec).value >= 0.99);
  CHECK(r.stats.at("layers_float_for_accuracy") >= 1);
  bool warned = false;
  for (const std::string& w : r.warnings)
    warned = warned || w.find("to stay within max_drop=1") != std::string::npos;
  CHECK(warned);
  int kept = 0;
  for (const QuantLayer& l : pass.layers())
    kept += l.reason == "kept in float to meet max_drop";
  CHECK(kept == r.stats.at("layers_float_for_accuracy"));

  // With bias correction too, every trial is corrected for its own set of int8 layers (here the
  // 51st-percentile clipping is not a constant offset, so correction cannot save either layer),
  // the drop is met, and the layers left in int8 are exactly the ones corrected.
  Graph c = f.clone();
  Options corrected = budget;
  corrected["bias_correction"] = "true";
  QuantizePass cpass(corrected);
  PassResult rc = cpass.run(c, ctx);
  CHECK(rc.stats.at("metric_drop") <= 1.0);
  int int8_layers = 0;
  for (const QuantLayer& l : cpass.layers())
    int8_layers += l.quantized;
  CHECK(rc.stats.at("bias_corrected_layers") == int8_layers);
  CHECK(evaluate(c, data, "accuracy", exec).value >= 0.99);
}

TEST_CASE("quantize: bad input is reported clearly", "[quantize]") {
  Graph f = testing::small_cnn();
  ReferenceExecutor exec;
  PassContext ctx;
  ctx.executor = &exec;
  SECTION("wrong calibration dtype, before any work") {
    TensorDataSource bad({Tensor(DType::i64, {4, 1, 28, 28})});
    ctx.calibration = &bad;
    Graph q = f.clone();
    const std::string before = print(q);
    CHECK_THROWS_WITH(QuantizePass().run(q, ctx),
                      Catch::Contains("pass 'quantize'") && Catch::Contains("dtypes differ"));
    CHECK(print(q) == before);
  }
  SECTION("empty calibration set") {
    TensorDataSource empty({Tensor(DType::f32, {0, 1, 28, 28})});
    ctx.calibration = &empty;
    Graph q = f.clone();
    CHECK_THROWS_WITH(QuantizePass().run(q, ctx), Catch::Contains("is empty"));
  }
  SECTION("no calibration data") {
    Graph q = f.clone();
    CHECK_THROWS_WITH(QuantizePass().run(q, ctx), Catch::Contains("needs calibration data"));
  }
  SECTION("a graph with nothing to quantize") {
    Graph g("relu");
    Value* x = g.add_input("x", TensorType::of(DType::f32, {2, 3}));
    g.set_outputs({g.add_op("Relu", {x}, {}, "r")});
    infer_shapes(g);
    const std::string before = print(g);
    TensorDataSource data({Tensor(DType::f32, {2, 3})});
    ctx.calibration = &data;
    PassResult r = QuantizePass().run(g, ctx);
    CHECK_FALSE(r.changed);
    REQUIRE(r.warnings.size() == 1);
    CHECK_THAT(r.warnings[0], Catch::Contains("no quantizable layer"));
    CHECK(print(g) == before);
  }
  SECTION("bad options") {
    CHECK_THROWS_AS(QuantizePass(Options{{"bits", "3"}}), RecipeError);
    CHECK_THROWS_WITH(QuantizePass(Options{{"group_size", "64"}}),
                      Catch::Contains("applies to mode=weight-only"));
    CHECK_THROWS_WITH(QuantizePass(Options{{"metod", "mse"}}), Catch::Contains("method"));
    CHECK_THROWS_WITH(QuantizePass(Options{{"methods", "[stem*=kl]"}}).run(f, ctx),
                      Catch::Contains("unknown calibration method 'kl'"));
  }
}

TEST_CASE("quantize: registered and checked by the pass manager", "[quantize]") {
  CHECK(PassRegistry::global().contains("quantize"));
  Graph g = testing::small_cnn();
  PassContext ctx;
  PassManager pm = PassManager::from_text("fold-batchnorm,quantize");
  CHECK_THROWS_WITH(pm.run(g, ctx), Catch::Contains("quantize needs calibration data"));
  PassManager wo = PassManager::from_text("quantize{mode=weight-only,bits=4,group_size=32}");
  CHECK_NOTHROW(wo.validate(ctx));
}

TEST_CASE("quantize: a projection shortcut is read as an int8 residual", "[quantize]") {
  Graph f("proj");
  Value* x =
      f.add_input("x", TensorType{DType::f32, std::vector<Dim>{Dim::sym("N"), Dim::known(4),
                                                               Dim::known(8), Dim::known(8)}});
  Value* a = f.add_op("Conv", {x, f.add_initializer("wa", Tensor::random({8, 4, 3, 3}, 1))},
                      {{"pads", std::vector<int64_t>{1, 1, 1, 1}}}, "conv_a");
  Value* b =
      f.add_op("Conv", {x, f.add_initializer("wb", Tensor::random({8, 4, 1, 1}, 2))}, {}, "conv_b");
  Value* s = f.add_op("Add", {a, b}, {}, "sum");
  f.set_outputs({f.add_op("Relu", {s}, {}, "out")});
  infer_shapes(f);
  TensorDataSource calib({Tensor::random({8, 4, 8, 8}, 3)});
  OneDnnExecutor exec({1});
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = &calib;
  Graph q = f.clone();
  QuantizePass(Options{}).run(q, ctx);
  CHECK(count_ops(q, "QuantizeLinear") == 2); // x and the later conv's output
  const Node* add = q.find_node("sum");
  CHECK(add->input(0)->name() == "conv_a");
  CHECK(add->input(1)->producer()->op() == "DequantizeLinear");
  const std::vector<Tensor> in = {Tensor::random({2, 4, 8, 8}, 4)};
  const Tensor got = exec.run(q, in)[0];
  bool summed = false;
  for (const OneDnnStepInfo& step : exec.plan_info().steps)
    summed = summed || std::count(step.post_ops.begin(), step.post_ops.end(), "sum") > 0;
  CHECK(summed);
  ReferenceExecutor ref;
  CHECK(sqnr_db(ref.run(f, in)[0], got) > 25.0);
  Graph off = f.clone();
  QuantizePass(Options{{"quantize_residuals", "false"}}).run(off, ctx);
  CHECK(count_ops(off, "QuantizeLinear") == 1);
}

namespace {

/// Conv(16 -> 8, 3x3) + Relu + Conv(8 -> 8, 3x3, no bias) on x: f32[N,16,6,6]. Every filter has
/// one large weight (which sets its int8 scale) and otherwise small positive weights of about
/// 0.3 steps, which all round to 0: on inputs with a positive mean, the int8 layers' outputs are
/// systematically too low.
Graph biased_graph() {
  Graph g("biased");
  Value* x =
      g.add_input("x", TensorType{DType::f32, std::vector<Dim>{Dim::sym("N"), Dim::known(16),
                                                               Dim::known(6), Dim::known(6)}});
  auto skewed = [](const Shape& shape, uint64_t seed) {
    Tensor t = Tensor::random(shape, seed);
    float* p = t.data_mutable<float>();
    const int64_t per = t.numel() / shape[0];
    for (int64_t i = 0; i < t.numel(); ++i)
      p[i] = i % per == 0 ? 1.0f : (0.3f + 0.1f * p[i]) / 127.f;
    return t;
  };
  Value* h = g.add_op("Conv",
                      {x, g.add_initializer("w1", skewed({8, 16, 3, 3}, 1)),
                       g.add_initializer("b1", Tensor::random({8}, 2))},
                      {}, "conv1");
  h = g.add_op("Relu", {h}, {}, "relu");
  h = g.add_op("Conv", {h, g.add_initializer("w2", skewed({8, 8, 3, 3}, 3))},
               {{"pads", std::vector<int64_t>{1, 1, 1, 1}}}, "conv2");
  g.set_outputs({h});
  infer_shapes(g);
  return g;
}

/// Mean over channels of |mean over everything else of (q - f)| of the graph output.
double mean_channel_bias(const Graph& f, const Graph& q, const Tensor& in) {
  ReferenceExecutor exec;
  const Tensor a = exec.run(f, {in})[0], b = exec.run(q, {in})[0];
  const int64_t c = a.dim(1), inner = a.numel() / a.dim(0) / c;
  std::vector<double> sum(static_cast<size_t>(c), 0.0);
  for (int64_t i = 0; i < a.numel(); ++i)
    sum[(i / inner) % c] += b.data<float>()[i] - a.data<float>()[i];
  double total = 0;
  for (double v : sum)
    total += std::fabs(v) / (a.numel() / c);
  return total / c;
}

} // namespace

TEST_CASE("quantize: bias correction removes the systematic error of int8 layers",
          "[quantize][bias-correction]") {
  Graph f = biased_graph();
  auto positive = [](int64_t n, uint64_t seed) {
    Tensor t = Tensor::random({n, 16, 6, 6}, seed);
    float* p = t.data_mutable<float>();
    for (int64_t i = 0; i < t.numel(); ++i)
      p[i] = 0.5f * (p[i] + 1.f);
    return t;
  };
  TensorDataSource calib({positive(48, 10)});
  const Tensor held_out = positive(16, 11);
  ReferenceExecutor exec;
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = &calib;
  Graph plain = f.clone();
  QuantizePass(Options{{"batch_size", "16"}}).run(plain, ctx);
  const double before = mean_channel_bias(f, plain, held_out);
  CHECK(before > 0.05); // the rounding bias is really there
  double seq = 0, joint = 0;
  for (const char* order : {"sequential", "joint"}) {
    INFO(order);
    Graph q = f.clone();
    QuantizePass pass(Options{
        {"batch_size", "16"}, {"bias_correction", "true"}, {"bias_correction_order", order}});
    PassResult r = pass.run(q, ctx);
    CHECK(r.stats.at("bias_corrected_layers") == 2);
    CHECK(r.stats.at("seconds_bias_correction") >= 0);
    const double after = mean_channel_bias(f, q, held_out);
    // Joint correction also subtracts, at conv2, the part of its error that came from conv1 and
    // that conv1's own correction removes: it over-corrects, but still beats no correction.
    CHECK(after < (std::string(order) == "sequential" ? 0.25 : 0.75) * before);
    (std::string(order) == "sequential" ? seq : joint) = after;
    CHECK(sqnr_db(exec.run(f, {held_out})[0], exec.run(q, {held_out})[0]) >
          sqnr_db(exec.run(f, {held_out})[0], exec.run(plain, {held_out})[0]));
    CHECK(record(pass, "conv1").bias_shift_max > 0.01);
    CHECK(record(pass, "conv2").bias_shift_max > 0.01);
    // conv2 had no bias: it got one, stored as i32 like every quantized bias.
    const Node* conv2 = q.find_node("conv2");
    REQUIRE(conv2->input(2));
    const Node* bdq = conv2->input(2)->producer();
    REQUIRE(bdq);
    CHECK(bdq->op() == "DequantizeLinear");
    CHECK(bdq->input(0)->initializer().dtype() == DType::i32);
    const auto from_stats = quantize_layers_from_stats(r.stats);
    for (const QuantLayer& l : from_stats)
      CHECK(l.bias_shift_max == Approx(record(pass, l.node).bias_shift_max));
  }
  CHECK(seq < joint);
  // With float biases the corrected bias is a new f32 initializer.
  Graph fb = f.clone();
  QuantizePass(Options{{"bias_correction", "true"}, {"quantize_bias", "false"}}).run(fb, ctx);
  REQUIRE(fb.find_node("conv2")->input(2));
  CHECK(fb.find_node("conv2")->input(2)->is_initializer());
  CHECK(mean_channel_bias(f, fb, held_out) < 0.25 * before);
  CHECK_THROWS_WITH(QuantizePass(Options{{"mode", "weight-only"}, {"bias_correction", "true"}}),
                    Catch::Contains("option 'bias_correction' applies to mode=static"));
}

TEST_CASE("quantize: a GELU between two layers becomes an int8 table", "[quantize]") {
  // fc1 -> +b1 -> Gelu -> fc2: the MLP block of a transformer.
  Graph f("mlp");
  Value* x =
      f.add_input("x", TensorType{DType::f32, std::vector<Dim>{Dim::sym("N"), Dim::known(32)}});
  Value* h =
      f.add_op("MatMul", {x, f.add_initializer("w1", Tensor::random({32, 64}, 1))}, {}, "fc1");
  h = f.add_op("Add", {h, f.add_initializer("b1", Tensor::random({64}, 2))}, {}, "fc1_bias");
  Value* a = f.add_op("Gelu", {h}, {}, "gelu");
  Value* y =
      f.add_op("MatMul", {a, f.add_initializer("w2", Tensor::random({64, 16}, 3))}, {}, "fc2");
  f.set_outputs({y});
  infer_shapes(f);
  TensorDataSource calib({Tensor::random({64, 32}, 4)});
  OneDnnExecutor exec({1});
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = &calib;
  Graph q = f.clone();
  QuantizePass pass{QuantizeOptions{}};
  pass.run(q, ctx);
  CHECK(record(pass, "fc1").table_op == "Gelu");
  CHECK(record(pass, "fc2").table_op.empty());
  // x, the Gelu's input and the Gelu's output.
  CHECK(count_ops(q, "QuantizeLinear") == 3);
  CHECK(q.find_node("gelu")->input(0)->producer()->op() == "DequantizeLinear");
  const std::vector<Tensor> in = {Tensor::random({8, 32}, 5)};
  const Tensor got = exec.run(q, in)[0];
  const OneDnnPlanInfo info = exec.plan_info();
  INFO(info.str());
  CHECK(info.count("int8 table") == 1);
  CHECK(info.count("int8 matmul") == 2);
  ReferenceExecutor ref;
  CHECK(sqnr_db(ref.run(q, in)[0], got) > 40.0);
  CHECK(sqnr_db(ref.run(f, in)[0], got) > 25.0);

  // Off: the Gelu is fused into fc1 as a float post-op.
  Graph off = f.clone();
  QuantizePass(Options{{"table_ops", "[]"}}).run(off, ctx);
  CHECK(count_ops(off, "QuantizeLinear") == 2);
  exec.run(off, in);
  CHECK(exec.plan_info().count("int8 table") == 0);
  // Not when only one of the two layers is quantized.
  Graph one = f.clone();
  QuantizePass(Options{{"exclude", "[fc2]"}}).run(one, ctx);
  CHECK(count_ops(one, "QuantizeLinear") == 1);
  CHECK_THROWS_WITH(QuantizePass(Options{{"table_ops", "[Softmax]"}}),
                    Catch::Contains("table_ops") && Catch::Contains("Softmax"));
}
