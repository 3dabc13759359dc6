// The infer-shapes pass.
#include "shrink/core/error.h"
#include "shrink/ir/text.h"
#include "shrink/transforms/infer_shapes.h"

#include <catch2/catch.hpp>

using namespace shrink;

TEST_CASE("infer-shapes types every value and reports changes only once", "[transforms]") {
  Graph g = parse(R"(graph @main(%x: f32[N,4]) {
  %w = const f32[4,2] random(seed=1)
  %y = MatMul(%x, %w) : f32
  %z = Relu(%y) : f32
  return %z
}
)");
  InferShapesPass pass;
  PassContext ctx;
  PassResult r = pass.run(g, ctx);
  CHECK(r.changed);
  CHECK(r.stats.at("updated") == 2);
  CHECK(print_type(g.find_value("z")->type()) == "f32[N,2]");
  PassResult again = pass.run(g, ctx);
  CHECK_FALSE(again.changed);
  CHECK(again.stats.at("updated") == 0);
  CHECK(pass.info().establishes.count("shapes") == 1);
  CHECK_THROWS_AS(InferShapesPass(Options{{"verbose", "1"}}), RecipeError);
}
