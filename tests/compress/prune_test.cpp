#include "shrink/compress/prune.h"

#include "compress/prune_test_util.h"
#include "support/test_graphs.h"

#include "shrink/core/error.h"
#include "shrink/exec/reference.h"
#include "shrink/io/onnx.h"
#include "shrink/ir/stats.h"
#include "shrink/ir/text.h"
#include "shrink/ir/verifier.h"
#include "shrink/pass/pass_manager.h"
#include "shrink/pass/registry.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <iostream>
#include <sstream>

using namespace shrink;
using namespace shrink::prune_test;

namespace {

PassResult run_pass(Graph& g, const Options& options, PruneUnitKind kind = PruneUnitKind::Channel,
                    PassContext* ctx = nullptr) {
  PassContext local;
  PrunePass pass(kind, options);
  return pass.run(g, ctx ? *ctx : local);
}

int64_t dim_of(const Graph& g, const std::string& value, int axis) {
  return g.find_value(value)->initializer().dim(axis);
}

bool any_contains(const std::vector<std::string>& v, const std::string& text) {
  for (const std::string& s : v)
    if (s.find(text) != std::string::npos) return true;
  return false;
}

/// Runs `g` on random inputs (it must verify and execute).
std::vector<Tensor> run_graph(const Graph& g, uint64_t seed = 3) {
  ReferenceExecutor exec;
  return exec.run(g, testing::random_inputs(g, 2, seed));
}

} // namespace

TEST_CASE("prune options: targets and ranges are checked", "[prune]") {
  auto make = [](const Options& o) { return PruneChannelsPass(o); };
  CHECK_THROWS_AS(make({{"ratio", "1.0"}}), RecipeError);
  CHECK_THROWS_WITH(make({{"ratio", "1.5"}}),
                    Catch::Contains("prune-channels: ratio must be in [0, 1)") &&
                        Catch::Contains("1.5"));
  CHECK_THROWS_WITH(make({{"ratio", "-0.1"}}), Catch::Contains("ratio must be in [0, 1)"));
  CHECK_THROWS_WITH(make({}), Catch::Contains("give a target"));
  CHECK_THROWS_WITH(make({{"ratio", "0.5"}, {"params", "0.3"}}),
                    Catch::Contains("give only one target"));
  CHECK_THROWS_WITH(make({{"global", "true"}, {"params", "0.3"}}),
                    Catch::Contains("global needs ratio"));
  CHECK_THROWS_WITH(make({{"ratios", "[conv1:1.2]"}}),
                    Catch::Contains("the ratio of 'conv1' must be in [0, 1)"));
  CHECK_THROWS_WITH(make({{"ratios", "[conv1]"}}), Catch::Contains("must be pattern:ratio"));
  CHECK_THROWS_WITH(make({{"ratio", "0.5"}, {"criterion", "l3"}}),
                    Catch::Contains("unknown pruning criterion 'l3'"));
  CHECK_THROWS_WITH(make({{"ratio", "0.5"}, {"round", "0"}}), Catch::Contains("round must be"));
  CHECK_THROWS_WITH(make({{"ratio", "0.5"}, {"min-channels", "0"}}),
                    Catch::Contains("min-channels must be >= 1"));
  CHECK_THROWS_AS(make({{"ratio", "0.5"}, {"ratoi", "0.5"}}), RecipeError);
  CHECK_THROWS_AS(PruneHeadsPass({{"ratio", "0.5"}, {"min-channels", "2"}}), RecipeError);
  CHECK_NOTHROW(PruneHeadsPass({{"ratio", "0.5"}, {"min-heads", "2"}}));

  PruneChannelsPass ok({{"ratio", "0.25"}, {"criterion", "taylor"}});
  CHECK(ok.info().name == "prune-channels");
  CHECK(ok.info().needs.trainer);
  CHECK(ok.info().requires.count("shapes"));
  CHECK(PruneChannelsPass({{"ratio", "0.25"}, {"criterion", "activation"}})
            .info()
            .needs.calibration_data);
}

TEST_CASE("prune-channels: per-layer ratio on a small CNN", "[prune]") {
  Graph g = testing::small_cnn();
  Graph original = g.clone();
  PassResult r = run_pass(g, {{"ratio", "0.5"}});
  CHECK(r.changed);
  CHECK(verify(g).empty());
  CHECK(dim_of(g, "stem_conv_w", 0) == 4);
  CHECK(dim_of(g, "block_conv1_w", 0) == 4);
  CHECK(dim_of(g, "block_conv2_w", 1) == 4);
  CHECK(dim_of(g, "fc_w", 1) == 4);
  CHECK(r.stats["groups"] == 3);
  CHECK(r.stats["prunable_groups"] == 2);
  CHECK(r.stats["blocked_groups"] == 1);
  CHECK(r.stats["pruned_groups"] == 2);
  CHECK(r.stats["units_removed"] == 8);
  CHECK(r.stats["params_after"] < r.stats["params_before"]);
  CHECK(r.stats["flops_after"] < r.stats["flops_before"]);
  // The blocked classifier output is reported.
  CHECK(any_contains(r.warnings, "'logits' (10 channels) is not pruned: 'logits' is a graph "
                                 "output"));
  CHECK(run_graph(g).front().shape() == Shape{2, 10});
  // The original's clone is untouched (initializers are shared, never written).
  CHECK(original.find_value("stem_conv_w")->initializer().dim(0) == 8);
}

TEST_CASE("prune-channels: the l1 choice removes the smallest filters, exactly", "[prune]") {
  // The example of prune.h.
  Graph g = parse(R"(graph @main(%x: f32[N,2,4,4]) {
  %w1 = const f32[4,2,1,1] [1.0, 0.0, 0.1, 0.1, 0.0, 0.5, 2.0, 0.0]
  %g = const f32[4] [1.0, 1.0, 1.0, 1.0]
  %b = const f32[4] [0.0, 0.0, 0.0, 0.0]
  %m = const f32[4] [0.0, 0.0, 0.0, 0.0]
  %v = const f32[4] [1.0, 1.0, 1.0, 1.0]
  %w2 = const f32[2,4,1,1] [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]
  %c1 = Conv(%x, %w1) : f32[N,4,4,4]
  %bn = BatchNormalization(%c1, %g, %b, %m, %v) : f32[N,4,4,4]
  %r = Relu(%bn) : f32[N,4,4,4]
  %y = Conv(%r, %w2) : f32[N,2,4,4]
  return %y
})");
  run_pass(g, {{"ratio", "0.5"}, {"criterion", "l1"}});
  CHECK(g.find_value("w1")->initializer().to_doubles() == std::vector<double>{1, 0, 2, 0});
  CHECK(g.find_value("w2")->initializer().to_doubles() == std::vector<double>{1, 1, 0.5, 0.5});
  CHECK(print_type(g.find_value("r")->type()) == "f32[N,2,4,4]");
}

TEST_CASE("prune-channels: min-channels and round", "[prune]") {
  Graph g = testing::transformer_encoder_block();
  // 64 hidden neurons, 0.9 removed would keep 7: rounded up to 8.
  PassResult r = run_pass(g, {{"ratio", "0.9"}, {"round", "8"}});
  CHECK(dim_of(g, "fc1_w", 1) == 8);
  CHECK(dim_of(g, "fc2_w", 0) == 8);
  // prune-channels leaves the heads alone.
  CHECK(dim_of(g, "q_proj_w", 1) == 32);
  CHECK(r.stats["groups"] == 2); // the MLP and the (blocked) residual stream

  Graph h = testing::transformer_encoder_block();
  run_pass(h, {{"ratio", "0.9"}, {"min-channels", "20"}});
  CHECK(dim_of(h, "fc1_w", 1) == 20);
  CHECK(run_graph(h).front().shape() == Shape{2, 16, 32});
}

TEST_CASE("prune-channels: per-layer ratios by pattern", "[prune]") {
  Graph g = testing::small_cnn();
  run_pass(g, {{"ratios", "[block_conv1:0.75,stem:0.25]"}});
  CHECK(dim_of(g, "block_conv1_w", 0) == 2);
  CHECK(dim_of(g, "stem_conv_w", 0) == 6);
}

TEST_CASE("prune-channels: protected groups are reported, not skipped silently", "[prune]") {
  Graph g = testing::small_cnn();
  PassResult r = run_pass(g, {{"ratio", "0.5"}, {"protect", "[stem]"}});
  CHECK(dim_of(g, "stem_conv_w", 0) == 8);
  CHECK(dim_of(g, "block_conv1_w", 0) == 4);
  CHECK(r.stats["protected_groups"] == 1);
  CHECK(any_contains(r.warnings, "group 0 'stem_conv' (8 channels) is protected by pattern "
                                 "'stem'"));
  // Protecting the classifier protects the residual stream it reads.
  Graph h = testing::small_cnn();
  PassResult rh = run_pass(h, {{"ratio", "0.5"}, {"protect", "[logit*]"}});
  CHECK(dim_of(h, "fc_w", 1) == 8);
  CHECK(rh.stats["protected_groups"] == 1);
}

TEST_CASE("prune-channels: patterns that match nothing and blocked layers are errors", "[prune]") {
  Graph g = testing::small_cnn();
  CHECK_THROWS_WITH(run_pass(g, {{"ratio", "0.5"}, {"protect", "[clasifier]"}}),
                    Catch::Contains("protect pattern 'clasifier' matches no node"));
  CHECK_THROWS_WITH(run_pass(g, {{"ratio", "0.5"}, {"layers", "[stem_cnov]"}}),
                    Catch::Contains("did you mean 'stem_conv'"));
  // Asking for a layer whose channels feed the graph output.
  CHECK_THROWS_WITH(run_pass(g, {{"ratio", "0.5"}, {"layers", "[logits]"}}),
                    Catch::Contains("cannot be pruned") && Catch::Contains("'logits'") &&
                        Catch::Contains("graph output"));
  // A pattern naming a node that produces no group.
  CHECK_THROWS_WITH(run_pass(g, {{"ratio", "0.5"}, {"layers", "[pool]"}}),
                    Catch::Contains("layers pattern 'pool' matches no layer"));
  // The graph is unchanged by the failures.
  CHECK(dim_of(g, "stem_conv_w", 0) == 8);

  // A graph where nothing can be pruned.
  Graph only = parse(R"(graph @only(%x: f32[N,2]) {
  %w = const f32[3,2] random(seed=1)
  %y = Gemm(%x, %w) {transB=1} : f32[N,3]
  return %y
})");
  CHECK_THROWS_WITH(run_pass(only, {{"ratio", "0.5"}}),
                    Catch::Contains("no group can be pruned") && Catch::Contains("'y'"));
  // prune-heads on a CNN.
  CHECK_THROWS_WITH(run_pass(g, {{"ratio", "0.5"}}, PruneUnitKind::Head),
                    Catch::Contains("prune-heads: found no attention heads"));
}

TEST_CASE("prune-channels: layers restricts the pruned groups", "[prune]") {
  Graph g = testing::small_cnn();
  PassResult r = run_pass(g, {{"ratio", "0.5"}, {"layers", "[block_conv1]"}});
  CHECK(dim_of(g, "block_conv1_w", 0) == 4);
  CHECK(dim_of(g, "stem_conv_w", 0) == 8);
  CHECK(r.stats["pruned_groups"] == 1);
}

TEST_CASE("prune-channels: global ratio ranks all groups together", "[prune]") {
  Graph g = testing::small_cnn();
  PassResult r = run_pass(g, {{"ratio", "0.5"}, {"global", "true"}});
  // 16 prunable channels in two groups of 8: 8 go, split by normalized importance.
  CHECK(r.stats["units_removed"] == 8);
  CHECK(dim_of(g, "stem_conv_w", 0) + dim_of(g, "block_conv1_w", 0) == 8);
  CHECK(verify(g).empty());
  run_graph(g);
}

TEST_CASE("prune-channels: parameter and FLOP budgets", "[prune]") {
  Graph g = testing::small_cnn();
  const int64_t params = g.num_parameters();
  PassResult r = run_pass(g, {{"params", "0.6"}});
  CHECK(g.num_parameters() <= static_cast<int64_t>(0.6 * params));
  CHECK(g.num_parameters() > static_cast<int64_t>(0.3 * params));
  CHECK(r.stats["params_after"] == g.num_parameters());

  Graph f = testing::small_cnn();
  const int64_t flops = graph_stats(f).flops;
  run_pass(f, {{"flops", "0.5"}, {"criterion", "l2"}});
  CHECK(graph_stats(f).flops <= flops / 2);
  run_graph(f);

  // An absolute count, and a budget too small to reach.
  Graph a = testing::small_cnn();
  run_pass(a, {{"params", std::to_string(params - 500)}});
  CHECK(a.num_parameters() <= params - 500);
  Graph t = testing::small_cnn();
  PassResult rt = run_pass(t, {{"params", "0.01"}});
  CHECK(any_contains(rt.warnings, "cannot be reached"));
  CHECK(dim_of(t, "stem_conv_w", 0) == 1);
}

TEST_CASE("prune-channels: taylor without a trainer is a clear error", "[prune]") {
  Graph g = testing::small_cnn();
  CHECK_THROWS_WITH(run_pass(g, {{"ratio", "0.5"}, {"criterion", "taylor"}}),
                    Catch::Contains("taylor needs a trainer"));
  // Through the pass manager the need is checked before anything runs.
  PassManager pm;
  pm.add(std::make_unique<PruneChannelsPass>(Options{{"ratio", "0.5"}, {"criterion", "taylor"}}));
  PassContext ctx;
  CHECK_THROWS_WITH(pm.run(g, ctx), Catch::Contains("needs a trainer"));
}

TEST_CASE("prune-channels: the activation criterion on calibration data", "[prune]") {
  Graph g = testing::small_cnn();
  ReferenceExecutor exec;
  class Images : public DataSource {
  public:
    int64_t size() const override { return 8; }
    Batch batch(int64_t start, int64_t count) const override {
      count = std::min(count, size() - start);
      return Batch{{Tensor::random({count, 1, 28, 28}, static_cast<uint64_t>(start + 1))}, {}};
    }
    std::string describe() const override { return "random images"; }
  } images;
  PassContext ctx;
  ctx.executor = &exec;
  ctx.calibration = &images;
  PassResult r = run_pass(g, {{"ratio", "0.25"}, {"criterion", "activation"}, {"samples", "8"}},
                          PruneUnitKind::Channel, &ctx);
  CHECK(r.stats["units_removed"] == 4);
  CHECK(verify(g).empty());
}

TEST_CASE("prune-heads: removes attention heads from a transformer block", "[prune]") {
  Graph g = testing::transformer_encoder_block();
  PassResult r = run_pass(g, {{"ratio", "0.5"}}, PruneUnitKind::Head);
  CHECK(r.changed);
  CHECK(r.stats["groups"] == 1);
  CHECK(r.stats["units_removed"] == 2);
  CHECK(dim_of(g, "q_proj_w", 1) == 16);
  CHECK(dim_of(g, "k_proj_w", 1) == 16);
  CHECK(dim_of(g, "v_proj_w", 1) == 16);
  CHECK(dim_of(g, "out_proj_w", 0) == 16);
  CHECK(g.find_value("heads_shape")->initializer().to_doubles() ==
        std::vector<double>{-1, 16, 2, 8});
  CHECK(dim_of(g, "fc1_w", 1) == 64); // the MLP is prune-channels' business
  CHECK(verify(g).empty());
  CHECK(run_graph(g).front().shape() == Shape{2, 16, 32});
  // min-heads keeps at least that many.
  Graph h = testing::transformer_encoder_block();
  run_pass(h, {{"ratio", "0.9"}, {"min-heads", "3"}}, PruneUnitKind::Head);
  CHECK(dim_of(h, "q_proj_w", 1) == 24);
}

TEST_CASE("prune: pruned graphs export to ONNX and read back identically", "[prune]") {
  for (int which = 0; which < 2; ++which) {
    Graph g = which == 0 ? testing::small_cnn() : testing::transformer_encoder_block();
    run_pass(g, {{"ratio", "0.5"}}, which == 0 ? PruneUnitKind::Channel : PruneUnitKind::Head);
    Graph back = load_onnx_from_string(save_onnx_to_string(g), "pruned");
    std::vector<Tensor> inputs = testing::random_inputs(g, 2, 5);
    ReferenceExecutor exec;
    std::vector<Tensor> a = exec.run(g, inputs);
    std::vector<Tensor> b = exec.run(back, inputs);
    REQUIRE(a.size() == b.size());
    CHECK(max_abs_diff(a[0], b[0]) <= 1e-6);
  }
}

TEST_CASE("prune: the passes are in the global registry and pipelines", "[prune]") {
  CHECK(PassRegistry::global().contains("prune-channels"));
  CHECK(PassRegistry::global().contains("prune-heads"));
  Graph g = testing::transformer_encoder_block();
  PassManager pm = PassManager::from_text(
      "prune-heads{ratio=0.25},prune-channels{ratio=0.5,criterion=l2,round=8}");
  PassContext ctx;
  std::ostringstream log;
  ctx.log = &log;
  PipelineReport report = pm.run(g, ctx);
  CHECK(dim_of(g, "q_proj_w", 1) == 24);
  CHECK(dim_of(g, "fc1_w", 1) == 32);
  REQUIRE(report.find("prune-channels"));
  CHECK(report.find("prune-channels")->stats.at("units_removed") == 32);
  CHECK(log.str().find("prune-heads: group 0 'q_proj_matmul': 4 -> 3 heads") != std::string::npos);
}

TEST_CASE("prune: global 50% channel pruning of fmnist-resnet", "[prune][model]") {
  const std::string path = std::string(SHRINK_TEST_DIR) + "/../examples/models/fmnist-resnet.onnx";
  if (!std::filesystem::exists(path)) {
    WARN("skipped: " << path << " is not there yet (scripts/models/train_fmnist_resnet.py)");
    return;
  }
  Graph g = load_onnx(path);
  const GraphStats before = graph_stats(g);
  PassManager pm = PassManager::from_text("prune-channels{ratio=0.5,global=true}");
  PassContext ctx;
  pm.run(g, ctx);
  const GraphStats after = graph_stats(g);
  const double params = double(after.parameters) / double(before.parameters);
  const double flops = double(after.flops) / double(before.flops);
  std::cout << "fmnist-resnet, prune-channels{ratio=0.5,global=true}: parameters "
            << before.parameters << " -> " << after.parameters << " (" << 100 * params
            << "%), FLOPs " << before.flops << " -> " << after.flops << " (" << 100 * flops
            << "%)\n";
  CHECK(params <= 0.35);
  CHECK(flops <= 0.35);
  CHECK(verify(g).empty());
  ReferenceExecutor exec;
  std::vector<Tensor> out = exec.run(g, testing::random_inputs(g, 2, 1));
  CHECK(out.front().shape() == Shape{2, 10});
}
