// The reference executor (lib/exec/reference.cpp): input checks, verification, fetches, error
// context, and whole graphs at several batch sizes.

#include "shrink/exec/reference.h"

#include "shrink/core/error.h"
#include "shrink/ir/graph.h"
#include "shrink/ir/op_table.h"
#include "support/test_graphs.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <map>

using namespace shrink;

namespace {

// y = Relu(x * w + b) on x: f32[N,3], with w and b as initializers; also returns the Mul output.
Graph affine_relu() {
  Graph g("affine");
  Value* x =
      g.add_input("x", TensorType{DType::f32, std::vector<Dim>{Dim::sym("N"), Dim::known(3)}});
  Value* w = g.add_initializer("w", Tensor::from_vector<float>({3}, {1, -2, 0.5f}));
  Value* b = g.add_initializer("b", Tensor::from_vector<float>({3}, {0, 1, -1}));
  Value* m = g.add_op("Mul", {x, w}, {}, "mul");
  Value* a = g.add_op("Add", {m, b}, {}, "add");
  Value* y = g.add_op("Relu", {a}, {}, "relu");
  g.set_outputs({y});
  return g;
}

bool all_finite(const Tensor& t) {
  for (double v : t.to_doubles())
    if (!std::isfinite(v)) return false;
  return true;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST_CASE("reference executor runs a graph for any batch size", "[reference]") {
  Graph g = affine_relu();
  ReferenceExecutor exec;
  CHECK(exec.name() == "reference");
  std::vector<Tensor> out = exec.run(g, {Tensor::from_vector<float>({2, 3}, {1, 1, 4, -1, -1, 2})});
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].shape() == Shape{2, 3});
  // Row 0: [1, -2+1, 2-1] -> relu [1, 0, 1]; row 1: [-1, 2+1, 1-1] -> [0, 3, 0].
  const std::vector<double> want{1, 0, 1, 0, 3, 0};
  CHECK(out[0].to_doubles() == want);
  out = exec.run(g, {Tensor::from_vector<float>({1, 3}, {2, 0, 0})});
  CHECK(out[0].shape() == Shape{1, 3});
  CHECK(out[0].to_doubles() == std::vector<double>{2, 1, 0});
}

TEST_CASE("reference executor returns fetched values after the outputs", "[reference]") {
  Graph g = affine_relu();
  ReferenceExecutor exec;
  const Tensor x = Tensor::from_vector<float>({1, 3}, {1, 1, 1});
  std::vector<Tensor> out = exec.run(g, {x}, {"mul", "x", "w"});
  REQUIRE(out.size() == 4);
  CHECK(out[1].to_doubles() == std::vector<double>{1, -2, 0.5});
  CHECK(out[2].to_doubles() == std::vector<double>{1, 1, 1});
  CHECK(out[3].to_doubles() == std::vector<double>{1, -2, 0.5});
  // Results never alias the caller's inputs or the graph's initializers.
  CHECK_FALSE(out[2].shares_storage(x));
  CHECK_FALSE(out[3].shares_storage(g.find_value("w")->initializer()));
  const std::string msg = message_of([&] { exec.run(g, {x}, {"mull"}); });
  CHECK(msg.find("cannot fetch 'mull'") != std::string::npos);
  CHECK(msg.find("did you mean 'mul'") != std::string::npos);
}

TEST_CASE("reference executor checks the inputs against the graph's types", "[reference]") {
  Graph g("typed");
  Value* x =
      g.add_input("x", TensorType{DType::f32, std::vector<Dim>{Dim::sym("N"), Dim::known(1),
                                                               Dim::known(28), Dim::known(28)}});
  g.set_outputs({g.add_op("Relu", {x}, {}, "r")});
  ReferenceExecutor exec;
  CHECK(message_of([&] {
          exec.run(g, {Tensor(DType::f32, {3, 28, 28})});
        }) == "input 0 'x' expects f32[N,1,28,28], got f32[3,28,28]");
  CHECK(message_of([&] {
          exec.run(g, {Tensor(DType::i64, {3, 1, 28, 28})});
        }) == "input 0 'x' expects f32[N,1,28,28], got i64[3,1,28,28]");
  CHECK(message_of([&] {
          exec.run(g, {Tensor(DType::f32, {3, 1, 28, 27})});
        }) == "input 0 'x' expects f32[N,1,28,28], got f32[3,1,28,27]");
  const std::string count = message_of([&] { exec.run(g, {}); });
  CHECK(count.find("takes 1 input") != std::string::npos);
  CHECK(count.find("got 0") != std::string::npos);
  CHECK_THROWS_AS(exec.run(g, {Tensor(DType::f32, {1, 1, 28, 28}), Tensor()}), Error);
  CHECK_NOTHROW(exec.run(g, {Tensor(DType::f32, {5, 1, 28, 28})}));
}

TEST_CASE("reference executor binds a symbol to one size across inputs", "[reference]") {
  Graph g("two");
  TensorType t{DType::f32, std::vector<Dim>{Dim::sym("N"), Dim::known(2)}};
  Value* a = g.add_input("a", t);
  Value* b = g.add_input("b", t);
  g.set_outputs({g.add_op("Add", {a, b}, {}, "sum")});
  ReferenceExecutor exec;
  const std::string msg = message_of([&] {
    exec.run(g, {Tensor(DType::f32, {3, 2}), Tensor(DType::f32, {1, 2})});
  });
  CHECK(msg.find("input 1 'b'") != std::string::npos);
  CHECK(msg.find("N is 1 here but 3 in input 0 'a'") != std::string::npos);
}

TEST_CASE("reference executor refuses a graph that fails verification", "[reference]") {
  Graph g("broken");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {2}));
  g.set_outputs({g.add_op("Relu", {x, x}, {}, "bad_relu")});
  ReferenceExecutor exec;
  try {
    exec.run(g, {Tensor(DType::f32, {2})});
    FAIL("expected VerifyError");
  } catch (const VerifyError& e) {
    REQUIRE_FALSE(e.diagnostics().empty());
    CHECK(std::string(e.what()).find("bad_relu") != std::string::npos);
  }
}

TEST_CASE("reference executor names the failing node", "[reference]") {
  Graph g("fails");
  Value* x = g.add_input("x", TensorType::unranked(DType::f32));
  Value* shape = g.add_initializer("shape", Tensor::from_vector<int64_t>({2}, {5, -1}));
  g.set_outputs({g.add_op("Reshape", {x, shape}, {}, "reshape3")});
  ReferenceExecutor exec;
  const std::string msg = message_of([&] { exec.run(g, {Tensor(DType::f32, {2, 3})}); });
  CHECK(msg.rfind("while running node 'reshape3' (Reshape): cannot reshape [2,3]", 0) == 0);

  Graph u("unsupported");
  Value* q = u.add_input("q", TensorType::unranked(DType::u8));
  u.set_outputs({u.add_op("Sqrt", {q}, {}, "root")});
  try {
    exec.run(u, {Tensor(DType::u8, {2})});
    FAIL("expected UnsupportedError");
  } catch (const UnsupportedError& e) {
    CHECK(std::string(e.what()).rfind("while running node 'root' (Sqrt)", 0) == 0);
    REQUIRE(e.items().size() == 1);
  }
}

TEST_CASE("reference executor catches a wrong static type", "[reference]") {
  Graph g("stale");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {2, 3}));
  Value* y = g.add_op("Transpose", {x}, {}, "t");
  y->set_type(TensorType::of(DType::f32, {2, 3}));
  g.set_outputs({y});
  ReferenceExecutor exec;
  const std::string msg = message_of([&] { exec.run(g, {Tensor(DType::f32, {2, 3})}); });
  CHECK(msg.find("output 't' is f32[3,2] but its static type is f32[2,3]") != std::string::npos);
}

TEST_CASE("reference executor runs the test CNN and transformer at several batch sizes",
          "[reference]") {
  ReferenceExecutor exec;
  std::vector<Graph> graphs;
  graphs.push_back(testing::small_cnn());
  graphs.push_back(testing::residual_cnn_block());
  graphs.push_back(testing::transformer_encoder_block());
  graphs.push_back(testing::noisy_graph(false));
  for (Graph& graph : graphs) {
    Graph* g = &graph;
    INFO("graph " << g->name());
    const std::vector<Tensor> in3 = testing::random_inputs(*g, 3, 7);
    const std::vector<Tensor> out3 = exec.run(*g, in3);
    REQUIRE(out3.size() == g->outputs().size());
    CHECK(out3[0].dim(0) == 3);
    CHECK(all_finite(out3[0]));
    // Inference is per sample: sample 1 alone gives row 1 of the batch.
    std::vector<Tensor> in1;
    for (const Tensor& t : in3) {
      Shape s = t.shape();
      const int64_t per = t.numel() / s[0];
      s[0] = 1;
      std::vector<float> v(t.data<float>() + per, t.data<float>() + 2 * per);
      in1.push_back(Tensor::from_vector<float>(s, v));
    }
    const std::vector<Tensor> out1 = exec.run(*g, in1);
    const int64_t per_out = out3[0].numel() / 3;
    for (int64_t i = 0; i < per_out; ++i)
      CHECK(out1[0].at(i) == Approx(out3[0].at(per_out + i)).margin(1e-4));
  }
}

TEST_CASE("reference executor agrees with evaluating the nodes one by one", "[reference]") {
  Graph g = testing::small_cnn();
  const std::vector<Tensor> inputs = testing::random_inputs(g, 2, 3);
  std::map<const Value*, Tensor> env;
  for (size_t i = 0; i < inputs.size(); ++i)
    env[g.inputs()[i]] = inputs[i];
  for (Node* n : g.nodes()) {
    std::vector<const Tensor*> ins;
    for (Value* v : n->inputs())
      ins.push_back(!v ? nullptr : v->is_initializer() ? &v->initializer() : &env.at(v));
    std::vector<Tensor> outs = evaluate_node(*n, ins);
    for (int k = 0; k < n->num_outputs(); ++k)
      env[n->output(k)] = outs[k];
  }
  ReferenceExecutor exec;
  const std::vector<Tensor> out = exec.run(g, inputs);
  CHECK(out[0].equals(env.at(g.outputs()[0])));
}
