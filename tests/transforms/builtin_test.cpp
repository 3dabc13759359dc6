// The built-in cleanup passes together: the standard cleanup pipeline on the test graphs.
#include "shrink/ir/text.h"
#include "shrink/ir/verifier.h"
#include "shrink/pass/pass_manager.h"
#include "shrink/transforms/builtin.h"
#include "support/test_graphs.h"

#include <catch2/catch.hpp>

using namespace shrink;
using shrink::testing::count_ops;

namespace {
PipelineReport cleanup(Graph& g, const std::string& pipeline = kCleanupPipeline) {
  PassContext ctx;
  return PassManager::from_text(pipeline).run(g, ctx);
}
} // namespace

TEST_CASE("every cleanup pass alone keeps the test graphs' outputs", "[transforms][passes]") {
  Graph (*noisy_static)() = [] { return testing::noisy_graph(true); };
  Graph (*noisy_symbolic)() = [] { return testing::noisy_graph(false); };
  for (Graph (*make)() : {&testing::residual_cnn_block, &testing::small_cnn,
                          &testing::transformer_encoder_block, noisy_static, noisy_symbolic}) {
    for (const char* pass :
         {"infer-shapes", "dce", "const-fold", "fold-batchnorm", "fuse", "remove-identity"}) {
      Graph g = make();
      CAPTURE(g.name(), pass);
      Graph before = g.clone();
      cleanup(g, pass);
      CHECK(verify(g).empty());
      CHECK(testing::max_output_error(before, g) < 1e-5);
    }
  }
}

TEST_CASE("the cleanup pipeline shrinks the CNNs and keeps their outputs", "[transforms][passes]") {
  for (Graph (*make)() : {&testing::residual_cnn_block, &testing::small_cnn}) {
    Graph g = make();
    CAPTURE(g.name());
    Graph before = g.clone();
    PipelineReport report = cleanup(g);
    CHECK(count_ops(g, "BatchNormalization") == 0);
    CHECK(report.nodes_after < report.nodes_before);
    CHECK(report.params_after < report.params_before);
    CHECK(testing::max_output_error(before, g) < 1e-5);
    // Idempotent: a second run changes nothing.
    std::string text = print(g);
    PipelineReport again = cleanup(g);
    CHECK_FALSE(again.passes.back().changed);
    CHECK(print(g) == text);
  }
}

TEST_CASE("the cleanup pipeline fuses the transformer block", "[transforms][passes]") {
  Graph g = testing::transformer_encoder_block();
  Graph before = g.clone();
  PipelineReport report = cleanup(g);
  CHECK(count_ops(g, "LayerNormalization") == 2);
  CHECK(count_ops(g, "Gelu") == 1);
  CHECK(g.num_nodes() < before.num_nodes());
  const PassRecord* fuse = report.find("fuse");
  REQUIRE(fuse);
  CHECK(fuse->stats.at("layernorm") == 2);
  CHECK(fuse->stats.at("gelu") == 1);
  CHECK(testing::max_output_error(before, g) < 1e-5);
}

TEST_CASE("the cleanup pipeline removes all exporter noise when shapes are static",
          "[transforms][passes]") {
  Graph g = testing::noisy_graph(true);
  Graph before = g.clone();
  cleanup(g);
  for (const char* op : {"Shape", "Gather", "Unsqueeze", "Concat", "Identity", "Dropout",
                         "Constant", "Cast", "Transpose"}) {
    CAPTURE(op);
    CHECK(count_ops(g, op) == 0);
  }
  CHECK(g.num_nodes() == 4); // Conv, Relu, Reshape (the flatten), Gemm.
  CHECK(g.outputs()[0]->name() == "logits");
  CHECK(testing::max_output_error(before, g) < 1e-5);

  // With a symbolic batch the flatten's target [N, -1] becomes the constant [0, -1], so the
  // Shape chain goes too.
  Graph n = testing::noisy_graph(false);
  Graph nb = n.clone();
  cleanup(n);
  for (const char* op : {"Shape", "Gather", "Unsqueeze", "Concat"}) {
    CAPTURE(op);
    CHECK(count_ops(n, op) == 0);
  }
  CHECK(count_ops(n, "Identity") == 0);
  CHECK(count_ops(n, "Dropout") == 0);
  CHECK(testing::max_output_error(nb, n, 3) < 1e-5);
}
