// The dce pass.
#include "shrink/ir/text.h"
#include "shrink/transforms/dce.h"
#include "support/test_graphs.h"

#include <catch2/catch.hpp>

using namespace shrink;

TEST_CASE("dce removes dead chains and unused initializers, keeps the interface", "[transforms]") {
  Graph g = parse(R"(graph @main(%x: f32[2,4], %unused_input: f32[3]) {
  %w = const f32[4,4] random(seed=1)
  %orphan = const f32[4] zeros
  %out_const = const f32[1] [1.0]
  %a = Relu(%x) : f32[2,4]
  %d1 = MatMul(%a, %w) : f32[2,4]
  %d2 = Tanh(%d1) : f32[2,4]
  %s0, %s1 = Split(%a) {axis=0, num_outputs=2} : f32[1,4], f32[1,4]
  %y = Sigmoid(%s0) : f32[1,4]
  return %y, %out_const
}
)");
  Graph before = g.clone();
  DcePass pass;
  PassContext ctx;
  PassResult r = pass.run(g, ctx);
  CHECK(r.changed);
  CHECK(r.stats.at("nodes_removed") == 2);
  CHECK(r.stats.at("initializers_removed") == 2);
  CHECK(g.find_value("d2") == nullptr);
  CHECK(g.find_value("w") == nullptr);
  CHECK(g.find_value("orphan") == nullptr);
  // A graph output that is an initializer, graph inputs and a half-used Split stay.
  CHECK(g.find_value("out_const") != nullptr);
  CHECK(g.inputs().size() == 2);
  CHECK(g.find_value("s1") != nullptr);
  CHECK(g.num_nodes() == 3);
  CHECK_FALSE(pass.run(g, ctx).changed);

  CHECK(testing::max_output_error(before, g) < 1e-6);
}

TEST_CASE("dce leaves the test graphs' outputs unchanged", "[transforms]") {
  for (Graph (*make)() : {&testing::residual_cnn_block, &testing::small_cnn}) {
    Graph g = make();
    Graph before = g.clone();
    PassContext ctx;
    CHECK_FALSE(DcePass().run(g, ctx).changed);
    CHECK(testing::max_output_error(before, g) == 0);
  }
}
