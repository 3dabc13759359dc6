#include "shrink/compress/prune_importance.h"

#include "compress/prune_test_util.h"

#include "shrink/core/error.h"
#include "shrink/exec/reference.h"
#include "shrink/io/datasets.h"
#include "shrink/ir/text.h"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace shrink;
using namespace shrink::prune_test;

namespace {

/// conv1 (4 channels, hand-set weights) -> BatchNormalization -> Relu -> conv2, pooled.
/// Channel 1 has the smallest weights, channel 3 the largest; the BatchNormalization scales
/// rank them differently (channel 0 smallest).
Graph ranked_graph() {
  return parse(R"(graph @ranked(%x: f32[N,2,4,4]) {
  %w1 = const f32[4,2,1,1] [1.0, -1.0, 0.1, 0.1, 0.5, -0.5, 3.0, 0.0]
  %g = const f32[4] [0.01, 1.0, 2.0, 1.0]
  %b = const f32[4] [0.0, 0.0, 0.0, 0.0]
  %m = const f32[4] [0.0, 0.0, 0.0, 0.0]
  %v = const f32[4] [1.0, 1.0, 1.0, 1.0]
  %w2 = const f32[3,4,1,1] [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
  %c1 = Conv(%x, %w1) : f32[N,4,4,4]
  %bn = BatchNormalization(%c1, %g, %b, %m, %v) : f32[N,4,4,4]
  %r = Relu(%bn) : f32[N,4,4,4]
  %c2 = Conv(%r, %w2) : f32[N,3,4,4]
  %y = GlobalAveragePool(%c2) : f32[N,3,1,1]
  return %y
})");
}

std::vector<double> importance_of(const Graph& g, PruneCriterion c, PassContext& ctx,
                                  std::vector<std::string>* warnings = nullptr, uint64_t seed = 0) {
  std::vector<PruneGroup> groups = find_prune_groups(g);
  ImportanceOptions o;
  o.criterion = c;
  o.seed = seed;
  const PruneGroup& grp = group_of(groups, "c1");
  std::vector<std::vector<double>> all = unit_importance(g, groups, {}, o, ctx, warnings);
  return all[static_cast<size_t>(grp.id)];
}

size_t argmin(const std::vector<double>& v) {
  return static_cast<size_t>(std::min_element(v.begin(), v.end()) - v.begin());
}

/// A trainer double: returns fixed gradients by name.
class FixedGradients : public Trainer {
public:
  std::vector<std::pair<std::string, Tensor>> grads;
  int64_t asked_samples = -1;
  std::vector<std::pair<std::string, Tensor>> gradients(const Graph&, const DataSource&,
                                                        int64_t max_samples) override {
    asked_samples = max_samples;
    return grads;
  }
};

} // namespace

TEST_CASE("prune importance: criterion names", "[prune]") {
  CHECK(parse_prune_criterion("l1") == PruneCriterion::L1);
  CHECK(parse_prune_criterion("bn-scale") == PruneCriterion::BnScale);
  CHECK(prune_criterion_name(PruneCriterion::Activation) == "activation");
  CHECK(prune_criterion_names().size() == 6);
  CHECK_THROWS_AS(parse_prune_criterion("tayolr"), RecipeError);
  CHECK_THROWS_WITH(parse_prune_criterion("tayolr"), Catch::Contains("did you mean 'taylor'"));
}

TEST_CASE("prune importance: l1 and l2 rank by the weights of every member", "[prune]") {
  Graph g = ranked_graph();
  PassContext ctx;
  // conv2 reads every channel with equal weights, so conv1's filters decide.
  std::vector<double> l1 = importance_of(g, PruneCriterion::L1, ctx);
  REQUIRE(l1.size() == 4);
  CHECK(argmin(l1) == 1);
  CHECK(l1[3] > l1[0]);
  CHECK(l1[0] == Approx(l1[2] * 2 - 1).margin(1e-9)); // (2/m + 1) vs (1/m + 1), m = mean l1 = 1.55
  std::vector<double> l2 = importance_of(g, PruneCriterion::L2, ctx);
  CHECK(argmin(l2) == 1);
  // l2 of [1,-1] is sqrt(2) < l2 of [3, 0] = 3, as for l1 (2 < 3), but the ratios differ.
  CHECK(l2[3] / l2[0] != Approx(l1[3] / l1[0]));
}

TEST_CASE("prune importance: bn-scale ranks by |gamma| and falls back to l2", "[prune]") {
  Graph g = ranked_graph();
  PassContext ctx;
  std::vector<double> bn = importance_of(g, PruneCriterion::BnScale, ctx);
  CHECK(argmin(bn) == 0);
  CHECK(bn[2] > bn[1]);

  Graph nobn = parse(R"(graph @nobn(%x: f32[N,2,4,4]) {
  %w1 = const f32[4,2,1,1] [1.0, -1.0, 0.1, 0.1, 0.5, -0.5, 3.0, 0.0]
  %w2 = const f32[3,4,1,1] random(seed=2)
  %c1 = Conv(%x, %w1) : f32[N,4,4,4]
  %r = Relu(%c1) : f32[N,4,4,4]
  %c2 = Conv(%r, %w2) : f32[N,3,4,4]
  %y = GlobalAveragePool(%c2) : f32[N,3,1,1]
  return %y
})");
  std::vector<std::string> warnings;
  std::vector<double> fb = importance_of(nobn, PruneCriterion::BnScale, ctx, &warnings);
  REQUIRE(fb.size() == 4);
  REQUIRE_FALSE(warnings.empty());
  CHECK(warnings.front().find("no BatchNormalization in group(s) c1") != std::string::npos);
  CHECK(warnings.front().find("ranked by l2") != std::string::npos);
}

TEST_CASE("prune importance: taylor needs a trainer and uses its gradients", "[prune]") {
  Graph g = ranked_graph();
  PassContext ctx;
  CHECK_THROWS_WITH(importance_of(g, PruneCriterion::Taylor, ctx),
                    Catch::Contains("taylor needs a trainer"));

  FixedGradients trainer;
  ctx.trainer = &trainer;
  CHECK_THROWS_WITH(importance_of(g, PruneCriterion::Taylor, ctx),
                    Catch::Contains("taylor needs data"));

  Tensor images = Tensor::random({4, 2, 4, 4}, 3);
  TensorDataSource data({images});
  ctx.calibration = &data;
  // Gradient 1 everywhere on w1: |sum w * g| per filter is |0|, |0.2|, |0|, |3|.
  Tensor ones(DType::f32, {4, 2, 1, 1});
  for (int64_t i = 0; i < ones.numel(); ++i)
    ones.data_mutable<float>()[i] = 1.0f;
  trainer.grads = {{"w1", ones}};
  std::vector<double> t = importance_of(g, PruneCriterion::Taylor, ctx);
  CHECK(trainer.asked_samples == 256);
  CHECK(t[0] == Approx(0.0).margin(1e-9));
  CHECK(t[2] == Approx(0.0).margin(1e-9));
  CHECK(t[3] > t[1]);
  CHECK(t[1] > 0);
}

TEST_CASE("prune importance: activation measures mean |output| on calibration data", "[prune]") {
  Graph g = ranked_graph();
  PassContext ctx;
  ReferenceExecutor exec;
  ctx.executor = &exec;
  CHECK_THROWS_WITH(importance_of(g, PruneCriterion::Activation, ctx),
                    Catch::Contains("criterion=activation needs calibration data"));

  // Inputs whose second channel is zero: conv1's channel 3 (weights [3, 0]) sees
  // 3 * x0, channel 2 (weights [0.5, -0.5]) sees 0.5 * x0.
  Tensor images = Tensor::random({40, 2, 4, 4}, 5);
  float* p = images.data_mutable<float>();
  for (int64_t n = 0; n < 40; ++n)
    for (int64_t i = 16; i < 32; ++i)
      p[n * 32 + i] = 0.0f;
  TensorDataSource data({images});
  ctx.calibration = &data;
  std::vector<double> a = importance_of(g, PruneCriterion::Activation, ctx);
  REQUIRE(a.size() == 4);
  CHECK(argmin(a) == 1);
  CHECK(a[3] == Approx(a[2] * 6).epsilon(1e-6));
  CHECK(a[0] == Approx(a[2] * 2).epsilon(1e-6));
}

TEST_CASE("prune importance: random is seeded", "[prune]") {
  Graph g = ranked_graph();
  PassContext ctx;
  std::vector<double> a = importance_of(g, PruneCriterion::Random, ctx, nullptr, 1);
  std::vector<double> b = importance_of(g, PruneCriterion::Random, ctx, nullptr, 1);
  std::vector<double> c = importance_of(g, PruneCriterion::Random, ctx, nullptr, 2);
  CHECK(a == b);
  CHECK(a != c);
  ctx.seed = 9;
  CHECK(importance_of(g, PruneCriterion::Random, ctx, nullptr, 1) != a);
}

TEST_CASE("prune importance: only the selected groups are measured", "[prune]") {
  Graph g = testing::small_cnn();
  std::vector<PruneGroup> groups = find_prune_groups(g);
  PassContext ctx;
  std::vector<bool> which(groups.size(), false);
  which[1] = true;
  std::vector<std::vector<double>> imp = unit_importance(g, groups, which, {}, ctx);
  CHECK(imp[0].empty());
  CHECK(imp[1].size() == static_cast<size_t>(groups[1].units));
}
