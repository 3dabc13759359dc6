// Tests for shape inference: lib/ir/shape_inference*.cpp and lib/ir/infer_shapes.cpp.
#include "shrink/ir/shape_inference.h"

#include "shrink/core/error.h"
#include "shrink/ir/graph.h"
#include "shrink/ir/op_table.h"

#include <catch2/catch.hpp>

#include <cctype>
#include <limits>
#include <string>
#include <vector>

using namespace shrink;
using Catch::Contains;

namespace {

using I = std::vector<int64_t>;

// "f32[N,16,?,8]" -> TensorType; "f32" is unranked, "f32[]" a scalar.
TensorType ty(const std::string& s) {
  size_t lb = s.find('[');
  if (lb == std::string::npos) return TensorType::unranked(parse_dtype(s));
  std::vector<Dim> dims;
  std::string body = s.substr(lb + 1, s.size() - lb - 2);
  size_t pos = 0;
  while (!body.empty() && pos <= body.size()) {
    size_t comma = body.find(',', pos);
    std::string d = body.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (d == "?")
      dims.push_back(Dim::unknown());
    else if (std::isdigit(static_cast<unsigned char>(d[0])))
      dims.push_back(Dim::known(std::stoll(d)));
    else
      dims.push_back(Dim::sym(d));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return TensorType{parse_dtype(s.substr(0, lb)), std::move(dims)};
}

std::string str(const std::vector<TensorType>& types) {
  std::string s;
  for (size_t i = 0; i < types.size(); ++i)
    s += (i ? " " : "") + types[i].str();
  return s;
}

// Builds a graph node by node; every added node's outputs get their inferred types right away,
// so that chains see the types of their producers.
struct Builder {
  Graph g{"test"};
  int inputs = 0;

  Value* in(const std::string& type) {
    return g.add_input("x" + std::to_string(inputs++), ty(type));
  }
  Value* i64(const I& v) {
    return g.add_initializer("", Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v));
  }
  Value* i64_scalar(int64_t v) {
    return g.add_initializer("", Tensor::from_vector<int64_t>({}, {v}));
  }
  Value* f32(const std::vector<float>& v) {
    return g.add_initializer("", Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v));
  }
  Value* weight(const Shape& shape) { return g.add_initializer("", Tensor(DType::f32, shape)); }

  Node* node(const std::string& op, const std::vector<Value*>& ins, Attributes attrs = {},
             int outs = 1, const std::string& name = "") {
    Node* n = g.add_node(op, ins, outs, std::move(attrs), name);
    std::vector<TensorType> types = infer_node_types(*n);
    REQUIRE(static_cast<int>(types.size()) == outs);
    for (int i = 0; i < outs; ++i)
      n->output(i)->set_type(types[i]);
    return n;
  }
  Value* op(const std::string& op, const std::vector<Value*>& ins, Attributes attrs = {}) {
    return node(op, ins, std::move(attrs))->output();
  }
  // The inferred types of a new node's outputs, as text.
  std::string infer(const std::string& op, const std::vector<Value*>& ins, Attributes attrs = {},
                    int outs = 1) {
    return str(infer_node_types(*g.add_node(op, ins, outs, std::move(attrs))));
  }
  // Adds a node without inferring, for error tests.
  Node* raw(const std::string& op, const std::vector<Value*>& ins, Attributes attrs = {},
            const std::string& name = "", int outs = 1) {
    return g.add_node(op, ins, outs, std::move(attrs), name);
  }
};

std::string infer_error(const Node* n) {
  try {
    infer_node_types(*n);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

} // namespace

TEST_CASE("broadcast_dim follows numpy and keeps symbols", "[ir][shapes]") {
  Dim n = Dim::sym("N"), m = Dim::sym("M"), one = Dim::known(1), five = Dim::known(5);
  CHECK(*broadcast_dim(n, n) == n);
  CHECK(*broadcast_dim(n, one) == n);
  CHECK(*broadcast_dim(one, n) == n);
  CHECK(*broadcast_dim(n, five) == five);
  CHECK(*broadcast_dim(five, n) == five);
  CHECK(*broadcast_dim(n, m) == Dim::unknown());
  CHECK(*broadcast_dim(n, Dim::unknown()) == n);
  CHECK(*broadcast_dim(Dim::unknown(), n) == n);
  CHECK(*broadcast_dim(Dim::unknown(), Dim::unknown()) == Dim::unknown());
  CHECK(*broadcast_dim(Dim::unknown(), five) == five);
  CHECK(*broadcast_dim(five, five) == five);
  CHECK_FALSE(broadcast_dim(five, Dim::known(3)));

  auto dims = broadcast_dims(*ty("f32[N,1,4]").dims, *ty("f32[3,1]").dims);
  REQUIRE(dims);
  CHECK(TensorType{DType::f32, *dims}.str() == "f32[N,3,4]");
  CHECK_FALSE(broadcast_dims(*ty("f32[2,3]").dims, *ty("f32[4]").dims));

  CHECK(broadcast_types({ty("f32[N,8]"), ty("f32[8]"), ty("f32[]")}, DType::boolean).str() ==
        "bool[N,8]");
  CHECK(broadcast_types({ty("f32[N,8]"), ty("f32")}, DType::f32).str() == "f32");
  CHECK_THROWS_WITH(broadcast_types({ty("f32[2,3]"), ty("f32[4]")}, DType::f32),
                    Contains("cannot broadcast f32[2,3] with f32[4]"));
}

TEST_CASE("dim_product carries one symbol", "[ir][shapes]") {
  CHECK(dim_product(*ty("f32[16,7,7]").dims) == Dim::known(784));
  CHECK(dim_product(*ty("f32[N]").dims) == Dim::sym("N"));
  CHECK(dim_product(*ty("f32[N,1,1]").dims) == Dim::sym("N"));
  CHECK(dim_product(*ty("f32[N,2]").dims) == Dim::unknown());
  CHECK(dim_product(*ty("f32[N,S]").dims) == Dim::unknown());
  CHECK(dim_product(*ty("f32[N,0]").dims) == Dim::known(0));
  CHECK(dim_product({}) == Dim::known(1));
}

TEST_CASE("unary ops keep the input type", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,3,5]");
  for (const char* op : {"Abs",  "Ceil",        "Cos",        "Erf",      "Exp",       "Floor",
                         "Gelu", "HardSigmoid", "HardSwish",  "Identity", "LeakyRelu", "Log",
                         "Neg",  "Reciprocal",  "Relu",       "Sigmoid",  "Sin",       "Sqrt",
                         "Tanh", "Softmax",     "LogSoftmax", "Trilu"}) {
    INFO(op);
    CHECK(b.infer(op, {x}) == "f32[N,3,5]");
  }
  Value* u = b.in("f32");
  CHECK(b.infer("Relu", {u}) == "f32");
  CHECK(b.infer("Not", {b.in("bool[2,N]")}) == "bool[2,N]");
  CHECK(b.infer("Softmax", {x}, {{"axis", 1L}}) == "f32[N,3,5]");
  CHECK(b.infer("Trilu", {x, b.i64_scalar(1)}, {{"upper", 0L}}) == "f32[N,3,5]");
}

TEST_CASE("Dropout returns a bool mask of the same shape", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,10]");
  CHECK(b.infer("Dropout", {x}) == "f32[N,10]");
  CHECK(b.infer("Dropout", {x}, {{"ratio", 0.3f}}, 2) == "f32[N,10] bool[N,10]");
}

TEST_CASE("Clip takes min/max as attributes (old) or inputs (new)", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,4]");
  CHECK(b.infer("Clip", {x}, {{"min", 0.0f}, {"max", 6.0f}}) == "f32[N,4]");
  Value* lo = b.g.add_initializer("", Tensor::scalar(0.0f));
  Value* hi = b.g.add_initializer("", Tensor::scalar(6.0f));
  CHECK(b.infer("Clip", {x, lo, hi}) == "f32[N,4]");
  CHECK(b.infer("Clip", {x, nullptr, hi}) == "f32[N,4]");
  Node* bad = b.raw("Clip", {x, b.i64_scalar(0)}, {}, "clip_bad");
  CHECK_THAT(infer_error(bad), Contains("node 'clip_bad' (Clip)") && Contains("element type"));
}

TEST_CASE("binary ops broadcast with symbols", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,1,4]");
  Value* y = b.in("f32[3,1]");
  Value* z = b.in("f32[N,3,4]");
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Max", "Min", "Sum"}) {
    INFO(op);
    CHECK(b.infer(op, {x, y}) == "f32[N,3,4]");
    CHECK(b.infer(op, {x, z}) == "f32[N,3,4]");
  }
  CHECK(b.infer("Pow", {x, b.in("i64[]")}) == "f32[N,1,4]");
  CHECK(b.infer("Add", {b.in("f32[N,8]"), b.in("f32[5,1]")}) == "f32[5,8]");
  CHECK(b.infer("Add", {b.in("f32[N,8]"), b.in("f32[M,8]")}) == "f32[?,8]");
  CHECK(b.infer("Max", {x, y, b.in("f32[2,1,1,1]")}) == "f32[2,N,3,4]");
  CHECK(b.infer("Sum", {x}) == "f32[N,1,4]");
  CHECK(b.infer("Min", {x, b.in("f32")}) == "f32");
}

TEST_CASE("comparison and logical ops return bool", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,4]");
  Value* s = b.in("f32[]");
  for (const char* op : {"Equal", "Less", "Greater"}) {
    INFO(op);
    CHECK(b.infer(op, {x, s}) == "bool[N,4]");
  }
  Value* p = b.in("bool[N,1]");
  Value* q = b.in("bool[4]");
  CHECK(b.infer("And", {p, q}) == "bool[N,4]");
  CHECK(b.infer("Or", {p, q}) == "bool[N,4]");
  CHECK(b.infer("Where", {p, x, s}) == "f32[N,4]");
  CHECK(b.infer("Where", {b.in("bool[2,1,1]"), x, b.in("f32[3,1]")}) == "f32[2,3,4]");
  Node* bad = b.raw("And", {x, q}, {}, "and1");
  CHECK_THAT(infer_error(bad), Contains("node 'and1' (And)") && Contains("must be bool"));
  Node* bad_cond = b.raw("Where", {x, x, x}, {}, "where1");
  CHECK_THAT(infer_error(bad_cond), Contains("condition"));
}

TEST_CASE("binary ops reject mismatched shapes and dtypes", "[ir][shapes]") {
  Builder b;
  Node* add = b.raw("Add", {b.in("f32[N,3]"), b.in("f32[4]")}, {}, "add7");
  CHECK_THAT(infer_error(add),
             Contains("node 'add7' (Add): cannot broadcast f32[N,3] with f32[4]"));
  Node* mul = b.raw("Mul", {b.in("f32[3]"), b.in("i64[3]")}, {}, "mul2");
  CHECK_THAT(infer_error(mul), Contains("node 'mul2' (Mul)") && Contains("f32 and i64"));
}

TEST_CASE("ArgMax outputs i64 with or without the reduced axis", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,10,3]");
  CHECK(b.infer("ArgMax", {x}) == "i64[1,10,3]");
  CHECK(b.infer("ArgMax", {x}, {{"axis", 1L}, {"keepdims", 0L}}) == "i64[N,3]");
  CHECK(b.infer("ArgMax", {x}, {{"axis", -1L}}) == "i64[N,10,1]");
  CHECK(b.infer("ArgMax", {b.in("f32")}) == "i64");
  Node* bad = b.raw("ArgMax", {x}, {{"axis", 3L}}, "am");
  CHECK_THAT(infer_error(bad), Contains("node 'am' (ArgMax): axis 3 is out of range"));
}

TEST_CASE("Reduce ops take axes as attribute (old) or input (new)", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,8,4,4]");
  for (const char* op : {"ReduceMax", "ReduceMean", "ReduceMin", "ReduceSum"}) {
    INFO(op);
    CHECK(b.infer(op, {x}, {{"axes", I{2, 3}}}) == "f32[N,8,1,1]");
    CHECK(b.infer(op, {x, b.i64({2, 3})}) == "f32[N,8,1,1]");
    CHECK(b.infer(op, {x, b.i64({-1, 1})}, {{"keepdims", 0L}}) == "f32[N,4]");
    CHECK(b.infer(op, {x}) == "f32[1,1,1,1]");
    CHECK(b.infer(op, {x}, {{"keepdims", 0L}}) == "f32[]");
    CHECK(b.infer(op, {x}, {{"noop_with_empty_axes", 1L}}) == "f32[N,8,4,4]");
    CHECK(b.infer(op, {x, b.in("i64[2]")}, {{"keepdims", 0L}}) == "f32[?,?]");
    CHECK(b.infer(op, {x, b.in("i64[?]")}) == "f32[?,?,?,?]");
    CHECK(b.infer(op, {x, b.in("i64[?]")}, {{"keepdims", 0L}}) == "f32");
  }
  Node* dup = b.raw("ReduceSum", {x, b.i64({1, -3})}, {}, "rs");
  CHECK_THAT(infer_error(dup), Contains("node 'rs' (ReduceSum)") && Contains("repeat axis 1"));
}

TEST_CASE("Cast maps the ONNX type number", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,3]");
  CHECK(b.infer("Cast", {x}, {{"to", 7L}}) == "i64[N,3]");
  CHECK(b.infer("Cast", {x}, {{"to", 9L}}) == "bool[N,3]");
  CHECK(b.infer("Cast", {b.in("u8")}, {{"to", 1L}}) == "f32");
  Node* bad = b.raw("Cast", {x}, {{"to", 8L}}, "cast_str");
  CHECK_THAT(infer_error(bad), Contains("node 'cast_str' (Cast)"));
  Node* missing = b.raw("Cast", {x}, {}, "cast_none");
  CHECK_THAT(infer_error(missing), Contains("'to' is required"));
}

TEST_CASE("QuantizeLinear and DequantizeLinear types", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,8,4,4]");
  Value* scale = b.g.add_initializer("", Tensor::scalar(0.1f));
  Value* zp_i8 = b.g.add_initializer("", Tensor::from_vector<int8_t>({}, {0}));
  CHECK(b.infer("QuantizeLinear", {x, scale}) == "u8[N,8,4,4]");
  CHECK(b.infer("QuantizeLinear", {x, scale, zp_i8}) == "i8[N,8,4,4]");
  Value* q = b.in("i8[N,8,4,4]");
  CHECK(b.infer("DequantizeLinear", {q, scale, zp_i8}) == "f32[N,8,4,4]");
  CHECK(b.infer("DequantizeLinear", {q, scale}) == "f32[N,8,4,4]");
  // Per axis: one scale per channel of axis 1 (the default) or of the given axis.
  Value* scales8 = b.f32(std::vector<float>(8, 0.1f));
  Value* zps8 = b.g.add_initializer("", Tensor(DType::i8, {8}));
  CHECK(b.infer("QuantizeLinear", {x, scales8, zps8}) == "i8[N,8,4,4]");
  CHECK(b.infer("DequantizeLinear", {b.in("i8[16,8]"), scales8, zps8}, {{"axis", 1L}}) ==
        "f32[16,8]");
  Node* bad = b.raw("DequantizeLinear", {b.in("i8[16,8]"), scales8}, {{"axis", 0L}}, "dq");
  CHECK_THAT(infer_error(bad),
             Contains("node 'dq' (DequantizeLinear)") && Contains("per-axis scale has 8 entries"));
  Node* mismatch = b.raw("QuantizeLinear", {x, scales8, zp_i8}, {}, "q2");
  CHECK_THAT(infer_error(mismatch), Contains("same shape"));
}

TEST_CASE("Conv: pads, strides, dilations, groups", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,3,32,32]");
  Value* w = b.weight({16, 3, 3, 3});
  CHECK(b.infer("Conv", {x, w}) == "f32[N,16,30,30]");
  CHECK(b.infer("Conv", {x, w}, {{"pads", I{1, 1, 1, 1}}}) == "f32[N,16,32,32]");
  CHECK(b.infer("Conv", {x, w, b.weight({16})}, {{"pads", I{1, 1, 1, 1}}, {"strides", I{2, 2}}}) ==
        "f32[N,16,16,16]");
  CHECK(b.infer("Conv", {x, w}, {{"dilations", I{2, 2}}}) == "f32[N,16,28,28]");
  CHECK(b.infer("Conv", {x, w}, {{"pads", I{0, 1, 2, 3}}, {"kernel_shape", I{3, 3}}}) ==
        "f32[N,16,32,34]");
  // Depthwise: 16 groups of one channel.
  Value* x16 = b.in("f32[N,16,8,8]");
  CHECK(b.infer("Conv", {x16, b.weight({16, 1, 3, 3})},
                {{"group", 16L}, {"pads", I{1, 1, 1, 1}}}) == "f32[N,16,8,8]");
  CHECK(b.infer("Conv", {x16, b.weight({8, 4, 1, 1})}, {{"group", 4L}}) == "f32[N,8,8,8]");
  // 1-D and 3-D convolutions.
  CHECK(b.infer("Conv", {b.in("f32[N,4,100]"), b.weight({8, 4, 5})}, {{"strides", I{5}}}) ==
        "f32[N,8,20]");
  CHECK(b.infer("Conv", {b.in("f32[1,2,5,6,7]"), b.weight({4, 2, 1, 2, 3})}) == "f32[1,4,5,5,5]");
  // Unknown spatial sizes stay unknown; batch and channels still flow.
  CHECK(b.infer("Conv", {b.in("f32[N,3,H,W]"), w}) == "f32[N,16,?,?]");
  CHECK(b.infer("Conv", {b.in("f32"), w}) == "f32[?,16,?,?]");
  CHECK(b.infer("Conv", {b.in("f32"), b.in("f32")}) == "f32");
}

TEST_CASE("Conv and pools honour auto_pad", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,3,15,15]");
  Value* w = b.weight({8, 3, 4, 4});
  auto pad = [](const char* s) { return Attribute(std::string(s)); };
  CHECK(b.infer("Conv", {x, w}, {{"auto_pad", pad("SAME_UPPER")}, {"strides", I{2, 2}}}) ==
        "f32[N,8,8,8]");
  CHECK(b.infer("Conv", {x, w}, {{"auto_pad", pad("SAME_LOWER")}}) == "f32[N,8,15,15]");
  CHECK(b.infer("Conv", {x, w}, {{"auto_pad", pad("VALID")}, {"strides", I{2, 2}}}) ==
        "f32[N,8,6,6]");
  CHECK(
      b.infer("MaxPool", {x},
              {{"auto_pad", pad("SAME_UPPER")}, {"kernel_shape", I{3, 3}}, {"strides", I{2, 2}}}) ==
      "f32[N,3,8,8]");
  CHECK(b.infer("AveragePool", {x},
                {{"auto_pad", pad("VALID")}, {"kernel_shape", I{3, 3}}, {"strides", I{2, 2}}}) ==
        "f32[N,3,7,7]");
  Node* bad = b.raw("Conv", {x, w}, {{"auto_pad", pad("SAME")}}, "c_pad");
  CHECK_THAT(infer_error(bad), Contains("node 'c_pad' (Conv): auto_pad 'SAME'"));
}

TEST_CASE("Conv errors name the node", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,3,8,8]");
  Node* ch = b.raw("Conv", {x, b.weight({16, 4, 3, 3})}, {}, "conv3");
  CHECK_THAT(infer_error(ch), Contains("node 'conv3' (Conv): input has 3 channels but the weight "
                                       "expects 4"));
  Node* grp =
      b.raw("Conv", {b.in("f32[N,8,8,8]"), b.weight({6, 2, 3, 3})}, {{"group", 4L}}, "conv_g");
  CHECK_THAT(infer_error(grp),
             Contains("node 'conv_g' (Conv)") && Contains("not divisible by group"));
  Node* rank = b.raw("Conv", {x, b.weight({16, 3, 3})}, {}, "conv_r");
  CHECK_THAT(infer_error(rank), Contains("node 'conv_r' (Conv)") && Contains("same rank"));
  Node* low = b.raw("Conv", {b.in("f32[N,3]"), b.weight({16, 3, 3})}, {}, "conv_l");
  CHECK_THAT(infer_error(low), Contains("rank >= 3"));
  Node* big = b.raw("Conv", {b.in("f32[N,3,2,2]"), b.weight({16, 3, 3, 3})}, {}, "conv_k");
  CHECK_THAT(infer_error(big), Contains("node 'conv_k' (Conv)") && Contains("larger than"));
  Node* bias = b.raw("Conv", {x, b.weight({16, 3, 3, 3}), b.weight({8})}, {}, "conv_b");
  CHECK_THAT(infer_error(bias), Contains("bias length"));
  Node* ks = b.raw("Conv", {x, b.weight({16, 3, 3, 3})}, {{"kernel_shape", I{5, 5}}}, "conv_ks");
  CHECK_THAT(infer_error(ks), Contains("kernel_shape [5,5] does not match"));
  Node* pads = b.raw("Conv", {x, b.weight({16, 3, 3, 3})}, {{"pads", I{1, 1}}}, "conv_p");
  CHECK_THAT(infer_error(pads), Contains("pads [1,1] must have 4 entries"));
}

TEST_CASE("ConvTranspose output sizes", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,16,7,7]");
  Value* w = b.weight({16, 8, 3, 3});
  CHECK(b.infer("ConvTranspose", {x, w}) == "f32[N,8,9,9]");
  CHECK(b.infer("ConvTranspose", {x, w},
                {{"strides", I{2, 2}}, {"pads", I{1, 1, 1, 1}}, {"output_padding", I{1, 1}}}) ==
        "f32[N,8,14,14]");
  CHECK(b.infer("ConvTranspose", {x, w, b.weight({16})}, {{"group", 2L}}) == "f32[N,16,9,9]");
  CHECK(b.infer("ConvTranspose", {x, w},
                {{"strides", I{2, 2}}, {"auto_pad", Attribute(std::string("SAME_UPPER"))}}) ==
        "f32[N,8,14,14]");
  CHECK(b.infer("ConvTranspose", {x, w}, {{"output_shape", I{15, 15}}, {"strides", I{2, 2}}}) ==
        "f32[N,8,15,15]");
  Node* bad = b.raw("ConvTranspose", {b.in("f32[N,4,7,7]"), w}, {}, "deconv");
  CHECK_THAT(infer_error(bad), Contains("node 'deconv' (ConvTranspose): input has 4 channels"));
}

TEST_CASE("MaxPool and AveragePool with ceil_mode and indices", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,8,28,28]");
  CHECK(b.infer("MaxPool", {x}, {{"kernel_shape", I{2, 2}}, {"strides", I{2, 2}}}) ==
        "f32[N,8,14,14]");
  CHECK(b.infer("MaxPool", {x}, {{"kernel_shape", I{2, 2}}, {"strides", I{2, 2}}}, 2) ==
        "f32[N,8,14,14] i64[N,8,14,14]");
  Value* x7 = b.in("f32[N,8,7,7]");
  CHECK(b.infer("MaxPool", {x7}, {{"kernel_shape", I{2, 2}}, {"strides", I{2, 2}}}) ==
        "f32[N,8,3,3]");
  CHECK(b.infer("MaxPool", {x7},
                {{"kernel_shape", I{2, 2}}, {"strides", I{2, 2}}, {"ceil_mode", 1L}}) ==
        "f32[N,8,4,4]");
  // The last window of ceil_mode must start inside the input or its left padding: 5 -> 3.
  CHECK(b.infer("MaxPool", {b.in("f32[1,1,6,6]")},
                {{"kernel_shape", I{2, 2}},
                 {"strides", I{2, 2}},
                 {"pads", I{1, 1, 1, 1}},
                 {"ceil_mode", 1L}}) == "f32[1,1,4,4]");
  CHECK(b.infer("MaxPool", {b.in("f32[1,1,5,5]")},
                {{"kernel_shape", I{2, 2}},
                 {"strides", I{2, 2}},
                 {"pads", I{1, 1, 1, 1}},
                 {"ceil_mode", 1L}}) == "f32[1,1,3,3]");
  CHECK(b.infer("MaxPool", {x}, {{"kernel_shape", I{3, 3}}, {"dilations", I{2, 2}}}) ==
        "f32[N,8,24,24]");
  CHECK(b.infer("AveragePool", {x},
                {{"kernel_shape", I{3, 3}}, {"pads", I{1, 1, 1, 1}}, {"count_include_pad", 1L}}) ==
        "f32[N,8,28,28]");
  CHECK(b.infer("GlobalAveragePool", {x}) == "f32[N,8,1,1]");
  CHECK(b.infer("GlobalAveragePool", {b.in("f32[N,8,3,4,5]")}) == "f32[N,8,1,1,1]");
  Node* bad = b.raw("MaxPool", {x}, {}, "pool1");
  CHECK_THAT(infer_error(bad), Contains("node 'pool1' (MaxPool): attribute 'kernel_shape'"));
}

TEST_CASE("BatchNormalization and LayerNormalization outputs", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,8,4,4]");
  std::vector<Value*> params{x, b.weight({8}), b.weight({8}), b.weight({8}), b.weight({8})};
  CHECK(b.infer("BatchNormalization", params) == "f32[N,8,4,4]");
  CHECK(b.infer("BatchNormalization", params, {{"training_mode", 1L}}, 3) ==
        "f32[N,8,4,4] f32[8] f32[8]");
  Node* bad = b.raw("BatchNormalization",
                    {x, b.weight({4}), b.weight({8}), b.weight({8}), b.weight({8})}, {}, "bn1");
  CHECK_THAT(infer_error(bad), Contains("node 'bn1' (BatchNormalization): scale length"));

  Value* t = b.in("f32[N,S,32]");
  CHECK(b.infer("LayerNormalization", {t, b.weight({32}), b.weight({32})}) == "f32[N,S,32]");
  CHECK(b.infer("LayerNormalization", {t, b.weight({32})}, {}, 3) ==
        "f32[N,S,32] f32[N,S,1] f32[N,S,1]");
  CHECK(b.infer("LayerNormalization", {t, b.weight({32})}, {{"axis", 1L}}, 2) ==
        "f32[N,S,32] f32[N,1,1]");
  Node* ln = b.raw("LayerNormalization", {t, b.weight({16})}, {}, "ln1");
  CHECK_THAT(infer_error(ln), Contains("node 'ln1' (LayerNormalization): scale f32[16]"));
}

TEST_CASE("Gemm with transA, transB and bias", "[ir][shapes]") {
  Builder b;
  Value* a = b.in("f32[N,784]");
  CHECK(b.infer("Gemm", {a, b.weight({784, 10})}) == "f32[N,10]");
  CHECK(b.infer("Gemm", {a, b.weight({10, 784}), b.weight({10})}, {{"transB", 1L}}) == "f32[N,10]");
  CHECK(b.infer("Gemm", {b.in("f32[784,N]"), b.weight({10, 784}), b.weight({1, 10})},
                {{"transA", 1L}, {"transB", 1L}}) == "f32[N,10]");
  CHECK(b.infer("Gemm", {b.in("f32[4,5]"), b.weight({5, 6}), b.weight({4, 1})}) == "f32[4,6]");
  Node* bad = b.raw("Gemm", {a, b.weight({10, 784})}, {}, "fc1");
  CHECK_THAT(infer_error(bad), Contains("node 'fc1' (Gemm): inner dimensions differ"));
  Node* c = b.raw("Gemm", {b.in("f32[4,5]"), b.weight({5, 6}), b.weight({3, 6})}, {}, "fc2");
  CHECK_THAT(infer_error(c), Contains("node 'fc2' (Gemm): C f32[3,6] does not broadcast"));
  Node* r = b.raw("Gemm", {b.in("f32[2,4,5]"), b.weight({5, 6})}, {}, "fc3");
  CHECK_THAT(infer_error(r), Contains("A must be 2-D"));
}

TEST_CASE("MatMul with vectors and batches", "[ir][shapes]") {
  Builder b;
  CHECK(b.infer("MatMul", {b.in("f32[N,4,5]"), b.weight({5, 6})}) == "f32[N,4,6]");
  CHECK(b.infer("MatMul", {b.in("f32[5]"), b.weight({5, 6})}) == "f32[6]");
  CHECK(b.infer("MatMul", {b.in("f32[N,4,5]"), b.weight({5})}) == "f32[N,4]");
  CHECK(b.infer("MatMul", {b.in("f32[5]"), b.weight({5})}) == "f32[]");
  CHECK(b.infer("MatMul", {b.in("f32[N,1,4,5]"), b.in("f32[3,5,6]")}) == "f32[N,3,4,6]");
  CHECK(b.infer("MatMul", {b.in("f32[N,H,S,D]"), b.in("f32[N,H,D,S]")}) == "f32[N,H,S,S]");
  CHECK(b.infer("MatMul", {b.in("f32"), b.weight({5, 6})}) == "f32");
  Node* bad = b.raw("MatMul", {b.in("f32[N,4,5]"), b.weight({4, 6})}, {}, "mm1");
  CHECK_THAT(infer_error(bad), Contains("node 'mm1' (MatMul): inner dimensions differ"));
  Node* batch = b.raw("MatMul", {b.in("f32[2,4,5]"), b.in("f32[3,5,6]")}, {}, "mm2");
  CHECK_THAT(infer_error(batch), Contains("node 'mm2' (MatMul): batch dimensions"));
}

TEST_CASE("Flatten carries N", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,16,7,7]");
  CHECK(b.infer("Flatten", {x}) == "f32[N,784]");
  CHECK(b.infer("Flatten", {x}, {{"axis", 0L}}) == "f32[1,?]");
  CHECK(b.infer("Flatten", {x}, {{"axis", 2L}}) == "f32[?,49]");
  CHECK(b.infer("Flatten", {x}, {{"axis", -3L}}) == "f32[N,784]");
  CHECK(b.infer("Flatten", {x}, {{"axis", 4L}}) == "f32[?,1]");
  CHECK(b.infer("Flatten", {b.in("f32[2,3,4]")}, {{"axis", 0L}}) == "f32[1,24]");
  CHECK(b.infer("Flatten", {b.in("f32")}) == "f32[?,?]");
  Node* bad = b.raw("Flatten", {x}, {{"axis", 5L}}, "flat");
  CHECK_THAT(infer_error(bad), Contains("node 'flat' (Flatten): axis 5 is out of range"));
}

TEST_CASE("Reshape with 0, -1 and symbols", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,16,7,7]");
  CHECK(b.infer("Reshape", {x, b.i64({0, -1})}) == "f32[N,784]");
  CHECK(b.infer("Reshape", {b.in("f32[N,784]"), b.i64({-1, 16, 7, 7})}) == "f32[N,16,7,7]");
  CHECK(b.infer("Reshape", {x, b.i64({-1, 49})}) == "f32[?,49]");
  CHECK(b.infer("Reshape", {x, b.i64({0, 4, 4, -1})}) == "f32[N,4,4,49]");
  CHECK(b.infer("Reshape", {b.in("f32[N,S,32]"), b.i64({0, 0, 4, 8})}) == "f32[N,S,4,8]");
  CHECK(b.infer("Reshape", {b.in("f32[N,S,4,8]"), b.i64({0, 0, -1})}) == "f32[N,S,32]");
  CHECK(b.infer("Reshape", {b.in("f32[N,S,32]"), b.i64({-1, 32})}) == "f32[?,32]");
  CHECK(b.infer("Reshape", {b.in("f32[2,3,4]"), b.i64({4, -1})}) == "f32[4,6]");
  CHECK(b.infer("Reshape", {b.in("f32[2,3,4]"), b.i64({-1})}) == "f32[24]");
  CHECK(b.infer("Reshape", {b.in("f32[0,3]"), b.i64({0, 3})}, {{"allowzero", 1L}}) == "f32[0,3]");
  CHECK(b.infer("Reshape", {b.in("f32[2,3]"), b.i64({0, 3})}) == "f32[2,3]");
  CHECK(b.infer("Reshape", {b.in("f32"), b.i64({0, -1, 4})}) == "f32[?,?,4]");
  // A shape that is not a constant: the rank is known from the shape input's type.
  CHECK(b.infer("Reshape", {x, b.in("i64[3]")}) == "f32[?,?,?]");
  CHECK(b.infer("Reshape", {x, b.in("i64[?]")}) == "f32");

  Node* count = b.raw("Reshape", {b.in("f32[2,3]"), b.i64({4, 2})}, {}, "rs1");
  CHECK_THAT(infer_error(count), Contains("node 'rs1' (Reshape): cannot reshape f32[2,3]"));
  Node* div = b.raw("Reshape", {b.in("f32[2,3]"), b.i64({4, -1})}, {}, "rs2");
  CHECK_THAT(infer_error(div), Contains("node 'rs2' (Reshape): cannot reshape f32[2,3]"));
  Node* two = b.raw("Reshape", {x, b.i64({-1, -1})}, {}, "rs3");
  CHECK_THAT(infer_error(two), Contains("more than one -1"));
  Node* zero = b.raw("Reshape", {b.in("f32[6]"), b.i64({2, 0})}, {}, "rs4");
  CHECK_THAT(infer_error(zero), Contains("no dimension 1"));
}

TEST_CASE("Reshape follows shapes computed with Shape/Gather/Concat (PyTorch view)",
          "[ir][shapes]") {
  // x.view(x.size(0), -1) and x.view(B, S, heads, -1) as PyTorch exports them.
  Builder b;
  Value* x = b.in("f32[N,16,7,7]");
  Value* shape = b.op("Shape", {x});
  Value* n = b.op("Gather", {shape, b.i64_scalar(0)});
  Value* n1 = b.op("Unsqueeze", {n, b.i64({0})});
  Value* target = b.op("Concat", {n1, b.i64({-1})}, {{"axis", 0L}});
  CHECK(target->type().str() == "i64[2]");
  CHECK(b.infer("Reshape", {x, target}) == "f32[N,784]");

  Value* t = b.in("f32[N,S,32]");
  Value* ts = b.op("Shape", {t}, {{"end", 2L}});
  CHECK(ts->type().str() == "i64[2]");
  Value* heads = b.op("Concat", {ts, b.i64({4, -1})}, {{"axis", 0L}});
  CHECK(b.infer("Reshape", {t, heads}) == "f32[N,S,4,8]");
  // Slice and Mul of shape values, and Constant nodes with value_ints.
  Value* s2 = b.op("Slice", {b.op("Shape", {t}), b.i64({1}), b.i64({2})});
  Value* k = b.op("Constant", {}, {{"value_ints", I{2}}});
  Value* s_times_2 = b.op("Mul", {s2, k});
  Value* t2 = b.op("Concat", {b.i64({-1}), s_times_2, b.i64({16})}, {{"axis", 0L}});
  CHECK(b.infer("Reshape", {t, t2}) == "f32[?,?,16]");
  Value* t3 = b.op("Concat", {b.i64({-1}), s2, b.i64({32})}, {{"axis", 0L}});
  CHECK(b.infer("Reshape", {t, t3}) == "f32[N,S,32]");
}

TEST_CASE("Transpose default reverses, perm permutes", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,S,4,8]");
  CHECK(b.infer("Transpose", {x}) == "f32[8,4,S,N]");
  CHECK(b.infer("Transpose", {x}, {{"perm", I{0, 2, 1, 3}}}) == "f32[N,4,S,8]");
  CHECK(b.infer("Transpose", {b.in("f32")}, {{"perm", I{1, 0}}}) == "f32[?,?]");
  Node* len = b.raw("Transpose", {x}, {{"perm", I{0, 2, 1}}}, "tr1");
  CHECK_THAT(infer_error(len), Contains("node 'tr1' (Transpose): perm [0,2,1] has 3 entries"));
  Node* dup = b.raw("Transpose", {x}, {{"perm", I{0, 1, 1, 3}}}, "tr2");
  CHECK_THAT(infer_error(dup), Contains("node 'tr2' (Transpose)") && Contains("repeat axis 1"));
  Node* range = b.raw("Transpose", {x}, {{"perm", I{0, 1, 2, 4}}}, "tr3");
  CHECK_THAT(infer_error(range), Contains("out of range"));
}

TEST_CASE("Concat sums the axis and merges the rest", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,8,4,4]");
  Value* y = b.in("f32[N,16,4,4]");
  CHECK(b.infer("Concat", {x, y}, {{"axis", 1L}}) == "f32[N,24,4,4]");
  CHECK(b.infer("Concat", {x, x}, {{"axis", 0L}}) == "f32[?,8,4,4]");
  CHECK(b.infer("Concat", {x, b.in("f32[3,8,4,4]")}, {{"axis", -3L}}) == "f32[3,16,4,4]");
  CHECK(b.infer("Concat", {x, b.in("f32[N,0,4,4]")}, {{"axis", 1L}}) == "f32[N,8,4,4]");
  CHECK(b.infer("Concat", {x, b.in("f32")}, {{"axis", 1L}}) == "f32[N,?,4,4]");
  CHECK(b.infer("Concat", {b.in("f32"), b.in("f32")}, {{"axis", 1L}}) == "f32");
  Node* bad = b.raw("Concat", {x, b.in("f32[N,8,5,4]")}, {{"axis", 1L}}, "cat1");
  CHECK_THAT(infer_error(bad), Contains("node 'cat1' (Concat): inputs differ in dimension 2"));
  Node* rank = b.raw("Concat", {x, b.in("f32[N,8,4]")}, {{"axis", 1L}}, "cat2");
  CHECK_THAT(infer_error(rank), Contains("same rank"));
  Node* axis = b.raw("Concat", {x, y}, {{"axis", 4L}}, "cat3");
  CHECK_THAT(infer_error(axis), Contains("node 'cat3' (Concat): axis 4 is out of range"));
}

TEST_CASE("Split: split attribute (old), input (new), num_outputs, equal", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,12,5]");
  CHECK(b.infer("Split", {x}, {{"axis", 1L}, {"split", I{4, 8}}}, 2) == "f32[N,4,5] f32[N,8,5]");
  CHECK(b.infer("Split", {x, b.i64({2, 2, 8})}, {{"axis", 1L}}, 3) ==
        "f32[N,2,5] f32[N,2,5] f32[N,8,5]");
  CHECK(b.infer("Split", {x}, {{"axis", -2L}}, 3) == "f32[N,4,5] f32[N,4,5] f32[N,4,5]");
  CHECK(b.infer("Split", {x}, {{"axis", 2L}, {"num_outputs", 2L}}, 2) == "f32[N,12,3] f32[N,12,2]");
  CHECK(b.infer("Split", {x}, {}, 2) == "f32[?,12,5] f32[?,12,5]");
  CHECK(b.infer("Split", {x, b.in("i64[2]")}, {{"axis", 1L}}, 2) == "f32[N,?,5] f32[N,?,5]");
  Node* uneven = b.raw("Split", {x}, {{"axis", 2L}}, "sp1", 2);
  CHECK_THAT(infer_error(uneven), Contains("node 'sp1' (Split)") && Contains("evenly"));
  Node* sum = b.raw("Split", {x, b.i64({3, 3})}, {{"axis", 1L}}, "sp2", 2);
  CHECK_THAT(infer_error(sum), Contains("sums to 6"));
  Node* count = b.raw("Split", {x, b.i64({3, 9})}, {{"axis", 1L}}, "sp3", 3);
  CHECK_THAT(infer_error(count), Contains("3 outputs"));
}

TEST_CASE("Slice: attributes (old), inputs with steps (new)", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,20,10]");
  CHECK(b.infer("Slice", {x}, {{"starts", I{2}}, {"ends", I{12}}, {"axes", I{1}}}) ==
        "f32[N,10,10]");
  CHECK(b.infer("Slice", {x, b.i64({2, 0}), b.i64({12, -1}), b.i64({1, 2})}) == "f32[N,10,9]");
  CHECK(b.infer("Slice", {x, b.i64({0}), b.i64({20}), b.i64({1}), b.i64({3})}) == "f32[N,7,10]");
  CHECK(b.infer("Slice", {x, b.i64({-1}), b.i64({std::numeric_limits<int64_t>::min()}), b.i64({-1}),
                          b.i64({-1})}) == "f32[N,20,10]");
  CHECK(b.infer("Slice", {x, b.i64({8}), b.i64({2}), b.i64({2}), b.i64({-2})}) == "f32[N,20,3]");
  CHECK(b.infer("Slice", {x, b.i64({100}), b.i64({200}), b.i64({1})}) == "f32[N,0,10]");
  // The whole of a symbolic axis keeps the symbol; a part of it does not.
  CHECK(b.infer("Slice", {x, b.i64({0, 1}), b.i64({std::numeric_limits<int64_t>::max(), 3}),
                          b.i64({0, 1})}) == "f32[N,2,10]");
  CHECK(b.infer("Slice", {x, b.i64({1}), b.i64({3}), b.i64({0})}) == "f32[?,20,10]");
  CHECK(b.infer("Slice", {x, b.in("i64[1]"), b.i64({3}), b.i64({1})}) == "f32[N,?,10]");
  CHECK(b.infer("Slice", {x, b.i64({0}), b.i64({3}), b.in("i64[1]")}) == "f32[?,?,?]");
  Node* bad = b.raw("Slice", {x, b.i64({0}), b.i64({3}), b.i64({3})}, {}, "sl1");
  CHECK_THAT(infer_error(bad), Contains("node 'sl1' (Slice): axes 3 is out of range"));
  Node* zero = b.raw("Slice", {x, b.i64({0}), b.i64({3}), b.i64({1}), b.i64({0})}, {}, "sl2");
  CHECK_THAT(infer_error(zero), Contains("steps must not be 0"));
}

TEST_CASE("Gather with any-rank indices", "[ir][shapes]") {
  Builder b;
  Value* emb = b.weight({1000, 64});
  CHECK(b.infer("Gather", {emb, b.in("i64[N,S]")}) == "f32[N,S,64]");
  CHECK(b.infer("Gather", {b.in("f32[N,5,6]"), b.i64_scalar(2)}, {{"axis", 1L}}) == "f32[N,6]");
  CHECK(b.infer("Gather", {b.in("f32[N,5,6]"), b.i64({0, 1, 1})}, {{"axis", -1L}}) == "f32[N,5,3]");
  CHECK(b.infer("Gather", {b.in("f32[N,5,6]"), b.in("i32[2,2]")}, {{"axis", 1L}}) ==
        "f32[N,2,2,6]");
  CHECK(b.infer("Gather", {emb, b.in("i64")}) == "f32");
  Node* bad = b.raw("Gather", {b.in("f32[N,5,6]"), b.i64({7})}, {{"axis", 1L}}, "g1");
  CHECK_THAT(infer_error(bad), Contains("node 'g1' (Gather): index 7 is out of range"));
  Node* f = b.raw("Gather", {emb, b.in("f32[3]")}, {}, "g2");
  CHECK_THAT(infer_error(f), Contains("indices (input 1) must be i64 or i32"));
}

TEST_CASE("Squeeze and Unsqueeze: axes attribute (old) or input (new)", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,1,8,1]");
  CHECK(b.infer("Squeeze", {x}, {{"axes", I{1}}}) == "f32[N,8,1]");
  CHECK(b.infer("Squeeze", {x, b.i64({1, -1})}) == "f32[N,8]");
  CHECK(b.infer("Squeeze", {b.in("f32[1,8,1]")}) == "f32[8]");
  CHECK(b.infer("Squeeze", {x}) == "f32");
  CHECK(b.infer("Squeeze", {x, b.in("i64[2]")}) == "f32[?,?]");
  Node* bad = b.raw("Squeeze", {x, b.i64({2})}, {}, "sq1");
  CHECK_THAT(infer_error(bad), Contains("node 'sq1' (Squeeze): cannot squeeze axis 2"));

  Value* y = b.in("f32[N,8]");
  CHECK(b.infer("Unsqueeze", {y}, {{"axes", I{0}}}) == "f32[1,N,8]");
  CHECK(b.infer("Unsqueeze", {y, b.i64({1, -1})}) == "f32[N,1,8,1]");
  CHECK(b.infer("Unsqueeze", {b.in("i64[]"), b.i64({0})}) == "i64[1]");
  CHECK(b.infer("Unsqueeze", {y, b.in("i64[1]")}) == "f32[?,?,?]");
  Node* miss = b.raw("Unsqueeze", {y}, {}, "us1");
  CHECK_THAT(infer_error(miss), Contains("node 'us1' (Unsqueeze): axes are required"));
  Node* dup = b.raw("Unsqueeze", {y, b.i64({0, 0})}, {}, "us2");
  CHECK_THAT(infer_error(dup), Contains("repeat axis 0"));
}

TEST_CASE("shape inference: Shape with start and end", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,3,8,8]");
  CHECK(b.infer("Shape", {x}) == "i64[4]");
  CHECK(b.infer("Shape", {x}, {{"start", 1L}}) == "i64[3]");
  CHECK(b.infer("Shape", {x}, {{"start", -2L}, {"end", -1L}}) == "i64[1]");
  CHECK(b.infer("Shape", {x}, {{"start", 3L}, {"end", 1L}}) == "i64[0]");
  CHECK(b.infer("Shape", {b.in("f32")}) == "i64[?]");
}

TEST_CASE("shape inference: Constant and ConstantOfShape", "[ir][shapes]") {
  Builder b;
  CHECK(b.infer("Constant", {}, {{"value", Tensor(DType::i8, {2, 3})}}) == "i8[2,3]");
  CHECK(b.infer("Constant", {}, {{"value_float", 1.5f}}) == "f32[]");
  CHECK(b.infer("Constant", {}, {{"value_ints", I{1, 2, 3}}}) == "i64[3]");
  CHECK(b.infer("Constant", {}, {{"value_int", 4L}}) == "i64[]");
  CHECK(b.infer("Constant", {}, {{"value_floats", std::vector<float>{1, 2}}}) == "f32[2]");
  Node* bad = b.raw("Constant", {}, {}, "k1");
  CHECK_THAT(infer_error(bad), Contains("node 'k1' (Constant): needs one of"));

  CHECK(b.infer("ConstantOfShape", {b.i64({2, 3})}) == "f32[2,3]");
  CHECK(b.infer("ConstantOfShape", {b.i64({4})},
                {{"value", Tensor::from_vector<int64_t>({1}, {7})}}) == "i64[4]");
  CHECK(b.infer("ConstantOfShape", {b.in("i64[3]")}) == "f32[?,?,?]");
  CHECK(b.infer("ConstantOfShape", {b.op("Shape", {b.in("f32[N,4]")})}) == "f32[N,4]");
  CHECK(b.infer("ConstantOfShape", {b.in("i64[?]")}) == "f32");
  Node* neg = b.raw("ConstantOfShape", {b.i64({2, -3})}, {}, "cos1");
  CHECK_THAT(infer_error(neg),
             Contains("node 'cos1' (ConstantOfShape): shape entries must be >= 0"));
}

TEST_CASE("Range with constant and non-constant bounds", "[ir][shapes]") {
  Builder b;
  CHECK(b.infer("Range", {b.i64_scalar(0), b.i64_scalar(10), b.i64_scalar(3)}) == "i64[4]");
  CHECK(b.infer("Range", {b.i64_scalar(10), b.i64_scalar(0), b.i64_scalar(-2)}) == "i64[5]");
  CHECK(b.infer("Range", {b.i64_scalar(5), b.i64_scalar(0), b.i64_scalar(1)}) == "i64[0]");
  Value* f0 = b.g.add_initializer("", Tensor::scalar(0.0f));
  Value* f1 = b.g.add_initializer("", Tensor::scalar(1.0f));
  Value* fd = b.g.add_initializer("", Tensor::scalar(0.25f));
  CHECK(b.infer("Range", {f0, f1, fd}) == "f32[4]");
  CHECK(b.infer("Range", {b.i64_scalar(0), b.in("i64[]"), b.i64_scalar(1)}) == "i64[?]");
  Node* zero = b.raw("Range", {b.i64_scalar(0), b.i64_scalar(4), b.i64_scalar(0)}, {}, "rg");
  CHECK_THAT(infer_error(zero), Contains("node 'rg' (Range): delta must not be 0"));
}

TEST_CASE("Tile and Expand", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,3,1]");
  CHECK(b.infer("Tile", {x, b.i64({1, 2, 4})}) == "f32[N,6,4]");
  CHECK(b.infer("Tile", {x, b.i64({2, 1, 1})}) == "f32[?,3,1]");
  CHECK(b.infer("Tile", {x, b.in("i64[3]")}) == "f32[?,?,?]");
  Node* tile = b.raw("Tile", {x, b.i64({2, 2})}, {}, "tile1");
  CHECK_THAT(infer_error(tile), Contains("node 'tile1' (Tile): repeats [2,2]"));

  CHECK(b.infer("Expand", {x, b.i64({3, 5})}) == "f32[N,3,5]");
  CHECK(b.infer("Expand", {x, b.i64({2, 1, 1, 6})}) == "f32[2,N,3,6]");
  CHECK(b.infer("Expand", {b.in("f32[1,4]"), b.op("Shape", {b.in("f32[N,4]")})}) == "f32[N,4]");
  CHECK(b.infer("Expand", {x, b.in("i64[4]")}) == "f32[?,?,?,?]");
  Node* bad = b.raw("Expand", {x, b.i64({4, 5})}, {}, "ex1");
  CHECK_THAT(infer_error(bad), Contains("node 'ex1' (Expand): cannot expand f32[N,3,1]"));
}

TEST_CASE("Pad: pads attribute (old), input with axes (new)", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,3,8,8]");
  CHECK(b.infer("Pad", {x}, {{"pads", I{0, 0, 1, 2, 0, 0, 3, 4}}}) == "f32[N,3,12,14]");
  CHECK(b.infer("Pad", {x, b.i64({0, 0, 1, 1, 0, 0, 1, 1})}) == "f32[N,3,10,10]");
  CHECK(b.infer("Pad", {x, b.i64({1, 1, 1, 1}), nullptr, b.i64({-2, -1})}) == "f32[N,3,10,10]");
  CHECK(b.infer("Pad", {x, b.i64({0, 0, -1, -1, 0, 0, -1, -1})}) == "f32[N,3,6,6]");
  CHECK(b.infer("Pad", {x, b.i64({1, 0, 0, 0, 0, 0, 0, 0})}) == "f32[?,3,8,8]");
  CHECK(b.infer("Pad", {x, b.in("i64[8]")}) == "f32[?,?,?,?]");
  Node* bad = b.raw("Pad", {x, b.i64({1, 1})}, {}, "pad1");
  CHECK_THAT(infer_error(bad), Contains("node 'pad1' (Pad): pads [1,1] must have 8 entries"));
}

TEST_CASE("Resize: scales (opset 10 and 11+) and sizes", "[ir][shapes]") {
  Builder b;
  Value* x = b.in("f32[N,3,8,8]");
  CHECK(b.infer("Resize", {x, b.f32({1, 1, 2, 2})}) == "f32[N,3,16,16]");
  CHECK(b.infer("Resize", {x, nullptr, b.f32({1, 1, 0.5f, 1.5f})}) == "f32[N,3,4,12]");
  Value* empty = b.g.add_initializer("", Tensor(DType::f32, {0}));
  CHECK(b.infer("Resize", {x, empty, empty, b.i64({2, 3, 5, 7})}) == "f32[2,3,5,7]");
  CHECK(b.infer("Resize", {x, nullptr, nullptr, b.i64({4, 6})}, {{"axes", I{2, 3}}}) ==
        "f32[N,3,4,6]");
  CHECK(b.infer("Resize", {x, nullptr, nullptr, b.i64({4, 6})},
                {{"axes", I{2, 3}},
                 {"keep_aspect_ratio_policy", Attribute(std::string("not_larger"))}}) ==
        "f32[N,3,4,4]");
  CHECK(b.infer("Resize", {x, nullptr, b.in("f32[4]")}) == "f32[?,?,?,?]");
  // tf_crop_and_resize scales the cropped part: roi [starts..., ends...].
  Value* roi = b.f32({0, 0, 0.25f, 0, 1, 1, 0.75f, 1});
  CHECK(b.infer("Resize", {x, roi, b.f32({1, 1, 2, 2})},
                {{"coordinate_transformation_mode",
                  Attribute(std::string("tf_crop_and_resize"))}}) == "f32[N,3,8,16]");
  Node* none = b.raw("Resize", {x, nullptr, nullptr, nullptr}, {}, "rsz");
  CHECK_THAT(infer_error(none), Contains("node 'rsz' (Resize): needs scales or sizes"));
}

TEST_CASE("unranked inputs give unranked outputs of the right dtype", "[ir][shapes]") {
  Builder b;
  Value* u = b.in("f32");
  CHECK(b.infer("Add", {u, b.in("f32[3]")}) == "f32");
  CHECK(b.infer("Equal", {u, u}) == "bool");
  CHECK(b.infer("Transpose", {u}) == "f32");
  CHECK(b.infer("Reshape", {u, b.in("i64[?]")}) == "f32");
  CHECK(b.infer("Squeeze", {u}) == "f32");
  CHECK(b.infer("Split", {u}, {}, 2) == "f32 f32");
  CHECK(b.infer("Slice", {u, b.i64({0}), b.i64({1})}) == "f32");
  CHECK(b.infer("Gather", {u, b.i64({0})}) == "f32");
  CHECK(b.infer("ReduceMean", {u}) == "f32");
  CHECK(b.infer("MaxPool", {u}, {{"kernel_shape", I{2, 2}}}, 2) == "f32 i64");
  CHECK(b.infer("QuantizeLinear", {u, b.f32({0.5f})}) == "u8");
  CHECK(b.infer("LayerNormalization", {u, b.weight({4})}, {}, 3) == "f32 f32 f32");
  CHECK(b.infer("BatchNormalization",
                {u, b.weight({4}), b.weight({4}), b.weight({4}), b.weight({4})}) == "f32");
  CHECK(b.infer("Concat", {u, u}, {{"axis", 0L}}) == "f32");
  CHECK(b.infer("Pad", {u, b.i64({1, 1})}) == "f32");
  CHECK(b.infer("Resize", {u, b.f32({2})}) == "f32");
  CHECK(b.infer("Tile", {u, b.i64({2})}) == "f32");
  CHECK(b.infer("Expand", {u, b.i64({2})}) == "f32");
  CHECK(b.infer("Cast", {u}, {{"to", 6L}}) == "i32");
}

TEST_CASE("symbolic N flows through a CNN", "[ir][shapes]") {
  Builder b;
  Graph& g = b.g;
  Value* x = b.in("f32[N,1,28,28]");
  Value* c1 = g.add_op("Conv", {x, b.weight({8, 1, 3, 3}), b.weight({8})},
                       {{"pads", I{1, 1, 1, 1}}}, "conv1");
  Value* r1 = g.add_op("Relu", {c1});
  Value* p1 = g.add_op("MaxPool", {r1}, {{"kernel_shape", I{2, 2}}, {"strides", I{2, 2}}});
  Value* c2 = g.add_op("Conv", {p1, b.weight({16, 8, 3, 3})}, {{"pads", I{1, 1, 1, 1}}}, "conv2");
  Value* bn = g.add_op("BatchNormalization",
                       {c2, b.weight({16}), b.weight({16}), b.weight({16}), b.weight({16})});
  Value* r2 = g.add_op("Relu", {bn});
  Value* p2 = g.add_op("MaxPool", {r2}, {{"kernel_shape", I{2, 2}}, {"strides", I{2, 2}}});
  Value* flat = g.add_op("Flatten", {p2});
  Value* back = g.add_op("Reshape", {flat, b.i64({-1, 16, 7, 7})});
  Value* gap = g.add_op("GlobalAveragePool", {back});
  Value* viewed = g.add_op("Reshape", {back, b.i64({0, -1})});
  Value* fc = g.add_op("Gemm", {viewed, b.weight({10, 784}), b.weight({10})}, {{"transB", 1L}});
  Value* prob = g.add_op("Softmax", {fc}, {{"axis", 1L}});
  Value* cls = g.add_op("ArgMax", {prob}, {{"axis", 1L}, {"keepdims", 0L}});
  g.set_outputs({prob, cls, gap});
  uint64_t before = g.version();
  infer_shapes(g);
  CHECK(g.version() > before);
  CHECK(c1->type().str() == "f32[N,8,28,28]");
  CHECK(p1->type().str() == "f32[N,8,14,14]");
  CHECK(p2->type().str() == "f32[N,16,7,7]");
  CHECK(flat->type().str() == "f32[N,784]");
  CHECK(back->type().str() == "f32[N,16,7,7]");
  CHECK(gap->type().str() == "f32[N,16,1,1]");
  CHECK(viewed->type().str() == "f32[N,784]");
  CHECK(fc->type().str() == "f32[N,10]");
  CHECK(prob->type().str() == "f32[N,10]");
  CHECK(cls->type().str() == "i64[N]");
}

TEST_CASE("symbolic N and S flow through a transformer block", "[ir][shapes]") {
  Builder b;
  Graph& g = b.g;
  Value* x = b.in("f32[N,S,32]");
  Value* ln = g.add_op("LayerNormalization", {x, b.weight({32}), b.weight({32})}, {{"axis", -1L}});
  auto heads = [&](Value* v, const I& perm) {
    Value* proj = g.add_op("Add", {g.add_op("MatMul", {v, b.weight({32, 32})}), b.weight({32})});
    Value* split = g.add_op("Reshape", {proj, b.i64({0, 0, 4, 8})});
    return g.add_op("Transpose", {split}, {{"perm", perm}});
  };
  Value* q = heads(ln, {0, 2, 1, 3});
  Value* k = heads(ln, {0, 2, 3, 1});
  Value* v = heads(ln, {0, 2, 1, 3});
  Value* scores = g.add_op("MatMul", {q, k});
  Value* scaled = g.add_op("Div", {scores, g.add_initializer("", Tensor::scalar(2.83f))});
  Value* attn = g.add_op("Softmax", {scaled}, {{"axis", -1L}});
  Value* ctx = g.add_op("MatMul", {attn, v});
  Value* merged = g.add_op("Transpose", {ctx}, {{"perm", I{0, 2, 1, 3}}});
  Value* joined = g.add_op("Reshape", {merged, b.i64({0, 0, -1})});
  Value* res = g.add_op("Add", {x, g.add_op("MatMul", {joined, b.weight({32, 32})})});
  Value* ffn = g.add_op("Gelu", {g.add_op("MatMul", {res, b.weight({32, 64})})});
  Value* out = g.add_op("Add", {res, g.add_op("MatMul", {ffn, b.weight({64, 32})})});
  Value* pooled = g.add_op("ReduceMean", {out, b.i64({1})}, {{"keepdims", 0L}});
  g.set_outputs({out, pooled});
  infer_shapes(g);
  CHECK(q->type().str() == "f32[N,4,S,8]");
  CHECK(k->type().str() == "f32[N,4,8,S]");
  CHECK(scores->type().str() == "f32[N,4,S,S]");
  CHECK(attn->type().str() == "f32[N,4,S,S]");
  CHECK(ctx->type().str() == "f32[N,4,S,8]");
  CHECK(merged->type().str() == "f32[N,S,4,8]");
  CHECK(joined->type().str() == "f32[N,S,32]");
  CHECK(ffn->type().str() == "f32[N,S,64]");
  CHECK(out->type().str() == "f32[N,S,32]");
  CHECK(pooled->type().str() == "f32[N,32]");
}

TEST_CASE("infer_shapes reports every failing node at once", "[ir][shapes]") {
  Builder b;
  Graph& g = b.g;
  Value* x = b.in("f32[N,3,8,8]");
  Value* bad_conv = g.add_op("Conv", {x, b.weight({16, 4, 3, 3})}, {}, "conv3");
  Value* after = g.add_op("Relu", {bad_conv}, {}, "relu3");
  Value* ok = g.add_op("Relu", {x}, {}, "relu_ok");
  Value* bad_t = g.add_op("Transpose", {ok}, {{"perm", I{0, 1}}}, "tr");
  Value* unknown = g.add_op("FancyOp", {x}, {}, "fancy");
  g.set_outputs({after, bad_t, unknown});
  std::string message;
  try {
    infer_shapes(g);
  } catch (const Error& e) {
    message = e.what();
  }
  CHECK_THAT(message, Contains("shape inference failed for 3 nodes"));
  CHECK_THAT(message, Contains("node 'conv3' (Conv): input has 3 channels"));
  CHECK_THAT(message, Contains("node 'tr' (Transpose): perm [0,1]"));
  CHECK_THAT(message,
             Contains("node 'fancy' (FancyOp): operator 'FancyOp' is not in the op table"));
  // The node after the failing one infers from an unranked input instead of failing too.
  CHECK_THAT(message, !Contains("relu3"));
  CHECK(bad_conv->type().str() == "f32");
  CHECK(after->type().str() == "f32");
  CHECK(ok->type().str() == "f32[N,3,8,8]");
}

TEST_CASE("infer_shapes replaces stale types", "[ir][shapes]") {
  Builder b;
  Graph& g = b.g;
  Value* x = b.in("f32[N,4]");
  Value* y = g.add_op("Relu", {x});
  y->set_type(ty("f32[7,7]"));
  g.set_outputs({y});
  infer_shapes(g);
  CHECK(y->type().str() == "f32[N,4]");
}

TEST_CASE("every op in the table survives unranked, absent and missing inputs", "[ir][shapes]") {
  // A smoke test over the whole table: no op may crash or mis-count its outputs when its inputs
  // are unranked, absent (nullptr) or missing altogether; ops that cannot cope say so with the
  // node's name.
  for (const OpSchema* schema : all_ops()) {
    for (int variant = 0; variant < 3; ++variant) {
      INFO(schema->name << " variant " << variant);
      Builder b;
      std::vector<Value*> ins;
      bool logical = schema->name == "Not" || schema->name == "And" || schema->name == "Or" ||
                     schema->name == "Where";
      for (int i = 0; variant < 2 && i < schema->min_inputs; ++i)
        ins.push_back(variant == 1 ? nullptr : b.in(i == 0 && logical ? "bool" : "f32"));
      Node* n = b.raw(schema->name, ins, {}, "n_" + schema->name, schema->min_outputs);
      try {
        std::vector<TensorType> types = infer_node_types(*n);
        CHECK(static_cast<int>(types.size()) == schema->min_outputs);
      } catch (const Error& e) {
        CHECK_THAT(std::string(e.what()),
                   Contains("node 'n_" + schema->name + "' (" + schema->name + ")"));
      }
    }
  }
}

TEST_CASE("shape computations in cyclic or heavily shared graphs do not hang", "[ir][shapes]") {
  Builder b;
  Graph& g = b.g;
  Value* x = b.in("f32[N,4]");
  Value* s = g.add_op("Shape", {x});
  // A cycle: the Add feeds itself (a malformed graph the verifier rejects).
  Node* loop = g.add_node("Add", {s, s});
  g.set_input(loop, 1, loop->output());
  loop->output()->set_type(ty("i64[2]"));
  Value* r1 = g.add_op("Reshape", {x, loop->output()});
  // 40 levels of Add(a, a): following both inputs naively would take 2^40 steps.
  Value* a = s;
  for (int i = 0; i < 40; ++i)
    a = g.add_op("Add", {a, a});
  Value* r2 = g.add_op("Reshape", {x, a});
  infer_shapes(g);
  CHECK(r1->type().str() == "f32[?,?]");
  CHECK(r2->type().str() == "f32[?,?]");
}

TEST_CASE("inferred types match what the reference kernels produce", "[ir][shapes]") {
  // Shape inference and the reference kernels are written separately; they must agree on every
  // output's dtype and shape whenever the inputs are concrete.
  Builder b;
  uint64_t seed = 1;
  auto f32 = [&](const Shape& s) { return b.g.add_initializer("", Tensor::random(s, seed++)); };
  auto zeros = [&](DType d, const Shape& s) { return b.g.add_initializer("", Tensor(d, s)); };
  auto str_attr = [](const char* s) { return Attribute(std::string(s)); };
  struct Case {
    std::string op;
    std::vector<Value*> ins;
    Attributes attrs;
    int outs = 1;
  };
  std::vector<Case> cases;
  for (const char* op : {"Abs",  "Ceil",        "Cos",        "Erf",      "Exp",       "Floor",
                         "Gelu", "HardSigmoid", "HardSwish",  "Identity", "LeakyRelu", "Log",
                         "Neg",  "Reciprocal",  "Relu",       "Sigmoid",  "Sin",       "Sqrt",
                         "Tanh", "Softmax",     "LogSoftmax", "Trilu"})
    cases.push_back({op, {f32({2, 3, 4})}, {}});
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Pow"})
    cases.push_back({op, {f32({2, 1, 4}), f32({3, 1})}, {}});
  for (const char* op : {"Equal", "Less", "Greater"})
    cases.push_back({op, {f32({2, 3}), f32({3})}, {}});
  Value* mask = zeros(DType::boolean, {2, 1});
  cases.push_back({"And", {mask, zeros(DType::boolean, {3})}, {}});
  cases.push_back({"Or", {mask, zeros(DType::boolean, {3})}, {}});
  cases.push_back({"Not", {mask}, {}});
  cases.push_back({"Where", {mask, f32({3}), f32({2, 1})}, {}});
  cases.push_back({"Max", {f32({2, 1}), f32({3}), f32({4, 1, 1})}, {}});
  cases.push_back({"Clip", {f32({2, 3})}, {{"min", 0.0f}, {"max", 0.5f}}});
  cases.push_back({"Dropout", {f32({2, 3})}, {}, 2});
  cases.push_back({"ArgMax", {f32({2, 5, 3})}, {{"axis", 1L}, {"keepdims", 0L}}});
  cases.push_back({"ReduceMean", {f32({2, 5, 3}), b.i64({1})}, {{"keepdims", 0L}}});
  cases.push_back({"ReduceSum", {f32({2, 5, 3})}, {{"axes", I{0, 2}}}});
  cases.push_back({"ReduceMax", {f32({2, 5, 3})}, {}});
  cases.push_back({"ReduceMin", {f32({2, 5, 3}), b.i64({-1})}, {}});
  cases.push_back({"Cast", {f32({2, 3})}, {{"to", 7L}}});
  cases.push_back({"QuantizeLinear",
                   {f32({2, 4}), b.f32({0.1f, 0.2f, 0.3f, 0.4f}), zeros(DType::i8, {4})},
                   {{"axis", 1L}}});
  cases.push_back({"QuantizeLinear", {f32({2, 4}), b.f32({0.1f})}, {}});
  cases.push_back(
      {"DequantizeLinear", {zeros(DType::i8, {2, 4}), b.f32({0.1f}), zeros(DType::i8, {1})}, {}});
  cases.push_back({"Conv",
                   {f32({1, 4, 9, 9}), f32({6, 2, 3, 3}), f32({6})},
                   {{"pads", I{1, 0, 2, 1}}, {"strides", I{2, 2}}, {"group", 2L}}});
  cases.push_back({"Conv",
                   {f32({1, 2, 9, 10}), f32({3, 2, 4, 3})},
                   {{"auto_pad", str_attr("SAME_UPPER")}, {"strides", I{2, 3}}}});
  cases.push_back({"Conv", {f32({1, 2, 9}), f32({3, 2, 3})}, {{"dilations", I{2}}}});
  cases.push_back({"ConvTranspose",
                   {f32({1, 4, 5, 5}), f32({4, 3, 3, 3})},
                   {{"strides", I{2, 2}}, {"pads", I{1, 1, 1, 1}}, {"output_padding", I{1, 1}}}});
  cases.push_back({"ConvTranspose",
                   {f32({1, 4, 5, 5}), f32({4, 1, 3, 3})},
                   {{"group", 2L}, {"auto_pad", str_attr("SAME_LOWER")}, {"strides", I{2, 2}}}});
  cases.push_back({"MaxPool",
                   {f32({1, 2, 5, 5})},
                   {{"kernel_shape", I{2, 2}},
                    {"strides", I{2, 2}},
                    {"pads", I{1, 1, 1, 1}},
                    {"ceil_mode", 1L}},
                   2});
  cases.push_back(
      {"MaxPool",
       {f32({1, 2, 7, 7})},
       {{"kernel_shape", I{3, 3}}, {"auto_pad", str_attr("SAME_UPPER")}, {"strides", I{2, 2}}}});
  cases.push_back({"AveragePool",
                   {f32({1, 2, 7, 6})},
                   {{"kernel_shape", I{3, 2}}, {"strides", I{2, 2}}, {"ceil_mode", 1L}}});
  cases.push_back({"GlobalAveragePool", {f32({2, 3, 4, 5})}, {}});
  cases.push_back({"BatchNormalization",
                   {f32({2, 3, 4}), f32({3}), f32({3}), f32({3}),
                    b.g.add_initializer("", Tensor(DType::f32, {3}))},
                   {}});
  cases.push_back({"LayerNormalization", {f32({2, 3, 4}), f32({4}), f32({4})}, {}, 3});
  cases.push_back({"LayerNormalization", {f32({2, 3, 4}), f32({3, 4})}, {{"axis", 1L}}, 3});
  cases.push_back({"Gemm", {f32({3, 5}), f32({4, 5}), f32({4})}, {{"transB", 1L}}});
  cases.push_back({"Gemm", {f32({5, 3}), f32({5, 4})}, {{"transA", 1L}}});
  cases.push_back({"MatMul", {f32({2, 1, 3, 4}), f32({5, 4, 2})}, {}});
  cases.push_back({"MatMul", {f32({4}), f32({2, 4, 3})}, {}});
  cases.push_back({"MatMul", {f32({2, 3, 4}), f32({4})}, {}});
  cases.push_back({"Flatten", {f32({2, 3, 4, 5})}, {{"axis", 2L}}});
  cases.push_back({"Reshape", {f32({2, 3, 4}), b.i64({0, -1})}, {}});
  cases.push_back({"Reshape", {f32({2, 3, 4}), b.i64({4, 0, -1})}, {}});
  cases.push_back({"Transpose", {f32({2, 3, 4})}, {}});
  cases.push_back({"Transpose", {f32({2, 3, 4})}, {{"perm", I{1, 2, 0}}}});
  cases.push_back({"Concat", {f32({2, 3}), f32({2, 5})}, {{"axis", -1L}}});
  cases.push_back({"Split", {f32({2, 7})}, {{"axis", 1L}, {"num_outputs", 3L}}, 3});
  cases.push_back({"Split", {f32({6, 2}), b.i64({1, 5})}, {}, 2});
  cases.push_back({"Split", {f32({6, 2})}, {{"split", I{4, 2}}}, 2});
  cases.push_back(
      {"Slice", {f32({5, 6}), b.i64({4, 1}), b.i64({0, 100}), b.i64({0, 1}), b.i64({-2, 2})}, {}});
  cases.push_back({"Slice", {f32({5, 6})}, {{"starts", I{1}}, {"ends", I{-1}}, {"axes", I{1}}}});
  cases.push_back(
      {"Gather",
       {f32({5, 6}), b.g.add_initializer("", Tensor::from_vector<int64_t>({2, 2}, {0, 1, -1, 2}))},
       {{"axis", 1L}}});
  cases.push_back({"Gather", {f32({5, 6}), b.i64_scalar(3)}, {}});
  cases.push_back({"Squeeze", {f32({1, 3, 1}), b.i64({0})}, {}});
  cases.push_back({"Squeeze", {f32({1, 3, 1})}, {}});
  cases.push_back({"Unsqueeze", {f32({3, 4}), b.i64({0, -1})}, {}});
  cases.push_back({"Unsqueeze", {f32({3, 4})}, {{"axes", I{1}}}});
  cases.push_back({"Shape", {f32({2, 3, 4})}, {{"start", 1L}}});
  cases.push_back({"Constant", {}, {{"value_ints", I{1, 2, 3}}}});
  cases.push_back({"Constant", {}, {{"value", Tensor(DType::u8, {2, 2})}}});
  cases.push_back(
      {"ConstantOfShape", {b.i64({2, 3})}, {{"value", Tensor::from_vector<int32_t>({1}, {5})}}});
  cases.push_back({"Range", {b.i64_scalar(1), b.i64_scalar(10), b.i64_scalar(4)}, {}});
  cases.push_back({"Tile", {f32({2, 3}), b.i64({2, 1})}, {}});
  cases.push_back({"Expand", {f32({3, 1}), b.i64({2, 1, 4})}, {}});
  cases.push_back({"Pad", {f32({2, 3}), b.i64({1, 0, 2, -1})}, {}});
  cases.push_back({"Pad", {f32({2, 3})}, {{"pads", I{0, 1, 0, 1}}}});
  cases.push_back({"Resize", {f32({1, 1, 4, 6}), nullptr, b.f32({1, 1, 1.5f, 0.5f})}, {}});
  cases.push_back({"Resize", {f32({1, 1, 4, 6}), nullptr, nullptr, b.i64({1, 1, 3, 5})}, {}});
  cases.push_back({"Resize",
                   {f32({1, 1, 4, 6}), nullptr, nullptr, b.i64({3, 3})},
                   {{"axes", I{2, 3}}, {"keep_aspect_ratio_policy", str_attr("not_smaller")}}});

  for (const Case& c : cases) {
    Node* n = b.raw(c.op, c.ins, c.attrs, "", c.outs);
    INFO(c.op << " " << n->name());
    std::vector<TensorType> types = infer_node_types(*n);
    std::vector<const Tensor*> inputs;
    for (const Value* v : n->inputs())
      inputs.push_back(v ? constant_value(v) : nullptr);
    std::vector<Tensor> outputs = evaluate_node(*n, inputs);
    REQUIRE(outputs.size() == types.size());
    for (size_t i = 0; i < outputs.size(); ++i)
      CHECK(types[i].str() == TensorType::of(outputs[i].dtype(), outputs[i].shape()).str());
  }
}
