// NodeFilter and glob_match: how passes pick layers by node name.
#include "shrink/core/error.h"
#include "shrink/pass/node_filter.h"

#include <catch2/catch.hpp>

using namespace shrink;

TEST_CASE("glob_match matches whole names with * and ?", "[passes][node-filter]") {
  CHECK(glob_match("*", ""));
  CHECK(glob_match("fc*", "fc1"));
  CHECK(glob_match("*.attn.*", "layer.0.attn.q"));
  CHECK(glob_match("l?", "l1"));
  CHECK_FALSE(glob_match("l?", "l12"));
  CHECK_FALSE(glob_match("fc*", "xfc1"));
  CHECK(glob_match("a*b*c", "aXbYbZc"));
  CHECK_FALSE(glob_match("a*b*c", "aXbYbZ"));
  CHECK_FALSE(glob_match("fc1", "fc12"));
  CHECK(glob_match("/blocks/*/fc1/MatMul", "/blocks/blocks.0/fc1/MatMul"));
}

TEST_CASE("NodeFilter selects by include, then exclude", "[passes][node-filter]") {
  const NodeFilter all;
  CHECK(all.rejects("anything").empty());
  const NodeFilter f{{"fc*", "head"}, {"*2"}};
  CHECK(f.rejects("fc1").empty());
  CHECK(f.rejects("head").empty());
  CHECK(f.rejects("fc2") == "excluded by pattern '*2'");
  CHECK(f.rejects("conv1") == "not matched by any include pattern");
  // A unit of several nodes: one include match suffices, one exclude match rejects.
  CHECK(f.rejects(std::vector<std::string>{"ln", "fc1"}).empty());
  CHECK(f.rejects(std::vector<std::string>{"ln", "fc1", "fc2"}) == "excluded by pattern '*2'");
  CHECK(f.rejects(std::vector<std::string>{"ln", "conv"}) == "not matched by any include pattern");
}

TEST_CASE("NodeFilter refuses a pattern that matches no candidate", "[passes][node-filter]") {
  const NodeFilter f{{"fc*"}, {"nope*"}};
  CHECK_NOTHROW(NodeFilter{{"fc*"}, {}}.check("p", "layer", {"fc1", "conv"}));
  CHECK_THROWS_AS(f.check("p", "layer", {"fc1", "conv"}), RecipeError);
  CHECK_THROWS_WITH(f.check("lowrank", "layer with constant weights", {"fc1", "conv"}),
                    Catch::Contains("pass 'lowrank': exclude pattern 'nope*' matches no layer "
                                    "with constant weights (they are: fc1, conv)"));
  CHECK_THROWS_WITH(f.check("lowrank", "layer", {}), Catch::Contains("(the graph has none)"));
}
