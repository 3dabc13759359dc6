#include "io_test_graphs.h"
#include "io_test_support.h"

#include "shrink/core/error.h"
#include "shrink/exec/onednn.h"
#include "shrink/io/onnx.h"
#include "shrink/ir/stats.h"

#include "exec/qdq_graphs.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>

using namespace shrink;
using shrink::test::TempDir;

namespace {

onnx::ModelProto parse(const std::string& bytes) {
  onnx::ModelProto m;
  REQUIRE(m.ParseFromString(bytes));
  return m;
}

const onnx::NodeProto* proto_node(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& n : m.graph().node())
    if (n.name() == name) return &n;
  return nullptr;
}

const onnx::TensorProto* proto_init(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& t : m.graph().initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

bool has_attr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return true;
  return false;
}

std::vector<int64_t> init_i64(const onnx::ModelProto& m, const std::string& name) {
  const onnx::TensorProto* t = proto_init(m, name);
  REQUIRE(t);
  REQUIRE(t->data_type() == onnx::TensorProto::INT64);
  std::vector<int64_t> v(t->raw_data().size() / 8);
  std::memcpy(v.data(), t->raw_data().data(), t->raw_data().size());
  return v;
}

std::multiset<std::string> op_set(const onnx::ModelProto& m) {
  std::multiset<std::string> s;
  for (const auto& n : m.graph().node())
    s.insert(n.op_type());
  return s;
}

} // namespace

TEST_CASE("export writes a model that imports back to the same graph", "[io][onnx][export]") {
  Graph g = test::residual_cnn();
  std::string bytes = save_onnx_to_string(g);
  onnx::ModelProto m = parse(bytes);
  CHECK(m.producer_name() == "shrink");
  CHECK_FALSE(m.producer_version().empty());
  REQUIRE(m.opset_import_size() == 1);
  CHECK(m.opset_import(0).domain().empty());
  CHECK(m.opset_import(0).version() == 17);
  CHECK(m.ir_version() == 8);
  CHECK(m.graph().name() == "residual_cnn");
  // Weights are raw data, never typed fields, and they are not listed as inputs.
  REQUIRE(m.graph().initializer_size() == static_cast<int>(g.initializers().size()));
  for (const auto& t : m.graph().initializer()) {
    CHECK(t.has_raw_data());
    CHECK(t.float_data_size() == 0);
  }
  REQUIRE(m.graph().input_size() == 1);
  const auto& in_shape = m.graph().input(0).type().tensor_type().shape();
  REQUIRE(in_shape.dim_size() == 4);
  CHECK(in_shape.dim(0).dim_param() == "N");
  CHECK(in_shape.dim(1).dim_value() == 3);
  // value_info carries the inferred shapes of intermediates, symbolic batch included.
  bool saw_pool = false;
  for (const auto& vi : m.graph().value_info())
    if (vi.name() == "pool") {
      saw_pool = true;
      const auto& s = vi.type().tensor_type().shape();
      REQUIRE(s.dim_size() == 4);
      CHECK(s.dim(0).dim_param() == "N");
      CHECK(s.dim(3).dim_value() == 4);
    }
  CHECK(saw_pool);

  Graph back = load_onnx_from_string(bytes);
  REQUIRE(back.num_nodes() == g.num_nodes());
  auto a = g.nodes();
  auto b = back.nodes();
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i]->op() == b[i]->op());
    CHECK(a[i]->name() == b[i]->name());
    CHECK(a[i]->attrs().size() == b[i]->attrs().size());
  }
  for (const Value* v : g.initializers())
    CHECK(back.find_value(v->name())->initializer().equals(v->initializer()));
  CHECK(back.outputs()[0]->type().str() == "f32[N,10]");
  // The caller's graph is untouched by export.
  CHECK(test::residual_cnn().num_nodes() == g.num_nodes());
}

TEST_CASE("attribute forms become the inputs the opset requires", "[io][onnx][export]") {
  Graph g = test::transformer_block();
  const auto before = g.version();
  onnx::ModelProto m = parse(save_onnx_to_string(g));
  CHECK(g.version() == before);
  CHECK(g.find_node("squeeze")->has_attr("axes"));

  const auto* sq = proto_node(m, "squeeze");
  REQUIRE(sq);
  CHECK_FALSE(has_attr(*sq, "axes"));
  REQUIRE(sq->input_size() == 2);
  CHECK(init_i64(m, sq->input(1)) == std::vector<int64_t>{1});
  const auto* un = proto_node(m, "unsqueeze");
  REQUIRE(un->input_size() == 2);

  // ReduceMean keeps the axes attribute until opset 18.
  const auto* pool = proto_node(m, "pool");
  CHECK(has_attr(*pool, "axes"));
  CHECK(pool->input_size() == 1);

  const auto* clip = proto_node(m, "clip");
  CHECK(clip->attribute_size() == 0);
  REQUIRE(clip->input_size() == 3);
  CHECK(proto_init(m, clip->input(1))->dims_size() == 0);

  // Split with num_outputs (opset 18) over 48 = 3 x 16 is an even split at opset 17.
  const auto* split = proto_node(m, "split_qkv");
  CHECK_FALSE(has_attr(*split, "num_outputs"));
  CHECK(split->input_size() == 1);

  // Gelu is opset 20: before that it is written as its erf formula.
  CHECK(op_set(m).count("Gelu") == 0);
  CHECK(op_set(m).count("Erf") == 1);
  CHECK(proto_node(m, "gelu") == nullptr);

  onnx::ModelProto m18 = parse(save_onnx_to_string(g, {18}));
  CHECK(m18.ir_version() == 8);
  const auto* pool18 = proto_node(m18, "pool");
  CHECK_FALSE(has_attr(*pool18, "axes"));
  REQUIRE(pool18->input_size() == 2);
  CHECK(init_i64(m18, pool18->input(1)) == std::vector<int64_t>{1});
  CHECK(has_attr(*proto_node(m18, "split_qkv"), "num_outputs"));

  onnx::ModelProto m20 = parse(save_onnx_to_string(g, {20}));
  CHECK(op_set(m20).count("Gelu") == 1);
  CHECK(m20.ir_version() == 9);
}

TEST_CASE("other attribute conversions: Slice, Pad, ReduceSum, uneven Split",
          "[io][onnx][export]") {
  Graph g("conv");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {2, 5}));
  Value* s = g.add_op("Slice", {x},
                      {{"starts", std::vector<int64_t>{1}},
                       {"ends", std::vector<int64_t>{4}},
                       {"axes", std::vector<int64_t>{1}}},
                      "slice");
  Value* p =
      g.add_op("Pad", {s}, {{"pads", std::vector<int64_t>{0, 1, 0, 1}}, {"value", 2.5f}}, "pad");
  Value* r = g.add_op("ReduceSum", {p}, {{"axes", std::vector<int64_t>{0}}}, "sum");
  Node* split =
      g.add_node("Split", {x}, 2, {{"axis", int64_t{1}}, {"num_outputs", int64_t{2}}}, "split");
  Value* mean = g.add_op(
      "ReduceMean", {x, g.add_initializer("mean_axes", Tensor::from_vector<int64_t>({1}, {1}))},
      {{"keepdims", int64_t{0}}}, "mean");
  g.set_outputs({r, split->output(0), split->output(1), mean});
  onnx::ModelProto m = parse(save_onnx_to_string(g));
  CHECK(m.opset_import(0).version() == 17);
  // A constant axes input of ReduceMean (opset 18) becomes the opset-17 attribute.
  const auto* rm = proto_node(m, "mean");
  CHECK(rm->input_size() == 1);
  CHECK(has_attr(*rm, "axes"));
  CHECK(proto_init(m, "mean_axes") == nullptr);
  const auto* sl = proto_node(m, "slice");
  REQUIRE(sl->input_size() == 4);
  CHECK(init_i64(m, sl->input(1)) == std::vector<int64_t>{1});
  CHECK(init_i64(m, sl->input(2)) == std::vector<int64_t>{4});
  CHECK(init_i64(m, sl->input(3)) == std::vector<int64_t>{1});
  const auto* pad = proto_node(m, "pad");
  REQUIRE(pad->input_size() == 3);
  CHECK(init_i64(m, pad->input(1)) == std::vector<int64_t>{0, 1, 0, 1});
  CHECK(proto_init(m, pad->input(2))->data_type() == onnx::TensorProto::FLOAT);
  CHECK(proto_node(m, "sum")->input_size() == 2);
  // 5 into 2 parts is 3 + 2 in opset 18; older opsets need the sizes spelled out.
  const auto* sp = proto_node(m, "split");
  REQUIRE(sp->input_size() == 2);
  CHECK(init_i64(m, sp->input(1)) == std::vector<int64_t>{3, 2});

  Tensor xin = test::random_tensor({2, 5}, 1);
  auto expect = test::run_reference(g, {xin});
  Graph back = load_onnx_from_string(save_onnx_to_string(g));
  auto got = test::run_reference(back, {xin});
  REQUIRE(got.size() == 4);
  for (size_t i = 0; i < 4; ++i)
    CHECK(got[i].equals(expect[i]));
}

TEST_CASE("the export opset follows the ops used", "[io][onnx][export]") {
  Graph cnn = test::residual_cnn();
  CHECK(onnx_export_opset(cnn) == 17);
  CHECK(onnx_export_opset(cnn, {13}) == 13);
  CHECK(parse(save_onnx_to_string(cnn, {13})).ir_version() == 7);
  CHECK(parse(save_onnx_to_string(cnn, {21})).ir_version() == 10);
  CHECK_THROWS_WITH(onnx_export_opset(cnn, {12}), Catch::Contains("opsets 13 to 21"));
  CHECK_THROWS_WITH(onnx_export_opset(cnn, {22}), Catch::Contains("opsets 13 to 21"));

  Graph enc = test::transformer_block();
  CHECK_THROWS_WITH(save_onnx_to_string(enc, {14}),
                    Catch::Contains("node 'ln1' (LayerNormalization) needs opset 17"));

  Graph g("pad18");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {2, 3}));
  Value* y = g.add_op("Pad",
                      {x, g.add_initializer("pads", Tensor::from_vector<int64_t>({2}, {1, 1})),
                       nullptr, g.add_initializer("axes", Tensor::from_vector<int64_t>({1}, {1}))},
                      {}, "pad");
  g.set_outputs({y});
  CHECK(onnx_export_opset(g) == 18);
  onnx::ModelProto m = parse(save_onnx_to_string(g));
  CHECK(m.opset_import(0).version() == 18);
  CHECK(proto_node(m, "pad")->input(2).empty());
  CHECK_THROWS_WITH(save_onnx_to_string(g, {17}), Catch::Contains("Pad's axes input"));
}

TEST_CASE("QDQ graphs export per-tensor and per-axis quantization", "[io][onnx][export]") {
  Graph g = test::qdq_conv();
  onnx::ModelProto m = parse(save_onnx_to_string(g));
  CHECK(m.opset_import(0).version() == 17);
  const auto* wdq = proto_node(m, "w_dequant");
  REQUIRE(wdq);
  REQUIRE(wdq->attribute_size() == 1);
  CHECK(wdq->attribute(0).name() == "axis");
  CHECK(wdq->attribute(0).i() == 0);
  CHECK(proto_init(m, "w_q")->data_type() == onnx::TensorProto::INT8);
  CHECK(proto_init(m, "x_zero")->data_type() == onnx::TensorProto::UINT8);
  CHECK(m.graph().output(1).type().tensor_type().elem_type() == onnx::TensorProto::UINT8);
  Graph back = load_onnx_from_string(save_onnx_to_string(g));
  CHECK(back.find_value("w_q")->initializer().equals(g.find_value("w_q")->initializer()));
}

TEST_CASE("save_onnx writes atomically", "[io][onnx][export]") {
  TempDir dir("onnx_save");
  Graph g = test::residual_cnn();
  std::string path = dir.file("model.onnx");
  save_onnx(g, path);
  CHECK(dir.list() == std::vector<std::string>{"model.onnx"});
  CHECK(load_onnx(path).num_nodes() == g.num_nodes());

  // A directory that does not exist: an error naming the path, and nothing written.
  std::string missing = dir.file("no/such/dir/model.onnx");
  CHECK_THROWS_WITH(save_onnx(g, missing), Catch::Contains(missing));
  CHECK(dir.list() == std::vector<std::string>{"model.onnx"});

  // The target is a directory: the temporary file is written, the rename fails, and the
  // temporary file is removed again.
  std::filesystem::create_directory(dir.file("taken"));
  CHECK_THROWS_WITH(save_onnx(g, dir.file("taken")), Catch::Contains("rename"));
  CHECK(dir.list() == std::vector<std::string>{"model.onnx", "taken"});

  // A graph that cannot be exported leaves an existing file unchanged.
  std::string before = test::run_command("cksum " + test::shell_quote(path)).output;
  CHECK_THROWS(save_onnx(test::transformer_block(), path, {14}));
  CHECK(test::run_command("cksum " + test::shell_quote(path)).output == before);
}

TEST_CASE("onnx.checker accepts exported models", "[io][onnx][export][checker]") {
  if (!test::python_has("onnx")) {
    WARN("skipped: /usr/bin/python3 cannot import onnx (apt-get install python3-onnx)");
    return;
  }
  TempDir dir("onnx_checker");
  struct Case {
    std::string name;
    Graph graph;
    int opset;
  };
  std::vector<Case> cases;
  cases.push_back({"cnn", test::residual_cnn(), 0});
  cases.push_back({"cnn13", test::residual_cnn(), 13});
  cases.push_back({"encoder", test::transformer_block(), 0});
  cases.push_back({"qdq", test::qdq_conv(), 0});
  cases.push_back({"qdq13", test::qdq_conv(), 13});
  std::vector<std::string> paths;
  for (const auto& c : cases) {
    paths.push_back(dir.file(c.name + ".onnx"));
    save_onnx(c.graph, paths.back(), {c.opset});
  }
  CHECK(test::onnx_check(paths) == "");

  // The checker does fail on a broken model, so the check above means something.
  onnx::ModelProto m = parse(save_onnx_to_string(test::residual_cnn()));
  m.mutable_graph()->mutable_node(0)->set_input(1, "nowhere");
  test::write_bytes(dir.file("broken.onnx"), m.SerializeAsString());
  CHECK_THAT(test::onnx_check({dir.file("broken.onnx")}), Catch::Contains("nowhere"));
}

TEST_CASE("ONNX Runtime runs exported graphs like the reference executor",
          "[io][onnx][export][ort]") {
  if (!test::ort_available()) {
    WARN(test::ort_skip_message());
    return;
  }
  TempDir dir("onnx_ort");
  struct Case {
    std::string name;
    Graph graph;
    Tensor input;
  };
  std::vector<Case> cases;
  cases.push_back({"cnn", test::residual_cnn(), test::random_tensor({2, 3, 8, 8}, 100)});
  cases.push_back({"encoder", test::transformer_block(), test::random_tensor({3, 5, 16}, 101)});
  cases.push_back({"qdq", test::qdq_conv(), test::random_tensor({1, 3, 8, 8}, 102)});
  for (const auto& c : cases) {
    INFO(c.name);
    std::string path = dir.file(c.name + ".onnx");
    save_onnx(c.graph, path);
    auto expect = test::run_reference(c.graph, {c.input});
    auto got = test::run_ort(path, {c.input}, dir.path());
    REQUIRE(got.size() == expect.size());
    for (size_t i = 0; i < got.size(); ++i) {
      REQUIRE(got[i].shape() == expect[i].shape());
      REQUIRE(got[i].dtype() == expect[i].dtype());
      if (got[i].dtype() == DType::f32)
        CHECK(max_relative_error(got[i], expect[i]) <= 1e-4);
      else
        CHECK(got[i].equals(expect[i]));
    }
  }
}

TEST_CASE("Gelu written as its formula computes the same values", "[io][onnx][export]") {
  Graph g("gelu");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {2, 7}));
  Value* exact = g.add_op("Gelu", {x}, {}, "gelu_exact");
  Value* approx = g.add_op("Gelu", {x}, {{"approximate", std::string("tanh")}}, "gelu_tanh");
  g.set_outputs({exact, approx});
  Graph back = load_onnx_from_string(save_onnx_to_string(g, {17}));
  for (const Node* n : back.nodes())
    CHECK(n->op() != "Gelu");
  CHECK(back.outputs()[0]->name() == exact->name());
  Tensor in = test::random_tensor({2, 7}, 5, -4, 4);
  auto expect = test::run_reference(g, {in});
  auto got = test::run_reference(back, {in});
  CHECK(max_relative_error(got[0], expect[0]) <= 1e-5);
  CHECK(max_relative_error(got[1], expect[1]) <= 1e-5);
  // The two approximations differ, so each output really follows its own formula.
  CHECK(max_relative_error(got[0], got[1]) > 1e-5);
}

TEST_CASE("ONNX Runtime runs exported QDQ models like the oneDNN int8 runtime",
          "[io][onnx][export][ort][qdq]") {
  if (!test::ort_available()) {
    WARN(test::ort_skip_message());
    return;
  }
  // The benchmark compares shrink's int8 runtime with ONNX Runtime on the same exported QDQ
  // files; this checks that both compute the same model. int8 kernels on either side may round a
  // value one quantization step differently, so the comparison is an SQNR, not a tolerance.
  TempDir dir("onnx_ort_qdq");
  struct Case {
    std::string name;
    Graph fp32;
    Tensor input;
  };
  std::vector<Case> cases;
  cases.push_back({"cnn", test::residual_cnn(), test::random_tensor({4, 3, 8, 8}, 110)});
  cases.push_back({"encoder", test::transformer_block(), test::random_tensor({3, 5, 16}, 111)});
  for (auto& c : cases) {
    INFO(c.name);
    OneDnnExecutor exec({1});
    Graph q = testing::quantize_for_test(c.fp32, exec, {{c.input}});
    const std::string path = dir.file(c.name + ".int8.onnx");
    save_onnx(q, path);
    Graph back = load_onnx(path);
    REQUIRE(graph_stats(back).ops.count("DequantizeLinear"));
    const Tensor ours = exec.run(back, {c.input})[0];
    const Tensor fp32 = exec.run(c.fp32, {c.input})[0];
    auto got = test::run_ort(path, {c.input}, dir.path());
    REQUIRE(got.size() == 1);
    REQUIRE(got[0].shape() == ours.shape());
    double err = 0.0, sig = 0.0;
    for (int64_t i = 0; i < ours.numel(); ++i) {
      err += (got[0].at(i) - ours.at(i)) * (got[0].at(i) - ours.at(i));
      sig += ours.at(i) * ours.at(i);
    }
    const double sqnr = 10.0 * std::log10(sig / std::max(err, 1e-30));
    INFO("SQNR of ONNX Runtime against shrink int8: " << sqnr << " dB");
    CHECK(sqnr > 30.0);
    // And the quantized model is not the fp32 one by accident.
    CHECK_FALSE(ours.equals(fp32));
  }
}
