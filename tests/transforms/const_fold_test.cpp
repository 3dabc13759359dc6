// The const-fold pass.
#include "shrink/core/error.h"
#include "shrink/ir/shape_inference.h"
#include "shrink/ir/text.h"
#include "shrink/transforms/const_fold.h"
#include "support/test_graphs.h"

#include <catch2/catch.hpp>

using namespace shrink;
using shrink::testing::count_ops;

namespace {
PassResult fold(Graph& g, const Options& options = {}) {
  infer_shapes(g);
  PassContext ctx;
  return ConstFoldPass(options).run(g, ctx);
}
} // namespace

TEST_CASE("const-fold folds the exporter's shape chain when shapes are static", "[transforms]") {
  Graph g = testing::noisy_graph(true);
  Graph before = g.clone();
  PassResult r = fold(g);
  CHECK(r.changed);
  for (const char* op : {"Shape", "Gather", "Unsqueeze", "Concat", "Constant"}) {
    CAPTURE(op);
    CHECK(count_ops(g, op) == 0);
  }
  CHECK(r.stats.at("shapes_folded") == 1);
  CHECK(r.stats.at("folded") >= 4);
  const Tensor& shape = g.find_value("flat_shape")->initializer();
  CHECK(shape.to_doubles() == std::vector<double>{2, -1});
  CHECK(testing::max_output_error(before, g) < 1e-5);
  CHECK_FALSE(fold(g).changed);
}

TEST_CASE("const-fold keeps Shape of a symbolic batch but folds what is known", "[transforms]") {
  Graph g = testing::noisy_graph(false);
  Graph before = g.clone();
  fold(g);
  CHECK(count_ops(g, "Shape") == 1);
  CHECK(count_ops(g, "Gather") == 1);
  CHECK(count_ops(g, "Constant") == 0);
  CHECK(testing::max_output_error(before, g, 3) < 1e-5);

  Graph p = parse(R"(graph @main(%x: f32[N,16,32]) {
  %idx = const i64[2] [1, 2]
  %s = Shape(%x) : i64[3]
  %tail = Gather(%s, %idx) {axis=0} : i64[2]
  %head = Gather(%s, %idx) {axis=0} : i64[2]
  %minus = const i64[1] [-1]
  %t = Concat(%minus, %tail) {axis=0} : i64[3]
  %y = Reshape(%x, %t) : f32[N,16,32]
  %n = Shape(%x) {end=1} : i64[1]
  return %y, %n, %head
}
)");
  PassResult r = fold(p);
  CHECK(r.stats.at("shapes_folded") == 2);
  CHECK(p.find_value("tail")->is_initializer());
  CHECK(p.find_value("t")->initializer().to_doubles() == std::vector<double>{-1, 16, 32});
  CHECK(count_ops(p, "Shape") == 2);
  // Graph outputs keep their names when they become constants.
  CHECK(p.outputs()[2]->name() == "head");
  CHECK(p.outputs()[2]->is_initializer());
}

TEST_CASE("const-fold refuses to materialise huge tensors", "[transforms]") {
  const char* text = R"(graph @main(%x: f32[4,4]) {
  %shape = const i64[2] [4, 4]
  %big = const i64[2] [2048, 1024]
  %c = ConstantOfShape(%shape) : f32[4,4]
  %h = ConstantOfShape(%big) : f32[2048,1024]
  %y = Add(%x, %c) : f32[4,4]
  return %y, %h
}
)";
  Graph g = parse(text);
  PassResult r = fold(g);
  CHECK(g.find_value("c")->is_initializer());
  CHECK_FALSE(g.find_value("h")->is_initializer());
  CHECK(r.stats.at("skipped_large") == 1);

  Graph small = parse(text);
  r = fold(small, {{"max_elements", "8"}});
  CHECK_FALSE(small.find_value("c")->is_initializer());
  CHECK(r.stats.at("skipped_large") == 2);
  CHECK_THROWS_AS(ConstFoldPass(Options{{"max_elements", "-1"}}), RecipeError);
  CHECK_THROWS_AS(ConstFoldPass(Options{{"max", "1"}}), RecipeError);
}

TEST_CASE("const-fold evaluates constant subgraphs and leaves DequantizeLinear", "[transforms]") {
  Graph g = parse(R"(graph @main(%x: f32[N,3]) {
  %w = const f32[2,3] [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
  %two = const f32[] [2.0]
  %q = const i8[3] [10, 20, 30]
  %scale = const f32[] [0.5]
  %wt = Transpose(%w) {perm=[1,0]} : f32[3,2]
  %w2 = Mul(%wt, %two) : f32[3,2]
  %y = MatMul(%x, %w2) : f32[N,2]
  %dq = DequantizeLinear(%q, %scale) : f32[3]
  %z = Add(%x, %dq) : f32[N,3]
  return %y, %z
}
)");
  Graph before = g.clone();
  PassResult r = fold(g);
  CHECK(r.stats.at("folded") == 2);
  CHECK(g.find_value("w2")->initializer().to_doubles() == std::vector<double>{2, 8, 4, 10, 6, 12});
  CHECK(count_ops(g, "DequantizeLinear") == 1);
  CHECK(testing::max_output_error(before, g, 2) < 1e-6);
}

TEST_CASE("const-fold turns a failing kernel into a warning", "[transforms]") {
  Graph g = parse(R"(graph @main(%x: f32[2]) {
  %data = const f32[3] [1.0, 2.0, 3.0]
  %idx = const i64[1] [7]
  %bad = Gather(%data, %idx) {axis=0} : f32[1]
  %y = Add(%x, %bad) : f32[2]
  return %y
}
)");
  PassContext ctx;
  PassResult r = ConstFoldPass().run(g, ctx);
  CHECK_FALSE(r.changed);
  REQUIRE(r.warnings.size() == 1);
  CHECK_THAT(r.warnings[0], Catch::Contains("could not fold node 'bad' (Gather)"));
}

TEST_CASE("const-fold moves Constant nodes of any size to initializers", "[transforms]") {
  Graph g("main");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {4}));
  Tensor big = Tensor::random({8}, 3);
  Value* c = g.add_op("Constant", {}, {{"value", big}}, "c");
  g.set_outputs({g.add_op("Add", {x, g.add_op("ReduceSum", {c}, {{"keepdims", int64_t{1}}})})});
  PassResult r = fold(g, Options{{"max_elements", "2"}});
  CHECK(r.stats.at("folded") == 2);
  REQUIRE(g.find_value("c")->is_initializer());
  CHECK(g.find_value("c")->initializer().shares_storage(big));
}

TEST_CASE("const-fold turns Reshape targets read from symbolic shapes into 0 / -1 constants",
          "[transforms]") {
  // x.view(x.size(0), x.size(1), 2, 4) as PyTorch exports it, with symbolic N and T.
  Graph g = parse(R"(graph @main(%x: f32[N,T,8]) {
  %i0 = const i64[] [0]
  %i1 = const i64[] [1]
  %axes = const i64[1] [0]
  %heads = const i64[1] [2]
  %dim = const i64[1] [4]
  %s = Shape(%x) : i64[3]
  %n = Gather(%s, %i0) {axis=0} : i64[]
  %t = Gather(%s, %i1) {axis=0} : i64[]
  %n1 = Unsqueeze(%n, %axes) : i64[1]
  %t1 = Unsqueeze(%t, %axes) : i64[1]
  %target = Concat(%n1, %t1, %heads, %dim) {axis=0} : i64[4]
  %y = Reshape(%x, %target) : f32[N,T,2,4]
  %minus = const i64[1] [-1]
  %flat = Concat(%n1, %minus) {axis=0} : i64[2]
  %z = Reshape(%y, %flat) : f32[N,?]
  return %y, %z
}
)");
  Graph before = g.clone();
  PassResult r = fold(g);
  CHECK(r.stats.at("reshapes_folded") == 2);
  const Node* y = g.find_value("y")->producer();
  REQUIRE(y->input(1)->is_initializer());
  CHECK(y->input(1)->initializer().to_doubles() == std::vector<double>{0, 0, 2, 4});
  // x.view(x.size(0), -1): the literal -1 stays the inferred entry.
  const Node* z = g.find_value("z")->producer();
  REQUIRE(z->input(1)->is_initializer());
  CHECK(z->input(1)->initializer().to_doubles() == std::vector<double>{0, -1});
  infer_shapes(g);
  CHECK(print_type(g.find_value("y")->type()) == "f32[N,T,2,4]");
  CHECK(testing::max_output_error(before, g, 3) < 1e-6);
}
