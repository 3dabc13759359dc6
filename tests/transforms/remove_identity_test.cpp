// The remove-identity pass.
#include "shrink/ir/shape_inference.h"
#include "shrink/ir/text.h"
#include "shrink/transforms/remove_identity.h"
#include "support/test_graphs.h"

#include <catch2/catch.hpp>

using namespace shrink;
using shrink::testing::count_ops;

namespace {
PassResult remove(Graph& g) {
  infer_shapes(g);
  PassContext ctx;
  return RemoveIdentityPass().run(g, ctx);
}
} // namespace

TEST_CASE("remove-identity strips the noisy graph's no-op nodes", "[transforms]") {
  for (bool static_batch : {true, false}) {
    CAPTURE(static_batch);
    Graph g = testing::noisy_graph(static_batch);
    Graph before = g.clone();
    PassResult r = remove(g);
    CHECK(r.changed);
    CHECK(r.stats.at("Identity") == 2);
    CHECK(r.stats.at("Dropout") == 1);
    CHECK(r.stats.at("Cast") == 1);
    CHECK(r.stats.at("Transpose") == 1);
    CHECK(r.stats.at("removed") == 5);
    for (const char* op : {"Identity", "Dropout", "Cast", "Transpose"})
      CHECK(count_ops(g, op) == 0);
    // The flatten changes the shape and stays.
    CHECK(count_ops(g, "Reshape") == 1);
    // The graph output keeps its name.
    CHECK(g.outputs()[0]->name() == "logits");
    CHECK(g.outputs()[0]->producer()->op() == "Gemm");
    CHECK(testing::max_output_error(before, g, 2) < 1e-6);
  }
}

TEST_CASE("remove-identity handles Reshape, Dropout and output names carefully", "[transforms]") {
  Graph g = parse(R"(graph @main(%x: f32[N,4], %z: f32[2,3]) {
  %same = const i64[2] [-1, 4]
  %flat = const i64[1] [-1]
  %two = const i64[2] [2, 3]
  %train = const bool[] [true]
  %a = Reshape(%x, %same) : f32[N,4]
  %b = Reshape(%a, %flat) : f32[?]
  %c = Reshape(%z, %two) : f32[2,3]
  %d, %mask = Dropout(%x) : f32[N,4], bool[N,4]
  %e = Dropout(%x, _, %train) : f32[N,4]
  %f = Transpose(%z) : f32[3,2]
  %g = Identity(%x) : f32[N,4]
  return %b, %c, %d, %mask, %e, %f, %g
}
)");
  PassResult r = remove(g);
  // %a goes (same shape); %b changes the shape; %c would rename input %z, %g input %x; the
  // Dropout with a used mask and the training one stay; a default Transpose reverses axes.
  CHECK(r.stats.at("removed") == 1);
  CHECK(r.stats.at("Reshape") == 1);
  CHECK(g.find_value("a") == nullptr);
  for (const char* name : {"b", "c", "d", "e", "f", "g"})
    CHECK(g.find_value(name) != nullptr);
  CHECK(g.outputs()[6]->name() == "g");
  CHECK(g.inputs()[0]->name() == "x");
}

TEST_CASE("is_identity_node needs a same-type Cast", "[transforms]") {
  Graph g = parse(R"(graph @main(%x: f32[2]) {
  %a = Cast(%x) {to=1} : f32[2]
  %b = Cast(%a) {to=7} : i64[2]
  %c = Transpose(%b) {perm=[0]} : i64[2]
  return %c
}
)");
  infer_shapes(g);
  CHECK(is_identity_node(*g.find_node("a")));
  CHECK_FALSE(is_identity_node(*g.find_node("b")));
  CHECK(is_identity_node(*g.find_node("c")));
}
