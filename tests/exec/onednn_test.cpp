// The oneDNN executor (lib/exec/onednn.cpp, onednn_plan.cpp, onednn_runtime.cpp): plan caching
// and invalidation, threads, verification and input checks, fallback to reference kernels,
// buffer reuse, fetching, and whole models in fp32 and int8.

#include "exec/onednn_test_util.h"
#include "exec/qdq_graphs.h"

#include "shrink/core/error.h"
#include "shrink/ir/shape_inference.h"

#include <optional>

using namespace shrink;
using namespace shrink::testing;

namespace {

// x -> Conv -> Relu -> Floor (reference) -> Conv -> out.
Graph mixed_graph() {
  Graph g("mixed");
  Value* x = g.add_input("x", batch_type({4, 6, 6}));
  Attributes same = {{"pads", std::vector<int64_t>{1, 1, 1, 1}}};
  Value* a =
      g.add_op("Relu",
               {g.add_op("Conv", {x, g.add_initializer("w1", scaled_random({8, 4, 3, 3}, 1, 0.5f))},
                         same, "c1")},
               {}, "r1");
  Value* f = g.add_op("Floor",
                      {g.add_op("Mul", {a, g.add_initializer("k", Tensor::scalar(4.f))}, {}, "m")},
                      {}, "floor");
  g.set_outputs({g.add_op(
      "Conv", {f, g.add_initializer("w2", scaled_random({3, 8, 3, 3}, 2, 0.5f))}, same, "c2")});
  infer_shapes(g);
  return g;
}

} // namespace

TEST_CASE("a plan is compiled once and reused while nothing changes", "[onednn]") {
  const Graph g = mixed_graph();
  OneDnnExecutor exec;
  CHECK(exec.plans_compiled() == 0);
  CHECK(exec.plan_info().steps.empty());
  const Tensor x = scaled_random({2, 4, 6, 6}, 1, 1.f);
  check_parity(g, {x}, exec);
  CHECK(exec.plans_compiled() == 1);
  for (int i = 0; i < 3; ++i)
    check_parity(g, {scaled_random({2, 4, 6, 6}, 10 + i, 1.f)}, exec);
  CHECK(exec.plans_compiled() == 1);
  CHECK(exec.plan_info().runs == 4);
}

TEST_CASE("a new batch size re-plans, and cached plans are reused", "[onednn]") {
  const Graph g = mixed_graph();
  OneDnnExecutor exec;
  for (int64_t n : {1, 5, 2, 5, 1}) {
    INFO("batch " << n);
    const std::vector<Tensor> out = check_parity(g, {scaled_random({n, 4, 6, 6}, n, 1.f)}, exec);
    CHECK(out[0].shape()[0] == n);
  }
  CHECK(exec.plans_compiled() == 3);
  OneDnnOptions one;
  one.plan_cache_size = 1;
  OneDnnExecutor small(one);
  for (int64_t n : {1, 5, 1})
    check_parity(g, {scaled_random({n, 4, 6, 6}, n, 1.f)}, small);
  CHECK(small.plans_compiled() == 3);
}

TEST_CASE("changing the graph re-plans", "[onednn]") {
  Graph g = mixed_graph();
  OneDnnExecutor exec;
  const Tensor x = scaled_random({2, 4, 6, 6}, 1, 1.f);
  const std::vector<Tensor> before = check_parity(g, {x}, exec);
  // A pass writes new weights: the version changes, so the plan (and its packed weights) must go.
  g.set_initializer(g.find_value("w2"), scaled_random({3, 8, 3, 3}, 99, 0.5f));
  const std::vector<Tensor> after = check_parity(g, {x}, exec);
  CHECK(exec.plans_compiled() == 2);
  CHECK(max_abs_diff(before[0], after[0]) > 1e-3);
  // An attribute changed in place and announced with touch().
  g.find_node("m")->set_attr("unused_marker", int64_t{1});
  g.find_node("m")->remove_attr("unused_marker");
  g.touch();
  check_parity(g, {x}, exec);
  CHECK(exec.plans_compiled() == 3);
}

TEST_CASE("a rebuilt graph is not mistaken for the old one", "[onednn]") {
  OneDnnExecutor exec;
  const Tensor x = scaled_random({2, 4, 6, 6}, 1, 1.f);
  auto g1 = std::make_unique<Graph>(mixed_graph());
  check_parity(*g1, {x}, exec);
  g1.reset();
  auto g2 = std::make_unique<Graph>(resnet_cnn(4, 1));
  check_parity(*g2, {scaled_random({2, 1, 28, 28}, 2, 1.f)}, exec);
  CHECK(exec.plans_compiled() == 2);
}

TEST_CASE("a graph rebuilt at the same address with the same names re-plans", "[onednn]") {
  // Same node names, ops, inputs and initializer storage, built the same number of steps, at
  // the same address: only an attribute differs. The old plan points into the destroyed graph,
  // so reusing it would read freed nodes (this crashed quantize's SQNR measurement).
  const Tensor k = Tensor::scalar(0.f);
  auto build = [&](std::optional<Graph>& slot, float alpha) {
    slot.emplace("same");
    Graph& g = *slot;
    Value* x = g.add_input("x", batch_type({4, 6, 6}));
    Value* a = g.add_op("LeakyRelu", {x}, {{"alpha", alpha}}, "act");
    g.set_outputs({g.add_op("Floor", {g.add_op("Add", {a, g.add_initializer("k", k)}, {}, "add")},
                            {}, "floor")});
    infer_shapes(g);
  };
  OneDnnExecutor exec;
  const Tensor x = scaled_random({2, 4, 6, 6}, 5, 8.f);
  std::optional<Graph> slot;
  build(slot, 0.f);
  const Graph* first = &*slot;
  const std::vector<Tensor> zero = check_parity(*slot, {x}, exec);
  slot.reset();
  build(slot, 0.5f);
  REQUIRE(&*slot == first);
  const std::vector<Tensor> half = check_parity(*slot, {x}, exec);
  CHECK(exec.plans_compiled() == 2);
  CHECK(max_abs_diff(zero[0], half[0]) > 0.5);
}

TEST_CASE("short steps run on one thread when the thread trial finds that faster", "[onednn]") {
  const Graph g = mixed_graph();
  const Tensor x = scaled_random({1, 4, 6, 6}, 1, 1.f);
  auto plan_after_trial = [&](OneDnnOptions o) {
    OneDnnExecutor exec(o);
    for (int i = 0; i < 10; ++i)
      check_parity(g, {x}, exec); // results stay exact while steps change thread counts
    return exec.plan_info();
  };
  OneDnnOptions two;
  two.threads = 2;
  two.serial_below_us = 1e6; // every step is tried on one thread
  const OneDnnPlanInfo tried = plan_after_trial(two);
  INFO(tried.str());
  REQUIRE(tried.steps.size() >= 3);
  for (const OneDnnStepInfo& s : tried.steps) {
    CHECK(s.trial_seconds > 0);
    CHECK(s.trial_serial_seconds > 0);
    CHECK(s.serial == (s.trial_serial_seconds < s.trial_seconds));
  }
  two.serial_below_us = 0; // off
  for (const OneDnnStepInfo& s : plan_after_trial(two).steps) {
    CHECK_FALSE(s.serial);
    CHECK(s.trial_serial_seconds == 0);
  }
  // Tuned once the trial is over: runs 5 to 8 here (no convolution qualifies for Winograd).
  two.serial_below_us = 1e6;
  OneDnnExecutor counting(two);
  for (int i = 1; i <= 8; ++i) {
    counting.run(g, {x});
    CHECK(counting.plan_info().tuned == (i == 8));
  }
  OneDnnOptions one;
  one.threads = 1;
  one.serial_below_us = 1e6; // one thread: nothing to try
  OneDnnExecutor single(one);
  single.run(g, {x});
  CHECK(single.plan_info().tuned); // whatever thread count the caller's OpenMP has
  for (const OneDnnStepInfo& s : plan_after_trial(one).steps) {
    CHECK_FALSE(s.serial);
    CHECK(s.trial_seconds == 0);
  }
}

TEST_CASE("per-step CPU time is measured only when asked for", "[onednn]") {
  const Graph g = mixed_graph();
  const Tensor x = scaled_random({8, 4, 6, 6}, 1, 1.f);
  for (bool cpu : {false, true}) {
    OneDnnOptions o;
    o.step_cpu_time = cpu;
    OneDnnExecutor exec(o);
    for (int i = 0; i < 3; ++i)
      exec.run(g, {x});
    double wall = 0, cpu_total = 0;
    for (const OneDnnStepInfo& s : exec.plan_info().steps)
      wall += s.seconds, cpu_total += s.cpu_seconds;
    CHECK(wall > 0);
    if (cpu)
      CHECK(cpu_total > 0);
    else
      CHECK(cpu_total == 0);
  }
}

TEST_CASE("the thread count is settable and re-plans", "[onednn]") {
  const Graph g = resnet_cnn(8, 1);
  const Tensor x = scaled_random({4, 1, 28, 28}, 3, 1.f);
  OneDnnExecutor exec({1});
  CHECK(exec.threads() == 1);
  const std::vector<Tensor> one = check_parity(g, {x}, exec);
  exec.set_threads(2);
  CHECK(exec.threads() == 2);
  const std::vector<Tensor> two = check_parity(g, {x}, exec);
  CHECK(exec.plans_compiled() == 2);
  CHECK(max_relative_error(one[0], two[0]) < 1e-5);
  exec.set_threads(0);
  CHECK(exec.threads() >= 1);
  CHECK_THROWS_AS(exec.set_threads(-1), Error);
  CHECK_THROWS_AS(OneDnnExecutor({-2}), Error);
}

TEST_CASE("a broken graph is refused with every diagnostic", "[onednn]") {
  Graph g("broken");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {1, 2}));
  g.add_op("Relu", {x}, {}, "r");
  g.add_op("Softmax", {x}, {{"axis", std::string("oops")}}, "s");
  g.set_outputs({g.find_node("r")->output()});
  OneDnnExecutor exec;
  try {
    exec.run(g, {Tensor(DType::f32, {1, 2})});
    FAIL("no VerifyError");
  } catch (const VerifyError& e) {
    CHECK_FALSE(e.diagnostics().empty());
    CHECK(std::string(e.what()).find("'s'") != std::string::npos);
  }
  CHECK(exec.plans_compiled() == 0);
}

TEST_CASE("inputs are checked against the graph's input types", "[onednn]") {
  Graph g("two");
  std::vector<Dim> dims = {Dim::sym("N"), Dim::known(3)};
  Value* a = g.add_input("a", TensorType{DType::f32, dims});
  Value* b = g.add_input("b", TensorType{DType::f32, dims});
  g.set_outputs({g.add_op("Add", {a, b})});
  infer_shapes(g);
  OneDnnExecutor exec;
  auto msg = [&](const std::vector<Tensor>& in) {
    try {
      exec.run(g, in);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(msg({Tensor(DType::f32, {2, 3})}).find("2 input") != std::string::npos);
  CHECK(msg({Tensor(DType::i64, {2, 3}), Tensor(DType::f32, {2, 3})}).find("'a'") !=
        std::string::npos);
  CHECK(msg({Tensor(DType::f32, {2, 4}), Tensor(DType::f32, {2, 4})}).find("dimension 1") !=
        std::string::npos);
  CHECK(msg({Tensor(DType::f32, {2, 3}), Tensor(DType::f32, {5, 3})}).find("N") !=
        std::string::npos);
  CHECK(msg({Tensor(DType::f32, {2, 3, 1}), Tensor(DType::f32, {2, 3})}).find("rank") !=
        std::string::npos);
  CHECK(msg({Tensor(DType::f32, {2, 3}), Tensor(DType::f32, {2, 3})}).empty());
}

TEST_CASE("ops oneDNN does not cover run on reference kernels", "[onednn]") {
  const Graph g = mixed_graph();
  OneDnnExecutor exec;
  check_parity(g, {scaled_random({3, 4, 6, 6}, 4, 1.f)}, exec);
  const OneDnnPlanInfo info = exec.plan_info();
  INFO(info.str());
  CHECK(info.count("conv") == 2);
  CHECK(info.count("reference") == 1); // Floor
  // The scalar Mul after the first conv is fused too: conv, relu, mul.
  CHECK(info.steps[0].post_ops == std::vector<std::string>{"relu", "mul-scalar"});

  // Integer arithmetic, shape computations and Where: all reference.
  Graph h("ints");
  Value* x = h.add_input("x", TensorType::of(DType::f32, {2, 3}));
  Value* shape = h.add_op("Shape", {x});
  Value* ones = h.add_op("ConstantOfShape", {shape}, {{"value", Tensor::scalar(1.f)}});
  Value* cond = h.add_op("Greater", {x, h.add_initializer("zero", Tensor::scalar(0.f))});
  h.set_outputs({h.add_op("Where", {cond, x, ones}), shape});
  infer_shapes(h);
  check_parity(h, {scaled_random({2, 3}, 5, 1.f)}, exec);
  CHECK(exec.plan_info().count("reference") == 4);
}

TEST_CASE("constant subgraphs are folded and dead nodes skipped", "[onednn]") {
  Graph g("fold");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {2, 5}));
  Value* w = g.add_initializer("w", scaled_random({5, 4}, 1, 1.f));
  Value* w2 = g.add_op("Mul", {w, g.add_initializer("two", Tensor::scalar(2.f))}, {}, "double_w");
  g.add_op("Relu", {x}, {}, "dead");
  g.set_outputs({g.add_op("MatMul", {x, w2}, {}, "mm")});
  infer_shapes(g);
  OneDnnExecutor exec;
  check_parity(g, {scaled_random({2, 5}, 2, 1.f)}, exec);
  const OneDnnPlanInfo info = exec.plan_info();
  INFO(info.str());
  CHECK(info.folded_nodes == 1);
  CHECK(info.dead_nodes == 1);
  REQUIRE(info.steps.size() == 1);
  CHECK(info.steps[0].kind == "matmul");
}

TEST_CASE("fetching an unknown value is an error naming it", "[onednn]") {
  const Graph g = mixed_graph();
  OneDnnExecutor exec;
  CHECK_THROWS_WITH(exec.run(g, {scaled_random({2, 4, 6, 6}, 1, 1.f)}, {"no_such_value"}),
                    Catch::Contains("no_such_value"));
}

TEST_CASE("fetching a value inside a fused pattern", "[onednn]") {
  const Graph g = mixed_graph();
  OneDnnExecutor exec;
  const Tensor x = scaled_random({2, 4, 6, 6}, 1, 1.f);
  const std::string conv_out = g.find_node("c1")->output()->name();
  const std::vector<Tensor> out = check_parity(g, {x}, exec, 1e-4, {conv_out, "x"});
  REQUIRE(out.size() == 3);
  CHECK(out[2].equals(x));
  const OneDnnPlanInfo info = exec.plan_info();
  INFO(info.str());
  CHECK(info.steps[0].kind == "conv");
  CHECK(info.steps[0].post_ops.empty()); // the Relu is its own step now
  CHECK(exec.plans_compiled() == 1);
  exec.run(g, {x});
  CHECK(exec.plans_compiled() == 2); // another fetch list is another plan
}

TEST_CASE("results of one run are not overwritten by the next", "[onednn]") {
  const Graph g = resnet_cnn(4, 1);
  OneDnnExecutor exec;
  const Tensor x1 = scaled_random({2, 1, 28, 28}, 1, 1.f);
  const Tensor x2 = scaled_random({2, 1, 28, 28}, 2, 1.f);
  const std::vector<Tensor> a = exec.run(g, {x1});
  const Tensor a_copy = a[0].clone();
  const std::vector<Tensor> b = exec.run(g, {x2});
  CHECK(a[0].equals(a_copy));
  CHECK_FALSE(a[0].equals(b[0]));
  // Buffers are owned by the plan and reused: the second run allocated none.
  const int64_t buffers = exec.plan_info().pool_buffers;
  exec.run(g, {x1});
  CHECK(exec.plan_info().pool_buffers == buffers);
  CHECK(buffers > 0);
}

TEST_CASE("a result the caller dropped is reused for the next run's result", "[onednn]") {
  const Graph g = resnet_cnn(4, 1);
  OneDnnExecutor exec;
  const Tensor x1 = scaled_random({2, 1, 28, 28}, 1, 1.f);
  const Tensor x2 = scaled_random({2, 1, 28, 28}, 2, 1.f);
  const Tensor want2 = exec.run(g, {x2})[0];
  std::vector<Tensor> a = exec.run(g, {x1});
  const void* first = a[0].raw();
  const Tensor a_copy = a[0].clone();
  // Held by the caller: the next result gets new storage and the held one keeps its values.
  std::vector<Tensor> b = exec.run(g, {x2});
  CHECK(b[0].raw() != first);
  CHECK(a[0].equals(a_copy));
  CHECK(b[0].equals(want2));
  // Dropped by the caller: its storage comes back, with the new run's values.
  const void* second = b[0].raw();
  b.clear();
  const std::vector<Tensor> c = exec.run(g, {x1});
  CHECK(c[0].raw() == second);
  CHECK(c[0].equals(a_copy));
  CHECK_FALSE(c[0].shares_storage(a[0]));
}

TEST_CASE("a graph output that is an input or a constant", "[onednn]") {
  Graph g("passthrough");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {3}));
  Value* c = g.add_initializer("c", scaled_random({2}, 1, 1.f));
  g.set_outputs({x, c, g.add_op("Relu", {x})});
  infer_shapes(g);
  OneDnnExecutor exec;
  check_parity(g, {scaled_random({3}, 2, 1.f)}, exec, 0.0);
}

TEST_CASE("kernel errors name the node", "[onednn]") {
  Graph g("bad_reshape");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {2, 3}));
  g.set_outputs(
      {g.add_op("Reshape", {x, g.add_initializer("s", Tensor::from_vector<int64_t>({1}, {7}))}, {},
                "reshape7")});
  OneDnnExecutor exec;
  try {
    exec.run(g, {Tensor(DType::f32, {2, 3})});
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("reshape7") != std::string::npos);
  }
  // The executor recovers: a later good run works.
  Graph ok("ok");
  Value* y = ok.add_input("y", TensorType::of(DType::f32, {2}));
  ok.set_outputs({ok.add_op("Relu", {y})});
  check_parity(ok, {scaled_random({2}, 1, 1.f)}, exec);
}

TEST_CASE("the ResNet-style CNN runs in fp32 and int8", "[onednn]") {
  const Graph g = resnet_cnn(8, 1);
  ReferenceExecutor ref;
  OneDnnExecutor exec;
  const Tensor x = scaled_random({4, 1, 28, 28}, 7, 1.f);
  check_parity(g, {x}, exec);
  const Graph q = quantize_for_test(g, exec, {{scaled_random({8, 1, 28, 28}, 8, 1.f)}});
  const std::vector<Tensor> want = ref.run(q, {x});
  const std::vector<Tensor> got = exec.run(q, {x});
  const OneDnnPlanInfo info = exec.plan_info();
  INFO(info.str());
  CHECK(info.count("int8 conv") == 9);
  CHECK(info.count("int8 matmul") == 1);
  CHECK(info.count("conv") == 0);
  // Logits of the int8 runtime stay close to the int8 reference (one-step differences in
  // intermediate tensors propagate a little).
  CHECK(sqnr_db(want[0], got[0]) > 30.0);
  const std::vector<Tensor> fp = ref.run(g, {x});
  CHECK(sqnr_db(fp[0], got[0]) > 15.0); // and int8 stays close to fp32
}

TEST_CASE("the transformer encoder runs in fp32 and int8", "[onednn]") {
  const Graph g = transformer_encoder(16, 32, 2, 4);
  ReferenceExecutor ref;
  OneDnnExecutor exec;
  const Tensor x = scaled_random({2, 16, 32}, 9, 1.f);
  check_parity(g, {x}, exec);
  OneDnnPlanInfo info = exec.plan_info();
  INFO(info.str());
  CHECK(info.count("matmul") == 2 * 8);
  CHECK(info.count("layernorm") == 2 * 2 + 1);
  CHECK(info.count("softmax") == 2);
  const Graph q = quantize_for_test(g, exec, {{scaled_random({4, 16, 32}, 10, 1.f)}});
  const std::vector<Tensor> want = ref.run(q, {x});
  const std::vector<Tensor> got = exec.run(q, {x});
  info = exec.plan_info();
  INFO(info.str());
  CHECK(info.count("int8 matmul") == 2 * 6);
  CHECK(sqnr_db(want[0], got[0]) > 30.0);
}

TEST_CASE("shape-only ops are zero-copy views, and results never alias inputs", "[onednn]") {
  Graph g("views");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {2, 3, 4}));
  Value* shape = g.add_initializer("shape", Tensor::from_vector<int64_t>({2}, {0, -1}));
  Value* r = g.add_op("Reshape", {x, shape}, {}, "reshape");
  Value* u =
      g.add_op("Unsqueeze", {r, g.add_initializer("axes", Tensor::from_vector<int64_t>({1}, {1}))},
               {}, "unsqueeze");
  Value* s =
      g.add_op("Squeeze", {u, g.add_initializer("axes1", Tensor::from_vector<int64_t>({1}, {1}))},
               {}, "squeeze");
  Value* f =
      g.add_op("Flatten", {g.add_op("Relu", {s}, {}, "relu")}, {{"axis", int64_t{0}}}, "flatten");
  g.set_outputs({r, f, g.add_op("Identity", {x}, {}, "identity")});
  infer_shapes(g);
  OneDnnExecutor exec;
  const Tensor in = scaled_random({2, 3, 4}, 1, 1.f);
  const std::vector<Tensor> out = check_parity(g, {in}, exec, 0.0);
  CHECK(exec.plan_info().count("view") == 5);
  CHECK(exec.plan_info().count("reference") == 0);
  for (const Tensor& t : out)
    CHECK_FALSE(t.shares_storage(in));
  // A wrong shape operand is reported by the node, as the reference kernel words it.
  Graph bad("bad");
  Value* y = bad.add_input("y", TensorType::of(DType::f32, {2, 3}));
  bad.set_outputs(
      {bad.add_op("Reshape", {y, bad.add_input("s", TensorType::of(DType::i64, {1}))}, {}, "dyn")});
  CHECK_NOTHROW(
      exec.run(bad, {Tensor(DType::f32, {2, 3}), Tensor::from_vector<int64_t>({1}, {6})}));
  CHECK_THROWS_WITH(
      exec.run(bad, {Tensor(DType::f32, {2, 3}), Tensor::from_vector<int64_t>({1}, {5})}),
      Catch::Contains("dyn"));
}

TEST_CASE("Winograd convolutions: on, off, and the trial that picks the faster", "[onednn]") {
  const Graph g = resnet_cnn(64, 1);
  const Tensor x = scaled_random({2, 1, 28, 28}, 3, 1.f);
  auto winograd_steps = [](const OneDnnPlanInfo& info) {
    int n = 0;
    for (const OneDnnStepInfo& s : info.steps)
      n += s.implementation.find("wino") != std::string::npos;
    return n;
  };
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    OneDnnOptions o;
    o.threads = threads;
    o.winograd = OneDnnOptions::Winograd::On;
    OneDnnExecutor on(o);
    check_parity(g, {x}, on);
    INFO(on.plan_info().str());
    // s0b0_c1, s0b0_c2 (64 -> 64), s1b0_c2 (128 -> 128) and s2b0_c2 (256 -> 256); not the
    // stem (1 channel), the strided convs or the 1x1 projections.
    CHECK(winograd_steps(on.plan_info()) == 4);
    CHECK(on.plan_info().winograd);

    o.winograd = OneDnnOptions::Winograd::Off;
    OneDnnExecutor off(o);
    check_parity(g, {x}, off);
    CHECK(winograd_steps(off.plan_info()) == 0);

    o.winograd = OneDnnOptions::Winograd::Auto;
    OneDnnExecutor trial(o);
    check_parity(g, {x}, trial);
    CHECK_FALSE(trial.plan_info().tuned);
    for (int i = 0; i < 15; ++i)
      check_parity(g, {x}, trial); // exact while the trial switches algorithms
    CHECK(trial.plan_info().tuned);
    const OneDnnPlanInfo info = trial.plan_info();
    INFO(info.str());
    REQUIRE(info.trial_direct_seconds > 0);
    REQUIRE(info.trial_winograd_seconds > 0);
    CHECK(info.winograd == (info.trial_winograd_seconds < info.trial_direct_seconds));
    CHECK(winograd_steps(info) == (info.winograd ? 4 : 0));
  }
}
