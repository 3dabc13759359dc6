#include "io_test_support.h"

#include "shrink/core/error.h"
#include "shrink/io/onnx.h"
#include "shrink/ir/op_table.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>

using namespace shrink;
using shrink::test::ProtoBuilder;
using shrink::test::TempDir;

namespace {

constexpr int kF32 = onnx::TensorProto::FLOAT;
constexpr int kI64 = onnx::TensorProto::INT64;

std::vector<float> iota(size_t n, float scale = 0.1f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = scale * static_cast<float>(static_cast<int>(i % 7) - 3);
  return v;
}

std::vector<std::string> ops_of(const Graph& g) {
  std::vector<std::string> ops;
  for (const Node* n : g.nodes())
    ops.push_back(n->op());
  return ops;
}

std::string dims_of(const Value* v) {
  return v->type().str();
}

// A small opset-9 CNN in the older operator forms: typed float_data weights, Unsqueeze/Slice
// with attributes, BatchNormalization, Softmax on a 2-D tensor with the old default axis.
ProtoBuilder opset9_cnn() {
  ProtoBuilder b(9, 4);
  b.input("x", kF32, {"N", "2", "6", "6"});
  b.init_f32("w", {4, 2, 3, 3}, iota(72), /*typed=*/true);
  b.init_f32("scale", {4}, {1, 0.5f, 2, 1}, true);
  b.init_f32("bias", {4}, {0, 0.1f, -0.1f, 0.2f}, true);
  b.init_f32("mean", {4}, {0.1f, 0, 0, -0.1f}, true);
  b.init_f32("var", {4}, {1, 2, 0.5f, 1}, true);
  b.init_f32("fc_w", {3, 4}, iota(12), true);
  b.init_f32("fc_b", {3}, {0.1f, 0.2f, 0.3f}, true);
  auto* conv = b.node("Conv", {"x", "w"}, {"c"}, "conv");
  ProtoBuilder::attr(conv, "pads", std::vector<int64_t>{1, 1, 1, 1});
  ProtoBuilder::attr(conv, "kernel_shape", std::vector<int64_t>{3, 3});
  auto* bn = b.node("BatchNormalization", {"c", "scale", "bias", "mean", "var"}, {"bn"}, "bn");
  ProtoBuilder::attr(bn, "epsilon", 1e-5f);
  b.node("Relu", {"bn"}, {"r"}, "relu");
  auto* pool = b.node("MaxPool", {"r"}, {"p"}, "pool");
  ProtoBuilder::attr(pool, "kernel_shape", std::vector<int64_t>{2, 2});
  ProtoBuilder::attr(pool, "strides", std::vector<int64_t>{2, 2});
  b.node("GlobalAveragePool", {"p"}, {"g"}, "gap");
  auto* flat = b.node("Flatten", {"g"}, {"f"}, "flatten");
  ProtoBuilder::attr(flat, "axis", int64_t{1});
  auto* gemm = b.node("Gemm", {"f", "fc_w", "fc_b"}, {"logits"}, "fc");
  ProtoBuilder::attr(gemm, "transB", int64_t{1});
  b.node("Softmax", {"logits"}, {"prob"}, "softmax");
  auto* unsq = b.node("Unsqueeze", {"prob"}, {"u"}, "unsqueeze");
  ProtoBuilder::attr(unsq, "axes", std::vector<int64_t>{1});
  auto* slice = b.node("Slice", {"u"}, {"y"}, "slice");
  ProtoBuilder::attr(slice, "starts", std::vector<int64_t>{0});
  ProtoBuilder::attr(slice, "ends", std::vector<int64_t>{2});
  ProtoBuilder::attr(slice, "axes", std::vector<int64_t>{2});
  b.output("y", kF32, {"N", "1", "2"});
  return b;
}

} // namespace

TEST_CASE("an opset 9 model imports with its attribute forms and shapes", "[io][onnx][import]") {
  Graph g = load_onnx_from_string(opset9_cnn().bytes(), "cnn9.onnx");
  CHECK(ops_of(g) == std::vector<std::string>{"Conv", "BatchNormalization", "Relu", "MaxPool",
                                              "GlobalAveragePool", "Flatten", "Gemm", "Softmax",
                                              "Unsqueeze", "Slice"});
  REQUIRE(g.inputs().size() == 1);
  CHECK(dims_of(g.inputs()[0]) == "f32[N,2,6,6]");
  CHECK(g.initializers().size() == 7);
  CHECK(g.find_value("w")->initializer().at(1) == Approx(-0.2));
  REQUIRE(g.outputs().size() == 1);
  CHECK(g.outputs()[0]->name() == "y");
  CHECK(dims_of(g.outputs()[0]) == "f32[N,1,2]");
  CHECK(dims_of(g.find_value("p")) == "f32[N,4,3,3]");
  // Softmax-9 on a 2-D tensor with the old default axis 1 is the last axis: one node.
  CHECK(g.find_node("softmax")->attr_int("axis", 0) == -1);
  CHECK(g.find_node("unsqueeze")->attr_ints("axes") == std::vector<int64_t>{1});

  // The imported graph runs and its softmax rows sum to one.
  Tensor x = test::random_tensor({2, 2, 6, 6}, 3);
  Tensor y = test::run_reference(g, {x})[0];
  REQUIRE(y.shape() == Shape{2, 1, 2});
  Graph full = load_onnx_from_string(opset9_cnn().bytes(), "cnn9.onnx");
  // Drop the final slice to see the whole distribution.
  full.set_outputs({full.find_value("prob")});
  Tensor prob = test::run_reference(full, {x})[0];
  for (int r = 0; r < 2; ++r)
    CHECK(prob.at(r * 3) + prob.at(r * 3 + 1) + prob.at(r * 3 + 2) == Approx(1.0));
  CHECK(y.at(0) == Approx(prob.at(0)));
  CHECK(y.at(3) == Approx(prob.at(4)));
}

TEST_CASE("Softmax before opset 13 keeps its flatten-to-2-D meaning", "[io][onnx][import]") {
  for (int opset : {11, 12}) {
    ProtoBuilder b(opset);
    b.input("x", kF32, {"2", "3", "4"});
    auto* s = b.node("Softmax", {"x"}, {"y"}, "sm");
    ProtoBuilder::attr(s, "axis", int64_t{1});
    auto* l = b.node("LogSoftmax", {"x"}, {"z"}, "lsm");
    ProtoBuilder::attr(l, "axis", int64_t{2});
    b.output("y", kF32, {"2", "3", "4"});
    b.output("z", kF32, {"2", "3", "4"});
    Graph g = load_onnx_from_string(b.bytes());
    // axis 1 of a 3-D input is not the last axis: Flatten -> Softmax -> Reshape(Shape(x)).
    CHECK(ops_of(g) ==
          std::vector<std::string>{"Flatten", "Softmax", "Shape", "Reshape", "LogSoftmax"});
    CHECK(g.outputs()[0]->name() == "y");
    CHECK(dims_of(g.outputs()[0]) == "f32[2,3,4]");
    CHECK(g.find_node("lsm")->attr_int("axis", 0) == -1);

    Tensor x = test::random_tensor({2, 3, 4}, 7, -2, 2);
    auto out = test::run_reference(g, {x});
    const float* px = x.data<float>();
    for (int b0 = 0; b0 < 2; ++b0) {
      // The old semantics: one distribution over all 12 values of each batch entry.
      double sum = 0;
      for (int i = 0; i < 12; ++i)
        sum += std::exp(px[b0 * 12 + i]);
      for (int i = 0; i < 12; ++i)
        CHECK(out[0].at(b0 * 12 + i) == Approx(std::exp(px[b0 * 12 + i]) / sum));
    }
    // LogSoftmax over the last axis: per row of 4.
    double row = 0;
    for (int i = 0; i < 4; ++i)
      row += std::exp(px[i]);
    CHECK(out[1].at(0) == Approx(px[0] - std::log(row)));
  }
}

TEST_CASE("Constant nodes become initializers", "[io][onnx][import]") {
  ProtoBuilder b(13);
  b.input("x", kF32, {"2", "3"});
  auto* c1 = b.node("Constant", {}, {"w"}, "const_w");
  ProtoBuilder::attr(c1, "value", test::make_f32_proto("", {3, 2}, {1, 2, 3, 4, 5, 6}));
  auto* c2 = b.node("Constant", {}, {"k"}, "");
  ProtoBuilder::attr(c2, "value_float", 2.0f);
  auto* c3 = b.node("Constant", {}, {"shape"}, "");
  ProtoBuilder::attr(c3, "value_ints", std::vector<int64_t>{3, 2});
  b.node("MatMul", {"x", "w"}, {"m"}, "mm");
  b.node("Mul", {"m", "k"}, {"y"}, "scale");
  b.node("Reshape", {"x", "shape"}, {"r"}, "reshape");
  b.output("y", kF32, {"2", "2"});
  b.output("r", kF32, {"3", "2"});
  Graph g = load_onnx_from_string(b.bytes());
  CHECK(ops_of(g) == std::vector<std::string>{"MatMul", "Mul", "Reshape"});
  REQUIRE(g.find_value("w")->is_initializer());
  CHECK(g.find_value("w")->initializer().shape() == Shape{3, 2});
  CHECK(g.find_value("w")->initializer().at(5) == 6.0);
  CHECK(g.find_value("k")->initializer().shape().empty());
  CHECK(g.find_value("k")->initializer().at(0) == 2.0);
  CHECK(g.find_value("shape")->initializer().dtype() == DType::i64);
  CHECK(dims_of(g.find_value("r")) == "f32[3,2]");
  Tensor x = Tensor::from_vector<float>({2, 3}, {1, 0, 0, 0, 1, 0});
  Tensor y = test::run_reference(g, {x})[0];
  CHECK(y.to_doubles() == std::vector<double>{2, 4, 6, 8});
}

TEST_CASE("typed data fields of every element type are read", "[io][onnx][import]") {
  ProtoBuilder b(13);
  auto add = [&](const std::string& name, int type, Shape shape) {
    auto* t = b.graph().add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    for (int64_t d : shape)
      t->add_dims(d);
    b.node("Identity", {name}, {name + "_out"});
    b.output(name + "_out", type, {});
    b.graph()
        .mutable_output(b.graph().output_size() - 1)
        ->mutable_type()
        ->mutable_tensor_type()
        ->clear_shape();
    return t;
  };
  auto* i64 = add("i64", onnx::TensorProto::INT64, {2});
  i64->add_int64_data(-3);
  i64->add_int64_data(int64_t{1} << 40);
  auto* i32 = add("i32", onnx::TensorProto::INT32, {2});
  i32->add_int32_data(-7);
  i32->add_int32_data(9);
  auto* i8 = add("i8", onnx::TensorProto::INT8, {3});
  for (int v : {-128, 0, 127})
    i8->add_int32_data(v);
  auto* u8 = add("u8", onnx::TensorProto::UINT8, {2});
  for (int v : {0, 255})
    u8->add_int32_data(v);
  auto* bl = add("b", onnx::TensorProto::BOOL, {3});
  for (int v : {1, 0, 1})
    bl->add_int32_data(v);
  auto* f16 = add("h", onnx::TensorProto::FLOAT16, {2});
  f16->add_int32_data(0x3c00); // 1.0
  f16->add_int32_data(0xc000); // -2.0
  auto* raw = add("raw", onnx::TensorProto::INT32, {2});
  int32_t raw_values[2] = {5, -6};
  raw->set_raw_data(std::string(reinterpret_cast<char*>(raw_values), 8));
  auto* f = add("f", onnx::TensorProto::FLOAT, {2, 1});
  f->add_float_data(0.25f);
  f->add_float_data(-4.0f);

  Graph g = load_onnx_from_string(b.bytes());
  auto values = [&](const std::string& n) { return g.find_value(n)->initializer().to_doubles(); };
  CHECK(values("i64") == std::vector<double>{-3, std::ldexp(1.0, 40)});
  CHECK(values("i32") == std::vector<double>{-7, 9});
  CHECK(values("i8") == std::vector<double>{-128, 0, 127});
  CHECK(g.find_value("i8")->initializer().dtype() == DType::i8);
  CHECK(values("u8") == std::vector<double>{0, 255});
  CHECK(values("b") == std::vector<double>{1, 0, 1});
  CHECK(g.find_value("b")->initializer().dtype() == DType::boolean);
  CHECK(values("h") == std::vector<double>{1, -2});
  CHECK(g.find_value("h")->initializer().dtype() == DType::f16);
  CHECK(values("raw") == std::vector<double>{5, -6});
  CHECK(values("f") == std::vector<double>{0.25, -4});
  CHECK(dims_of(g.find_value("i8_out")) == "i8[3]");

  // A typed field with the wrong count names the tensor.
  f->add_float_data(1.0f);
  CHECK_THROWS_WITH(load_onnx_from_string(b.bytes(), "m.onnx"),
                    Catch::Contains("initializer 'f'") && Catch::Contains("float_data has 3") &&
                        Catch::Contains("m.onnx"));
  f->clear_float_data();
  f->set_raw_data(std::string(7, '\0'));
  CHECK_THROWS_WITH(load_onnx_from_string(b.bytes(), "m.onnx"),
                    Catch::Contains("raw_data has 7 bytes"));
}

TEST_CASE("external data is read from files beside the model", "[io][onnx][import]") {
  TempDir dir("onnx_ext");
  std::vector<float> w = {1, -2, 3, -4, 5, -6};
  std::string data(16, 'x'); // the tensor starts at offset 16
  data.append(reinterpret_cast<const char*>(w.data()), w.size() * 4);
  test::write_bytes(dir.file("weights.bin"), data);

  auto make = [&](const std::string& location, const std::string& offset) {
    ProtoBuilder b(13);
    b.input("x", kF32, {"2", "3"});
    auto* t = b.graph().add_initializer();
    t->set_name("w");
    t->set_data_type(kF32);
    t->add_dims(3);
    t->add_dims(2);
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto kv = [&](const std::string& k, const std::string& v) {
      auto* e = t->add_external_data();
      e->set_key(k);
      e->set_value(v);
    };
    kv("location", location);
    kv("offset", offset);
    kv("length", "24");
    b.node("MatMul", {"x", "w"}, {"y"}, "mm");
    b.output("y", kF32, {"2", "2"});
    return b.bytes();
  };

  test::write_bytes(dir.file("model.onnx"), make("weights.bin", "16"));
  Graph g = load_onnx(dir.file("model.onnx"));
  CHECK(g.find_value("w")->initializer().to_doubles() == std::vector<double>{1, -2, 3, -4, 5, -6});
  // The same bytes from memory need to be told where the data lives.
  CHECK_THROWS_WITH(load_onnx_from_string(make("weights.bin", "16"), "mem.onnx"),
                    Catch::Contains("weights.bin") && Catch::Contains("external_data_dir"));
  Graph g2 = load_onnx_from_string(make("weights.bin", "16"), "mem.onnx", dir.path());
  CHECK(g2.find_value("w")->initializer().equals(g.find_value("w")->initializer()));

  test::write_bytes(dir.file("missing.onnx"), make("other.bin", "0"));
  CHECK_THROWS_WITH(load_onnx(dir.file("missing.onnx")),
                    Catch::Contains("initializer 'w'") && Catch::Contains(dir.file("other.bin")) &&
                        Catch::Contains("copy the data file next to the model"));
  test::write_bytes(dir.file("short.onnx"), make("weights.bin", "30"));
  CHECK_THROWS_WITH(load_onnx(dir.file("short.onnx")), Catch::Contains("truncated"));
  test::write_bytes(dir.file("escape.onnx"), make("../weights.bin", "0"));
  CHECK_THROWS_WITH(load_onnx(dir.file("escape.onnx")), Catch::Contains("outside"));
}

TEST_CASE("graph inputs that shadow initializers are initializers", "[io][onnx][import]") {
  // IR version 3 lists every weight as a graph input too.
  ProtoBuilder b(9, 3);
  b.input("x", kF32, {"N", "2"});
  b.input("w", kF32, {"2", "2"});
  b.init_f32("w", {2, 2}, {1, 2, 3, 4});
  b.node("MatMul", {"x", "w"}, {"y"});
  b.output("y", kF32, {"N", "2"});
  Graph g = load_onnx_from_string(b.bytes());
  REQUIRE(g.inputs().size() == 1);
  CHECK(g.inputs()[0]->name() == "x");
  CHECK(g.find_value("w")->is_initializer());
  CHECK_FALSE(g.find_value("w")->is_graph_input());
  CHECK(dims_of(g.outputs()[0]) == "f32[N,2]");
}

TEST_CASE("symbolic and unknown dims and value_info types are kept", "[io][onnx][import]") {
  ProtoBuilder b(13);
  b.input("x", kF32, {"batch", "?", "4"});
  b.input("ids", kI64, {"batch"});
  b.node("Relu", {"x"}, {"r"});
  b.node("Cast", {"ids"}, {"c"});
  ProtoBuilder::attr(b.graph().mutable_node(1), "to", int64_t{kF32});
  b.value_info("r", kF32, {"batch", "?", "4"});
  b.output("r", kF32, {"batch", "?", "4"});
  b.output("c", kF32, {"batch"});
  Graph g = load_onnx_from_string(b.bytes());
  const Value* x = g.inputs()[0];
  REQUIRE(x->type().ranked());
  CHECK((*x->type().dims)[0] == Dim::sym("batch"));
  CHECK((*x->type().dims)[1] == Dim::unknown());
  CHECK((*x->type().dims)[2] == Dim::known(4));
  CHECK(dims_of(g.inputs()[1]) == "i64[batch]");
  CHECK(dims_of(g.find_value("r")) == "f32[batch,?,4]");
  CHECK(dims_of(g.find_value("c")) == "f32[batch]");
}

TEST_CASE("node names are made unique and deterministic", "[io][onnx][import]") {
  ProtoBuilder b(13);
  b.input("x", kF32, {"3"});
  b.node("Relu", {"x"}, {"a"}, "n");
  b.node("Relu", {"a"}, {"b"}, "n");
  b.node("Relu", {"b"}, {"c"});
  b.node("Relu", {"c"}, {"d"});
  b.node("Neg", {"d"}, {"e"}, "relu_0"); // a later node already owns this name
  b.output("e", kF32, {"3"});
  Graph g = load_onnx_from_string(b.bytes());
  std::vector<std::string> names;
  for (const Node* n : g.nodes())
    names.push_back(n->name());
  CHECK(names == std::vector<std::string>{"n", "n_0", "relu_1", "relu_2", "relu_0"});
  // Values keep their ONNX names.
  CHECK(g.find_node("relu_1")->output(0)->name() == "c");
  Graph again = load_onnx_from_string(b.bytes());
  CHECK(again.find_node("relu_2")->output(0)->name() == "d");
}

TEST_CASE("every unsupported op is listed in one error", "[io][onnx][import]") {
  ProtoBuilder b(13);
  auto* os = b.model().add_opset_import();
  os->set_domain("com.microsoft");
  os->set_version(1);
  b.input("boxes", kF32, {"1", "4", "4"});
  b.input("scores", kF32, {"1", "1", "4"});
  b.input("x", kF32, {"1", "2", "4", "4"});
  b.input("d", onnx::TensorProto::DOUBLE, {"2"});
  b.node("NonMaxSuppression", {"boxes", "scores"}, {"sel1"}, "nms1");
  b.node("NonMaxSuppression", {"boxes", "scores"}, {"sel2"}, "nms2");
  b.node("TopK", {"x", "k"}, {"v", "i"});
  auto* fc = b.node("FusedConv", {"x", "x"}, {"fc"}, "fc");
  fc->set_domain("com.microsoft");
  auto* cond = b.node("If", {"c"}, {"branch"}, "if1");
  auto* then_branch = cond->add_attribute();
  then_branch->set_name("then_branch");
  then_branch->set_type(onnx::AttributeProto::GRAPH);
  then_branch->mutable_g()->set_name("then");
  auto* relu = b.node("Relu", {"x"}, {"r"}, "relu");
  ProtoBuilder::attr(relu, "alpha", 0.5f); // not an attribute of Relu
  b.init_f32("k", {1}, {2});
  b.output("sel1", kI64, {"?", "3"});
  bool threw = false;
  try {
    load_onnx_from_string(b.bytes(), "det.onnx");
  } catch (const UnsupportedError& e) {
    threw = true;
    const auto& items = e.items();
    std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("det.onnx") != std::string::npos);
    CHECK(std::count(items.begin(), items.end(),
                     "op 'NonMaxSuppression' (nodes 'nms1', 'nms2'), opset 13") == 1);
    CHECK(std::count(items.begin(), items.end(), "op 'TopK' (node 'topk_0'), opset 13") == 1);
    CHECK(std::count(items.begin(), items.end(),
                     "op 'FusedConv' of domain 'com.microsoft' (node 'fc'), opset 1 of that "
                     "domain") == 1);
    CHECK(msg.find("op 'If' (node 'if1'), opset 13 (control flow") != std::string::npos);
    CHECK(msg.find("attribute 'alpha' of node 'relu' (Relu)") != std::string::npos);
    CHECK(msg.find("input 'd' has element type DOUBLE") != std::string::npos);
    CHECK(items.size() == 6);
  }
  CHECK(threw);
}

TEST_CASE("opsets outside 9..21 are reported as unsupported", "[io][onnx][import]") {
  ProtoBuilder b(7, 3);
  b.input("x", kF32, {"2"});
  b.node("Relu", {"x"}, {"y"});
  b.output("y", kF32, {"2"});
  CHECK_THROWS_AS(load_onnx_from_string(b.bytes()), UnsupportedError);
  CHECK_THROWS_WITH(load_onnx_from_string(b.bytes()),
                    Catch::Contains("opset 7 of the default domain") &&
                        Catch::Contains("version_converter"));
  b.model().clear_opset_import();
  CHECK_THROWS_WITH(load_onnx_from_string(b.bytes()), Catch::Contains("declares no opset"));
}

TEST_CASE("missing, empty, truncated and corrupt files are clear errors", "[io][onnx][import]") {
  TempDir dir("onnx_bad");
  CHECK_THROWS_WITH(load_onnx(dir.file("nope.onnx")),
                    Catch::Contains(dir.file("nope.onnx")) && Catch::Contains("No such file"));
  CHECK_THROWS_WITH(load_onnx(dir.path()), Catch::Contains("directory"));
  test::write_bytes(dir.file("empty.onnx"), "");
  CHECK_THROWS_WITH(load_onnx(dir.file("empty.onnx")),
                    Catch::Contains("empty.onnx") && Catch::Contains("empty (0 bytes)"));
  test::write_bytes(dir.file("text.onnx"), "this is not a model, just some text\n");
  CHECK_THROWS_WITH(load_onnx(dir.file("text.onnx")),
                    Catch::Contains("text.onnx") && Catch::Contains("not a valid ONNX model"));

  // Every prefix of a valid model fails cleanly with a shrink::Error naming the source.
  std::string good = opset9_cnn().bytes();
  REQUIRE_NOTHROW(load_onnx_from_string(good));
  int failures = 0;
  for (size_t n = 0; n < good.size(); n += 3) {
    try {
      load_onnx_from_string(good.substr(0, n), "cut.onnx");
    } catch (const Error& e) {
      ++failures;
      if (std::string(e.what()).find("cut.onnx") == std::string::npos)
        FAIL("error without the file name: " << e.what());
    }
  }
  CHECK(failures == static_cast<int>((good.size() + 2) / 3));
  // Flipped bytes in the middle: an error or a model, never a crash.
  for (size_t pos = 10; pos < good.size(); pos += 97) {
    std::string bad = good;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x5a);
    try {
      load_onnx_from_string(bad, "flip.onnx");
    } catch (const Error&) {
    }
  }
}

TEST_CASE("undefined values, duplicate outputs and unsorted nodes", "[io][onnx][import]") {
  {
    ProtoBuilder b(13);
    b.input("x", kF32, {"2"});
    b.node("Neg", {"a"}, {"y"}, "second"); // uses a value defined later
    b.node("Relu", {"x"}, {"a"}, "first");
    b.output("y", kF32, {"2"});
    Graph g = load_onnx_from_string(b.bytes());
    CHECK(ops_of(g) == std::vector<std::string>{"Relu", "Neg"});
  }
  {
    ProtoBuilder b(13);
    b.input("x", kF32, {"2"});
    b.node("Add", {"x", "ghost"}, {"y"}, "add");
    b.output("y", kF32, {"2"});
    CHECK_THROWS_WITH(load_onnx_from_string(b.bytes(), "g.onnx"),
                      Catch::Contains("node 'add' (Add) uses 'ghost'"));
  }
  {
    ProtoBuilder b(13);
    b.input("x", kF32, {"2"});
    b.node("Relu", {"x"}, {"y"}, "a");
    b.node("Neg", {"x"}, {"y"}, "b");
    b.output("y", kF32, {"2"});
    CHECK_THROWS_WITH(load_onnx_from_string(b.bytes()), Catch::Contains("produced by both"));
  }
  {
    ProtoBuilder b(13);
    b.input("x", kF32, {"2"});
    b.node("Add", {"x", "q"}, {"p"}, "a");
    b.node("Add", {"x", "p"}, {"q"}, "b");
    b.output("q", kF32, {"2"});
    CHECK_THROWS_WITH(load_onnx_from_string(b.bytes()), Catch::Contains("cycle"));
  }
  {
    ProtoBuilder b(13);
    b.input("x", kF32, {"2"});
    b.node("Relu", {"x"}, {"y"});
    b.output("z", kF32, {"2"});
    CHECK_THROWS_WITH(load_onnx_from_string(b.bytes()), Catch::Contains("graph output 'z'"));
  }
}

TEST_CASE("opset 10 Resize and opset 9 Upsample become the canonical Resize",
          "[io][onnx][import]") {
  for (const char* op : {"Upsample", "Resize"}) {
    ProtoBuilder b(std::string(op) == "Upsample" ? 9 : 10);
    b.input("x", kF32, {"1", "1", "2", "2"});
    b.init_f32("scales", {4}, {1, 1, 2, 2});
    auto* n = b.node(op, {"x", "scales"}, {"y"}, "up");
    ProtoBuilder::attr(n, "mode", std::string("nearest"));
    b.output("y", kF32, {"1", "1", "4", "4"});
    Graph g = load_onnx_from_string(b.bytes());
    const Node* r = g.find_node("up");
    REQUIRE(r->op() == "Resize");
    CHECK(r->num_inputs() == 3);
    CHECK(r->input(1) == nullptr);
    CHECK(r->attr_string("coordinate_transformation_mode", "") == "asymmetric");
    CHECK(r->attr_string("nearest_mode", "") == "floor");
    CHECK(dims_of(g.outputs()[0]) == "f32[1,1,4,4]");
    Tensor y = test::run_reference(g, {Tensor::from_vector<float>({1, 1, 2, 2}, {1, 2, 3, 4})})[0];
    CHECK(y.to_doubles() == std::vector<double>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  }
}

TEST_CASE("opset 18 operators with axes inputs import as they are", "[io][onnx][import]") {
  ProtoBuilder b(18);
  b.input("x", kF32, {"N", "3", "4"});
  b.init_i64("axes", {1}, {2});
  auto* rm = b.node("ReduceMean", {"x", "axes"}, {"m"}, "mean");
  ProtoBuilder::attr(rm, "keepdims", int64_t{0});
  auto* split = b.node("Split", {"x"}, {"s0", "s1"}, "split");
  ProtoBuilder::attr(split, "axis", int64_t{1});
  ProtoBuilder::attr(split, "num_outputs", int64_t{2});
  b.output("m", kF32, {"N", "3"});
  b.output("s0", kF32, {"N", "2", "4"});
  b.output("s1", kF32, {"N", "1", "4"});
  Graph g = load_onnx_from_string(b.bytes());
  CHECK(g.find_node("mean")->num_inputs() == 2);
  CHECK(dims_of(g.find_value("m")) == "f32[N,3]");
  CHECK(dims_of(g.find_value("s0")) == "f32[N,2,4]");
  CHECK(dims_of(g.find_value("s1")) == "f32[N,1,4]");
}
