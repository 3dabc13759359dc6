// The fold-batchnorm pass.
#include "shrink/ir/shape_inference.h"
#include "shrink/ir/text.h"
#include "shrink/transforms/fold_batchnorm.h"
#include "support/test_graphs.h"

#include <catch2/catch.hpp>

using namespace shrink;
using shrink::testing::count_ops;

namespace {
PassResult fold(Graph& g) {
  infer_shapes(g);
  PassContext ctx;
  return FoldBatchNormPass().run(g, ctx);
}

const char* const kBatchNormParams = R"(
  %gamma = const f32[4] [2.0, 0.5, -1.0, 1.5]
  %beta = const f32[4] [1.0, -1.0, 0.25, 0.0]
  %mean = const f32[4] [0.5, 0.0, -0.25, 1.0]
  %var = const f32[4] [1.0, 4.0, 0.5, 2.0]
)";

Graph with_params(const std::string& head, const std::string& body) {
  return parse(head + kBatchNormParams + body);
}
} // namespace

TEST_CASE("fold-batchnorm folds every BatchNormalization of the CNN test graphs", "[transforms]") {
  for (Graph (*make)() : {&testing::residual_cnn_block, &testing::small_cnn}) {
    Graph g = make();
    Graph before = g.clone();
    int bns = count_ops(g, "BatchNormalization");
    REQUIRE(bns > 0);
    PassResult r = fold(g);
    CHECK(r.changed);
    CHECK(r.stats.at("folded") == bns);
    CHECK(r.warnings.empty());
    CHECK(count_ops(g, "BatchNormalization") == 0);
    CHECK(testing::max_output_error(before, g) < 1e-5);
  }
}

TEST_CASE("fold-batchnorm folds into ConvTranspose with groups", "[transforms]") {
  Graph g =
      with_params("graph @main(%x: f32[N,4,5,5]) {\n"
                  "  %w = const f32[4,2,3,3] random(seed=3)\n"
                  "  %b = const f32[4] [0.1, 0.2, 0.3, 0.4]",
                  R"(  %c = ConvTranspose(%x, %w, %b) {group=2, strides=[2,2]} : f32[N,4,11,11]
  %y = BatchNormalization(%c, %gamma, %beta, %mean, %var) : f32[N,4,11,11]
  return %y
}
)");
  Graph before = g.clone();
  PassResult r = fold(g);
  CHECK(r.stats.at("folded") == 1);
  CHECK(count_ops(g, "BatchNormalization") == 0);
  // The BatchNormalization produced the graph output: the ConvTranspose output takes its name.
  CHECK(g.outputs()[0]->name() == "y");
  CHECK(g.outputs()[0]->producer()->op() == "ConvTranspose");
  CHECK(testing::max_output_error(before, g) < 1e-5);
}

TEST_CASE("fold-batchnorm folds into Gemm and 2-D MatMul", "[transforms]") {
  for (const char* gemm :
       {"Gemm(%x, %w, %c) {alpha=0.5, beta=2.0}", "Gemm(%x, %wt, %c) {transB=1, beta=0.5}",
        "Gemm(%x, %w)", "Gemm(%x, %w, %c2) {beta=3.0}"}) {
    CAPTURE(gemm);
    Graph g = with_params("graph @main(%x: f32[N,3]) {\n"
                          "  %w = const f32[3,4] random(seed=5)\n"
                          "  %wt = const f32[4,3] random(seed=6)\n"
                          "  %c = const f32[4] [1.0, 2.0, 3.0, 4.0]\n"
                          "  %c2 = const f32[1] [0.5]",
                          std::string("  %g = ") + gemm + R"( : f32[N,4]
  %bn = BatchNormalization(%g, %gamma, %beta, %mean, %var) : f32[N,4]
  %y = Relu(%bn) : f32[N,4]
  return %y
}
)");
    Graph before = g.clone();
    CHECK(fold(g).stats.at("folded") == 1);
    CHECK(count_ops(g, "BatchNormalization") == 0);
    CHECK(testing::max_output_error(before, g) < 1e-5);
  }

  Graph m = with_params("graph @main(%x: f32[N,3]) {\n  %w = const f32[3,4] random(seed=5)",
                        R"(  %g = MatMul(%x, %w) : f32[N,4]
  %bn = BatchNormalization(%g, %gamma, %beta, %mean, %var) : f32[N,4]
  %y = Relu(%bn) : f32[N,4]
  return %y
}
)");
  Graph before = m.clone();
  CHECK(fold(m).stats.at("folded") == 1);
  CHECK(count_ops(m, "Add") == 1);
  CHECK(testing::max_output_error(before, m) < 1e-5);
}

TEST_CASE("fold-batchnorm leaves BatchNormalization it cannot fold", "[transforms]") {
  const std::vector<std::string> bodies = {
      // The Conv output has another user.
      R"(  %c = Conv(%x, %w) : f32[N,4,3,3]
  %bn = BatchNormalization(%c, %gamma, %beta, %mean, %var) : f32[N,4,3,3]
  %y = Add(%bn, %c) : f32[N,4,3,3]
  return %y
})",
      // The weights are not constant.
      R"(  %w2 = Relu(%w) : f32[4,4,1,1]
  %c = Conv(%x, %w2) : f32[N,4,3,3]
  %y = BatchNormalization(%c, %gamma, %beta, %mean, %var) : f32[N,4,3,3]
  return %y
})",
      // No foldable producer.
      R"(  %c = Relu(%x) : f32[N,4,3,3]
  %y = BatchNormalization(%c, %gamma, %beta, %mean, %var) : f32[N,4,3,3]
  return %y
})",
      // A 3-D MatMul normalises axis 1, which is not its output channel.
      R"(  %r = const i64[3] [-1, 4, 9]
  %x3 = Reshape(%x, %r) : f32[N,4,9]
  %m = const f32[9,9] random(seed=2)
  %c = MatMul(%x3, %m) : f32[N,4,9]
  %y = BatchNormalization(%c, %gamma, %beta, %mean, %var) : f32[N,4,9]
  return %y
})",
  };
  for (const auto& body : bodies) {
    CAPTURE(body);
    Graph g = with_params("graph @main(%x: f32[N,4,3,3]) {\n"
                          "  %w = const f32[4,4,1,1] random(seed=1)",
                          body + "\n");
    infer_shapes(g);
    std::string text = print(g);
    PassResult r = fold(g);
    CHECK_FALSE(r.changed);
    CHECK(print(g) == text);
    REQUIRE(r.warnings.size() == 1);
    CHECK_THAT(r.warnings[0], Catch::Contains("1 BatchNormalization node was not folded"));
    CHECK(count_ops(g, "BatchNormalization") == 1);
  }
}

TEST_CASE("fold-batchnorm copies shared weights instead of changing them", "[transforms]") {
  Graph g = with_params("graph @main(%x: f32[N,4,3,3]) {\n"
                        "  %w = const f32[4,4,1,1] random(seed=1)",
                        R"(  %c1 = Conv(%x, %w) : f32[N,4,3,3]
  %c2 = Conv(%x, %w) : f32[N,4,3,3]
  %bn = BatchNormalization(%c1, %gamma, %beta, %mean, %var) : f32[N,4,3,3]
  %y = Add(%bn, %c2) : f32[N,4,3,3]
  return %y
}
)");
  Graph before = g.clone();
  const Tensor original = g.find_value("w")->initializer();
  CHECK(fold(g).stats.at("folded") == 1);
  CHECK(g.find_value("w")->initializer().equals(original));
  CHECK(g.find_node("c1")->input(1) != g.find_value("w"));
  CHECK(testing::max_output_error(before, g) < 1e-5);
}
