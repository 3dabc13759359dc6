// Tests of the IR verifier (lib/ir/verifier.cpp).
#include "shrink/core/error.h"
#include "shrink/ir/graph.h"
#include "shrink/ir/text.h"
#include "shrink/ir/verifier.h"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace shrink;

namespace {

// True when some diagnostic contains every one of `parts`.
bool has_diag(const std::vector<std::string>& diags, std::initializer_list<std::string> parts) {
  return std::any_of(diags.begin(), diags.end(), [&](const std::string& d) {
    return std::all_of(parts.begin(), parts.end(),
                       [&](const std::string& p) { return d.find(p) != std::string::npos; });
  });
}

std::string joined(const std::vector<std::string>& diags) {
  std::string s;
  for (const auto& d : diags)
    s += d + "\n";
  return s;
}

Graph small_graph() {
  return parse(R"(graph @g(%x: f32[1,2,4,4]) {
  %w = const f32[2,2,1,1] [1, 0, 0, 1]
  %c = Conv(%x, %w) {pads=[0,0,0,0]} : f32[1,2,4,4]
  %y = Relu(%c) : f32[1,2,4,4]
  return %y
})");
}

} // namespace

TEST_CASE("a well-formed graph verifies clean", "[verifier]") {
  Graph g = small_graph();
  CHECK(verify(g).empty());
  CHECK_NOTHROW(verify_or_throw(g));
  Graph c = g.clone();
  CHECK(verify(c).empty());
}

TEST_CASE("arity problems name the node and the expected counts", "[verifier]") {
  Graph g("g");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {1, 2, 4, 4}));
  Value* c = g.add_op("Conv", {x}, {}, "c");
  Node* r = g.add_node("Relu", {c, c}, 2, {}, "r");
  Value* w = g.add_initializer("w", Tensor::random({2, 2, 1, 1}, 1));
  Value* c2 = g.add_op("Conv", {x, nullptr, w}, {}, "c2");
  g.set_outputs({r->output(0), c2});
  auto diags = verify(g);
  INFO(joined(diags));
  CHECK(has_diag(diags, {"node 'c' (Conv): expects 2..3 inputs, has 1"}));
  CHECK(has_diag(diags, {"node 'r' (Relu): expects 1 input, has 2"}));
  CHECK(has_diag(diags, {"node 'r' (Relu): expects 1 output, has 2"}));
  CHECK(has_diag(diags, {"node 'c2' (Conv): required input 1 is absent"}));
  CHECK(diags.size() == 4);
}

TEST_CASE("unknown ops and attribute kinds are reported", "[verifier]") {
  Graph g("g");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {1, 2, 4, 4}));
  Value* w = g.add_initializer("w", Tensor::random({2, 2, 1, 1}, 1));
  Value* a = g.add_op("Cnv", {x, w}, {}, "a");
  Value* b = g.add_op("Conv", {x, w},
                      {{"group", 1.0f},
                       {"padz", std::vector<int64_t>{0, 0, 0, 0}},
                       {"strides", std::vector<int64_t>{1, 1}}},
                      "b");
  Value* s = g.add_op("Add", {a, b}, {}, "s");
  g.set_outputs({s});
  auto diags = verify(g);
  INFO(joined(diags));
  CHECK(has_diag(diags, {"node 'a' (Cnv): unknown op 'Cnv'", "did you mean 'Conv'?"}));
  CHECK(has_diag(diags, {"node 'b' (Conv): attribute 'group' should be int, is float"}));
  CHECK(has_diag(diags, {"node 'b' (Conv): unknown attribute 'padz'", "did you mean 'pads'?"}));
  CHECK(diags.size() == 3);
}

TEST_CASE("initializer types must match their tensors", "[verifier]") {
  Graph g = small_graph();
  g.find_value("w")->set_type(TensorType::of(DType::f32, {2, 2, 3, 3}));
  auto diags = verify(g);
  INFO(joined(diags));
  REQUIRE(diags.size() == 1);
  CHECK(has_diag(diags, {"initializer %w", "f32[2,2,1,1]", "f32[2,2,3,3]"}));

  Graph h = small_graph();
  h.find_value("w")->set_type(TensorType::of(DType::f16, {2, 2, 1, 1}));
  CHECK(has_diag(verify(h), {"initializer %w", "f16[2,2,1,1]"}));
}

TEST_CASE("uses before definition and cycles are reported", "[verifier]") {
  SECTION("program order") {
    Graph g = small_graph();
    g.move_before(g.find_node("y"), g.find_node("c"));
    auto diags = verify(g);
    INFO(joined(diags));
    CHECK(has_diag(
        diags, {"node 'y' (Relu): input 0 %c is used before it is defined", "node 'c' (Conv)"}));
    CHECK(!has_diag(diags, {"cycle"}));
    g.topo_sort();
    CHECK(verify(g).empty());
  }
  SECTION("cycle") {
    Graph g("g");
    Value* x = g.add_input("x", TensorType::of(DType::f32, {2}));
    Node* a = g.add_node("Add", {x, x}, 1, {}, "a");
    Value* b = g.add_op("Relu", {a->output()}, {}, "b");
    Value* c = g.add_op("Neg", {b}, {}, "c");
    g.set_input(a, 1, c); // a -> b -> c -> a
    Value* d = g.add_op("Neg", {x}, {}, "d");
    g.set_outputs({c, d});
    auto diags = verify(g);
    INFO(joined(diags));
    CHECK(
        has_diag(diags, {"the graph has a cycle through nodes 'a' (Add), 'b' (Relu), 'c' (Neg)"}));
    CHECK(!has_diag(diags, {"'d' (Neg)"}));
    CHECK(has_diag(diags, {"node 'a' (Add): input 1 %c is used before it is defined"}));
  }
  SECTION("self loop") {
    Graph g("g");
    Value* x = g.add_input("x", TensorType::of(DType::f32, {2}));
    Node* a = g.add_node("Add", {x, x}, 1, {}, "a");
    g.set_input(a, 0, a->output());
    g.set_outputs({a->output()});
    auto diags = verify(g);
    INFO(joined(diags));
    CHECK(has_diag(diags, {"cycle through nodes 'a' (Add)"}));
    CHECK(has_diag(diags, {"produced by this node itself"}));
  }
}

TEST_CASE("values of another graph are reported without being followed", "[verifier]") {
  Graph g = small_graph();
  Graph other = small_graph();
  // A pass that mixes up teacher and student graphs produces exactly this.
  Node* bad = g.add_node("Add", {g.find_value("y"), other.find_value("x")}, 1, {}, "bad");
  g.set_outputs({bad->output(), other.find_value("y")});
  auto diags = verify(g);
  INFO(joined(diags));
  CHECK(has_diag(diags, {"node 'bad' (Add): input 1 is not a value of this graph"}));
  CHECK(has_diag(diags, {"graph output 1 is not a value of this graph"}));
  // The other graph's use-list now names a node it does not own.
  auto other_diags = verify(other);
  INFO(joined(other_diags));
  CHECK(has_diag(other_diags, {"value %x: its use-list names a node that is not in the graph"}));
}

TEST_CASE("graph outputs must be present", "[verifier]") {
  Graph g = small_graph();
  g.set_outputs({});
  CHECK(has_diag(verify(g), {"the graph has no outputs"}));
  g.set_outputs({g.find_value("y"), nullptr});
  auto diags = verify(g);
  CHECK(has_diag(diags, {"graph output 1 is absent"}));
  CHECK(diags.size() == 1);
}

TEST_CASE("every problem is reported at once and thrown together", "[verifier]") {
  Graph g("g");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {2}));
  Value* k = g.add_initializer("k", Tensor::from_vector<float>({2}, {1, 2}));
  k->set_type(TensorType::of(DType::f32, {3}));
  Value* a = g.add_op("Relu", {x, x}, {}, "first");
  Value* b = g.add_op("Softmax", {a}, {{"axis", std::string("last")}}, "second");
  Value* c = g.add_op("Mull", {b, k}, {}, "third");
  g.set_outputs({c});
  auto diags = verify(g);
  INFO(joined(diags));
  CHECK(has_diag(diags, {"initializer %k"}));
  CHECK(has_diag(diags, {"node 'first' (Relu)", "expects 1 input, has 2"}));
  CHECK(has_diag(diags, {"node 'second' (Softmax)", "attribute 'axis' should be int, is string"}));
  CHECK(has_diag(diags, {"node 'third' (Mull)", "unknown op", "did you mean 'Mul'?"}));
  CHECK(diags.size() == 4);
  try {
    verify_or_throw(g);
    FAIL("expected a VerifyError");
  } catch (const VerifyError& e) {
    CHECK(e.diagnostics() == diags);
    CHECK_THAT(std::string(e.what()), Catch::Contains("4 problems"));
    CHECK_THAT(std::string(e.what()), Catch::Contains("node 'third' (Mull)"));
  }
}

TEST_CASE("nodes without outputs are arity errors, not crashes", "[verifier]") {
  Graph g = parse(R"(graph @g(%x: f32[2]) {
  Relu(%x) @dangling
  return %x
})");
  REQUIRE(g.num_nodes() == 1);
  CHECK(print(g) == "graph @g(%x: f32[2]) {\n  Relu(%x) @dangling\n  return %x\n}\n");
  auto diags = verify(g);
  CHECK(has_diag(diags, {"node 'dangling' (Relu): expects 1 output, has 0"}));
}
