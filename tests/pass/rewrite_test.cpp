// Rewrite rules driven to a fixed point, and the graph-editing helpers rules share.
#include "shrink/core/error.h"
#include "shrink/ir/text.h"
#include "shrink/pass/rewrite.h"

#include <catch2/catch.hpp>

using namespace shrink;

namespace {

/// Relu(Relu(x)) -> Relu(x).
class DoubleReluRule : public RewriteRule {
public:
  std::string name() const override { return "double-relu"; }
  bool match_and_rewrite(Node& node, Graph& graph) override {
    if (node.op() != "Relu") return false;
    Node* inner = node.input(0) ? node.input(0)->producer() : nullptr;
    if (!inner || inner->op() != "Relu") return false;
    return replace_and_erase(graph, &node, node.output(0), inner->output(0));
  }
};

/// Swaps Sigmoid and Tanh forever: a rule set that never converges.
class FlipRule : public RewriteRule {
public:
  FlipRule(std::string from, std::string to) : from_(std::move(from)), to_(std::move(to)) {}
  std::string name() const override { return from_ + "-to-" + to_; }
  bool match_and_rewrite(Node& node, Graph& graph) override {
    if (node.op() != from_) return false;
    Value* y = graph.add_op(to_, {node.input(0)}, {}, "", &node);
    std::string name = node.output(0)->name();
    graph.replace_all_uses(node.output(0), y);
    graph.erase(&node);
    adopt_name(graph, y, name);
    return true;
  }
  std::string from_, to_;
};

} // namespace

TEST_CASE("apply_rules_to_fixpoint applies rules until none matches", "[passes][rewrite]") {
  Graph g = parse(R"(graph @main(%x: f32[2]) {
  %a = Relu(%x) : f32[2]
  %b = Relu(%a) : f32[2]
  %c = Relu(%b) : f32[2]
  %d = Relu(%c) : f32[2]
  return %d
}
)");
  std::vector<std::unique_ptr<RewriteRule>> rules;
  rules.push_back(std::make_unique<DoubleReluRule>());
  Stats stats;
  CHECK(apply_rules_to_fixpoint(g, rules, &stats));
  CHECK(stats.at("double-relu") == 3);
  REQUIRE(g.num_nodes() == 1);
  // The graph output kept its name.
  CHECK(g.outputs()[0]->name() == "d");
  CHECK(g.nodes()[0]->name() == "d");
  CHECK_FALSE(apply_rules_to_fixpoint(g, rules, &stats));
}

TEST_CASE("apply_rules_to_fixpoint stops rules that undo each other", "[passes][rewrite]") {
  Graph g = parse(R"(graph @main(%x: f32[2]) {
  %a = Sigmoid(%x) : f32[2]
  return %a
}
)");
  std::vector<std::unique_ptr<RewriteRule>> rules;
  rules.push_back(std::make_unique<FlipRule>("Sigmoid", "Tanh"));
  rules.push_back(std::make_unique<FlipRule>("Tanh", "Sigmoid"));
  CHECK_THROWS_WITH(apply_rules_to_fixpoint(g, rules), Catch::Contains("did not converge"));
}

TEST_CASE("replace_and_erase keeps graph output names or refuses", "[passes][rewrite]") {
  Graph g = parse(R"(graph @main(%x: f32[2]) {
  %a = Relu(%x) : f32[2]
  %i = Identity(%a) : f32[2]
  %j = Identity(%x) : f32[2]
  %k = Identity(%i) : f32[2]
  return %k, %j, %i
}
)");
  Node* j = g.find_node("j");
  // %j's replacement is a graph input: renaming it would change the model's interface.
  CHECK_FALSE(can_replace(g, j->output(0), j->input(0)));
  CHECK_FALSE(replace_and_erase(g, j, j->output(0), j->input(0)));
  // %k's replacement %i is itself a graph output: two outputs cannot become one value.
  Node* k = g.find_node("k");
  CHECK_FALSE(replace_and_erase(g, k, k->output(0), k->input(0)));
  // %i -> %a works: %a takes the name "i".
  Node* i = g.find_node("i");
  Value* a = i->input(0);
  CHECK(replace_and_erase(g, i, i->output(0), a));
  CHECK(a->name() == "i");
  CHECK(g.outputs()[2] == a);
  CHECK(g.num_nodes() == 3);
}

TEST_CASE("matching helpers", "[passes][rewrite]") {
  Graph g = parse(R"(graph @main(%x: f32[2]) {
  %half = const f32[] [0.5]
  %vec = const f32[2] [0.5, 0.5]
  %a = Mul(%x, %half) : f32[2]
  %b = Mul(%a, %a) : f32[2]
  %c = Add(%b, %vec) : f32[2]
  return %c
}
)");
  Value* half = g.find_value("half");
  CHECK(is_scalar_constant(half, 0.5));
  CHECK(is_scalar_constant(half, 0.500001));
  CHECK_FALSE(is_scalar_constant(half, 0.6));
  CHECK_FALSE(is_scalar_constant(g.find_value("vec"), 0.5));
  CHECK_FALSE(is_scalar_constant(g.find_value("x"), 0.5));
  double v = 0;
  CHECK(scalar_constant(half, &v));
  CHECK(v == 0.5);
  // %a is used twice by one node: not a single user, but only used by that node.
  CHECK(single_user(g.find_value("a")) == nullptr);
  CHECK(only_used_by(g.find_value("a"), g.find_node("b")));
  CHECK(single_user(g.find_value("b")) == g.find_node("c"));
  CHECK(single_user(g.find_value("c")) == nullptr);

  // set_constant_input rewrites an initializer only this node uses, and copies a shared one.
  Node* c = g.find_node("c");
  Value* same = set_constant_input(g, c, 1, Tensor::from_vector<float>({2}, {1.0f, 2.0f}), "v");
  CHECK(same == g.find_value("vec"));
  CHECK(same->initializer().at(1) == 2.0);
  Node* a = g.find_node("a");
  g.add_op("Relu", {half});
  Value* fresh = set_constant_input(g, a, 1, Tensor::scalar(3.0f), "half");
  CHECK(fresh != half);
  CHECK(half->initializer().at(0) == 0.5);
  CHECK(a->input(1) == fresh);
}
