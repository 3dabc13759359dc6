// analyze-sensitivity: one record per layer, most sensitive first, graph unchanged.
#include "shrink/compress/sensitivity.h"
#include "shrink/core/error.h"
#include "shrink/exec/reference.h"
#include "shrink/io/datasets.h"
#include "shrink/ir/text.h"
#include "shrink/pass/registry.h"
#include "support/test_graphs.h"

#include <catch2/catch.hpp>

using namespace shrink;

TEST_CASE("analyze-sensitivity ranks layers by output SQNR and measures the metric",
          "[sensitivity]") {
  Graph g = testing::small_cnn();
  Tensor x = Tensor::random({32, 1, 28, 28}, 4);
  Tensor labels(DType::i64, {32});
  for (int64_t i = 0; i < 32; ++i)
    labels.data_mutable<int64_t>()[i] = i % 10;
  TensorDataSource data({x}, labels, "data");
  ReferenceExecutor exec;
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = &data;
  ctx.eval = &data;
  const std::string before = print(g);
  AnalyzeSensitivityPass pass(Options{{"sqnr_samples", "8"}});
  PassResult r = pass.run(g, ctx);
  CHECK_FALSE(r.changed);
  CHECK(print(g) == before);
  const SensitivityReport& rep = pass.report();
  REQUIRE(rep.layers.size() == 4);
  for (size_t i = 1; i < rep.layers.size(); ++i)
    CHECK(rep.layers[i - 1].sqnr_db <= rep.layers[i].sqnr_db);
  for (const LayerSensitivity& l : rep.layers) {
    CHECK(l.has_metric);
    CHECK(l.sqnr_db > 15.0);
    CHECK(l.sqnr_db < 200.0);
    CHECK(l.drop == Approx(100.0 * (rep.metric_float - l.metric)));
  }
  const auto from_stats = sensitivity_from_stats(r.stats);
  REQUIRE(from_stats.size() == 4);
  CHECK(from_stats[0].node == rep.layers[0].node);
  CHECK_THAT(rep.str(), Catch::Contains("| stem_conv | Conv |"));
}

TEST_CASE("analyze-sensitivity without eval data measures SQNR only", "[sensitivity]") {
  Graph g = testing::small_cnn();
  TensorDataSource data({Tensor::random({8, 1, 28, 28}, 5)});
  ReferenceExecutor exec;
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = &data;
  PassResult r = PassRegistry::global()
                     .create("analyze-sensitivity", {{"method", "mse"}, {"exclude", "[logits]"}})
                     ->run(g, ctx);
  const auto layers = sensitivity_from_stats(r.stats);
  CHECK(layers.size() == 3);
  for (const auto& l : layers)
    CHECK_FALSE(l.has_metric);
  CHECK_FALSE(r.warnings.empty());
  CHECK_THROWS_AS(PassRegistry::global().create("analyze-sensitivity", {{"metric", "acc"}}), Error);
}

TEST_CASE("analyze-sensitivity refuses quantize options it would ignore", "[sensitivity]") {
  auto& reg = PassRegistry::global();
  CHECK_THROWS_WITH(reg.create("analyze-sensitivity", {{"bias_correction", "true"}}),
                    Catch::Contains("'bias_correction' is not supported"));
  CHECK_THROWS_WITH(reg.create("analyze-sensitivity", {{"max_drop", "0.5"}}),
                    Catch::Contains("'max_drop' belongs to 'quantize'"));
  CHECK_NOTHROW(reg.create("analyze-sensitivity", {{"activations", "s8"}}));
}
