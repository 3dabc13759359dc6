#include "shrink/core/error.h"
#include "shrink/ir/graph.h"

#include <catch2/catch.hpp>

using namespace shrink;

namespace {
// x -> Conv(w) -> Relu -> out
Graph conv_relu() {
  Graph g("cr");
  Value* x =
      g.add_input("x", TensorType{DType::f32, std::vector<Dim>{Dim::sym("N"), Dim::known(4),
                                                               Dim::known(8), Dim::known(8)}});
  Value* w = g.add_initializer("w", Tensor::random({4, 4, 3, 3}, 1));
  Value* c = g.add_op("Conv", {x, w}, {{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  Value* y = g.add_op("Relu", {c});
  g.set_outputs({y});
  return g;
}
} // namespace

TEST_CASE("add_node keeps use-lists and producers", "[ir][graph]") {
  Graph g = conv_relu();
  Value* x = g.find_value("x");
  Value* w = g.find_value("w");
  REQUIRE(x);
  REQUIRE(w);
  REQUIRE(g.num_nodes() == 2);
  Node* conv = g.nodes()[0];
  CHECK(conv->op() == "Conv");
  CHECK(conv->name() == conv->output()->name()); // default names follow the output
  CHECK(x->uses().size() == 1);
  CHECK(x->uses()[0] == Use{conv, 0});
  CHECK(w->uses()[0] == Use{conv, 1});
  CHECK(conv->output()->producer() == conv);
  CHECK(w->is_initializer());
  CHECK(x->is_graph_input());
  CHECK(conv->attr_ints("pads") == std::vector<int64_t>{1, 1, 1, 1});
  CHECK(conv->attr_int("group", 1) == 1);
  CHECK_THROWS_WITH(conv->attr_int("pads", 0), Catch::Contains("'pads' is ints"));
  CHECK(g.num_parameters() == 144);
  CHECK(g.parameter_bytes() == 576);
}

TEST_CASE("replace_all_uses rewires inputs and graph outputs", "[ir][graph]") {
  Graph g = conv_relu();
  Node* conv = g.nodes()[0];
  Node* relu = g.nodes()[1];
  Value* sig = g.add_op("Sigmoid", {conv->output()});
  g.replace_all_uses(relu->output(), sig);
  CHECK(g.outputs()[0] == sig);
  g.erase(relu);
  CHECK(g.num_nodes() == 2);
  CHECK(conv->output()->uses().size() == 1);
  CHECK(conv->output()->uses()[0].node == sig->producer());
}

TEST_CASE("erase refuses nodes whose outputs are used", "[ir][graph]") {
  Graph g = conv_relu();
  Node* conv = g.nodes()[0];
  CHECK_THROWS_WITH(g.erase(conv), Catch::Contains("still used"));
  Node* relu = g.nodes()[1];
  CHECK_THROWS_WITH(g.erase(relu), Catch::Contains("graph output"));
  Value* w = g.find_value("w");
  CHECK_THROWS_AS(g.erase_value(w), Error);
}

TEST_CASE("clone is structural and shares weights", "[ir][graph]") {
  Graph g = conv_relu();
  Graph c = g.clone();
  REQUIRE(c.num_nodes() == 2);
  CHECK(c.nodes()[0] != g.nodes()[0]);
  CHECK(&c.nodes()[0]->graph() == &c);
  Value* w1 = g.find_value("w");
  Value* w2 = c.find_value("w");
  CHECK(w1 != w2);
  CHECK(w1->initializer().shares_storage(w2->initializer()));
  CHECK(w2->uses()[0].node == c.nodes()[0]);
  CHECK(c.outputs()[0]->producer() == c.nodes()[1]);
  // A new weight in the clone leaves the original alone.
  c.set_initializer(w2, Tensor::random({4, 4, 3, 3}, 2));
  CHECK_FALSE(w1->initializer().equals(w2->initializer()));
}

TEST_CASE("moving a graph keeps back-pointers right", "[ir][graph]") {
  Graph g = conv_relu();
  Graph moved = std::move(g);
  for (Node* n : moved.nodes())
    CHECK(&n->graph() == &moved);
  CHECK(&moved.find_value("x")->graph() == &moved);
}

TEST_CASE("topo_sort orders nodes and detects cycles", "[ir][graph]") {
  Graph g = conv_relu();
  Node* conv = g.nodes()[0];
  Node* relu = g.nodes()[1];
  g.move_before(relu, conv);
  CHECK(g.nodes()[0] == relu);
  g.topo_sort();
  CHECK(g.nodes()[0] == conv);
  CHECK(g.nodes()[1] == relu);
  // Feed the Relu's output back into the Conv: a cycle.
  g.set_input(conv, 0, relu->output());
  CHECK_THROWS_AS(g.topo_sort(), VerifyError);
}

TEST_CASE("names are unique and fresh names avoid collisions", "[ir][graph]") {
  Graph g = conv_relu();
  CHECK_THROWS_AS(g.add_input("x", TensorType::unranked(DType::f32)), Error);
  std::string n = g.fresh_name("w");
  CHECK(n != "w");
  CHECK(g.find_value(n) == nullptr);
  Node* r = g.nodes()[1];
  g.rename(r, "act");
  CHECK(g.find_node("act") == r);
  CHECK_THROWS_AS(g.rename(r, g.nodes()[0]->name()), Error);
}

TEST_CASE("constant_value sees initializers and Constant nodes", "[ir][graph]") {
  Graph g("c");
  Value* k = g.add_op("Constant", {}, {{"value", Tensor::from_vector<int64_t>({2}, {3, 4})}});
  Value* w = g.add_initializer("w", Tensor::scalar(2.0f));
  REQUIRE(constant_value(k));
  CHECK(constant_value(k)->to_doubles() == std::vector<double>{3, 4});
  CHECK(constant_value(w)->at(0) == 2.0);
  Value* x = g.add_input("x", TensorType::unranked(DType::f32));
  CHECK(constant_value(x) == nullptr);
  CHECK(constant_value(nullptr) == nullptr);
}

TEST_CASE("version increases on every mutation", "[ir][graph]") {
  Graph g = conv_relu();
  uint64_t v0 = g.version();
  g.nodes()[0]->set_attr("group", int64_t{1});
  CHECK(g.version() > v0);
  uint64_t v1 = g.version();
  g.set_initializer(g.find_value("w"), Tensor::random({4, 4, 3, 3}, 5));
  CHECK(g.version() > v1);
}
