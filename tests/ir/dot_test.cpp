// Tests of the Graphviz export (lib/ir/dot.cpp).
#include "shrink/ir/dot.h"
#include "shrink/ir/graph.h"
#include "shrink/ir/text.h"

#include <catch2/catch.hpp>

using namespace shrink;

TEST_CASE("DOT shows nodes, typed edges, folded weights and graph ends", "[dot]") {
  Graph g = parse(R"(graph @block(%x: f32[N,2,4,4]) {
  %w = const f32[2,2,1,1] [1, 0, 0, 1]
  %c = Conv(%x, %w) : f32[N,2,4,4] @conv1
  %y = Relu(%c) : f32[N,2,4,4]
  return %y, %w
})");
  std::string dot = to_dot(g);
  INFO(dot);
  CHECK_THAT(dot, Catch::StartsWith("digraph \"block\" {\n"));
  CHECK_THAT(dot, Catch::EndsWith("}\n"));
  // Graph input: its own shape, labelled with name and type.
  CHECK_THAT(dot, Catch::Contains("  in0 [label=\"%x\\nf32[N,2,4,4]\", shape=invhouse"));
  // Op and name, with the weight folded into the label instead of a node of its own.
  CHECK_THAT(dot, Catch::Contains("  n0 [label=\"Conv\\nconv1\\n%w: f32[2,2,1,1]\", shape=box"));
  CHECK_THAT(dot, Catch::Contains("  n1 [label=\"Relu\\ny\", shape=box"));
  // Edges carry the value's type.
  CHECK_THAT(dot, Catch::Contains("  in0 -> n0 [label=\"f32[N,2,4,4]\""));
  CHECK_THAT(dot, Catch::Contains("  n0 -> n1 [label=\"f32[N,2,4,4]\""));
  CHECK_THAT(dot, Catch::Contains("  n1 -> out0 [label=\"f32[N,2,4,4]\"]"));
  CHECK_THAT(dot, Catch::Contains("  out0 [label=\"%y\", shape=house"));
  // A weight that is itself a graph output gets a note.
  CHECK_THAT(dot, Catch::Contains("  const1 [label=\"%w\\nf32[2,2,1,1]\", shape=note]"));
  CHECK_THAT(dot, Catch::Contains("  const1 -> out1"));
  // The weight is not drawn as an edge into the conv.
  CHECK_THAT(dot, !Catch::Contains("-> n0 [label=\"f32[2,2,1,1]\""));
}

TEST_CASE("DOT escapes names and draws one edge per use", "[dot]") {
  Graph g("q\"g");
  Value* x = g.add_input("a\\b \"c\"", TensorType::of(DType::f32, {2}));
  Value* s = g.add_op("Add", {x, x}, {}, "sum");
  Node* split = g.add_node("Split", {s}, 2, {}, "sp");
  Value* m = g.add_op("Mul", {split->output(0), split->output(1)}, {}, "m");
  g.set_outputs({m});
  std::string dot = to_dot(g);
  INFO(dot);
  CHECK_THAT(dot, Catch::StartsWith("digraph \"q\\\"g\" {"));
  CHECK_THAT(dot, Catch::Contains("label=\"%a\\\\b \\\"c\\\"\\nf32[2]\""));
  // Both uses of %x by the Add are drawn, and both outputs of the Split reach the Mul.
  auto count = [&](const std::string& needle) {
    size_t n = 0;
    for (size_t p = dot.find(needle); p != std::string::npos; p = dot.find(needle, p + 1))
      ++n;
    return n;
  };
  CHECK(count("in0 -> n0 ") == 2);
  CHECK(count("n1 -> n2 ") == 2);
  CHECK(count(" -> ") == 6);
}
