// Tests of the IR text printer and parser (lib/ir/printer.cpp, lib/ir/parser.cpp).
#include "shrink/core/error.h"
#include "shrink/ir/graph.h"
#include "shrink/ir/text.h"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>

using namespace shrink;

namespace {

bool same_float_bits(float a, float b) {
  return std::memcmp(&a, &b, sizeof(float)) == 0;
}

bool same_quant(const Tensor& a, const Tensor& b) {
  if (a.quant().has_value() != b.quant().has_value()) return false;
  if (!a.quant()) return true;
  const QuantParams& x = *a.quant();
  const QuantParams& y = *b.quant();
  return x.axis == y.axis && x.zero_points == y.zero_points && x.scales == y.scales;
}

bool same_attr(const Attribute& a, const Attribute& b) {
  if (a.index() != b.index()) return false;
  if (auto* t = std::get_if<Tensor>(&a)) {
    const Tensor& u = std::get<Tensor>(b);
    return t->equals(u) && same_quant(*t, u);
  }
  if (auto* f = std::get_if<float>(&a)) return same_float_bits(*f, std::get<float>(b));
  if (auto* fs = std::get_if<std::vector<float>>(&a)) {
    const auto& gs = std::get<std::vector<float>>(b);
    if (fs->size() != gs.size()) return false;
    for (size_t i = 0; i < fs->size(); ++i)
      if (!same_float_bits((*fs)[i], gs[i])) return false;
    return true;
  }
  if (auto* i = std::get_if<int64_t>(&a)) return *i == std::get<int64_t>(b);
  if (auto* str = std::get_if<std::string>(&a)) return *str == std::get<std::string>(b);
  if (auto* is = std::get_if<std::vector<int64_t>>(&a))
    return *is == std::get<std::vector<int64_t>>(b);
  return std::get<std::vector<std::string>>(a) == std::get<std::vector<std::string>>(b);
}

std::string name_or_absent(const Value* v) {
  return v ? v->name() : "<absent>";
}

// Structural equality: names, ops, attributes, types, initializer bytes, inputs and outputs.
void require_same_graph(const Graph& a, const Graph& b) {
  REQUIRE(a.name() == b.name());
  REQUIRE(a.inputs().size() == b.inputs().size());
  for (size_t i = 0; i < a.inputs().size(); ++i) {
    CHECK(a.inputs()[i]->name() == b.inputs()[i]->name());
    CHECK(a.inputs()[i]->type() == b.inputs()[i]->type());
  }
  auto ia = a.initializers(), ib = b.initializers();
  REQUIRE(ia.size() == ib.size());
  for (size_t i = 0; i < ia.size(); ++i) {
    INFO("initializer " << ia[i]->name());
    CHECK(ia[i]->name() == ib[i]->name());
    CHECK(ia[i]->type() == ib[i]->type());
    CHECK(ia[i]->initializer().equals(ib[i]->initializer()));
    CHECK(same_quant(ia[i]->initializer(), ib[i]->initializer()));
  }
  auto na = a.nodes(), nb = b.nodes();
  REQUIRE(na.size() == nb.size());
  for (size_t i = 0; i < na.size(); ++i) {
    const Node* x = na[i];
    const Node* y = nb[i];
    INFO("node " << x->name());
    CHECK(x->op() == y->op());
    CHECK(x->name() == y->name());
    REQUIRE(x->num_inputs() == y->num_inputs());
    for (int k = 0; k < x->num_inputs(); ++k)
      CHECK(name_or_absent(x->input(k)) == name_or_absent(y->input(k)));
    REQUIRE(x->num_outputs() == y->num_outputs());
    for (int k = 0; k < x->num_outputs(); ++k) {
      CHECK(x->output(k)->name() == y->output(k)->name());
      CHECK(x->output(k)->type() == y->output(k)->type());
    }
    REQUIRE(x->attrs().size() == y->attrs().size());
    for (const auto& [key, value] : x->attrs()) {
      INFO("attribute " << key);
      REQUIRE(y->has_attr(key));
      CHECK(same_attr(value, y->attrs().at(key)));
    }
  }
  REQUIRE(a.outputs().size() == b.outputs().size());
  for (size_t i = 0; i < a.outputs().size(); ++i)
    CHECK(a.outputs()[i]->name() == b.outputs()[i]->name());
}

// Parses `text` expecting a ParseError at line:column whose message contains `what`.
void require_parse_error(const std::string& text, int line, int column, const std::string& what) {
  try {
    parse(text, "case.mir");
    FAIL("expected a ParseError containing: " << what);
  } catch (const ParseError& e) {
    INFO("message: " << e.what());
    CHECK(e.source() == "case.mir");
    CHECK(e.line() == line);
    CHECK(e.column() == column);
    CHECK_THAT(std::string(e.what()), Catch::Contains(what));
    CHECK_THAT(std::string(e.what()), Catch::StartsWith("case.mir:" + std::to_string(line) + ":" +
                                                        std::to_string(column) + ": "));
  }
}

Tensor half_tensor(DType dtype, const std::vector<float>& values) {
  Tensor t(dtype, {static_cast<int64_t>(values.size())});
  auto* p = static_cast<uint16_t*>(t.raw_mutable());
  for (size_t i = 0; i < values.size(); ++i)
    p[i] = dtype == DType::f16 ? float_to_half(values[i]) : float_to_bf16(values[i]);
  return t;
}

} // namespace

TEST_CASE("canonical text prints back unchanged", "[text]") {
  const std::string text = R"(graph @block(%x: f32[N,2,4,4], %idx: i64[?]) {
  %w = const f32[2,2,1,1] [0.5, 1.0, -2.0, 3.0]
  %b = const f32[2] [0.0, -0.25]
  %c = Conv(%x, %w, %b) {auto_pad="NOTSET", group=1, pads=[0,0,0,0], strides=[1,1]} : f32[N,2,4,4]
  %r = LeakyRelu(%c) {alpha=0.01} : f32[N,2,4,4] @act
  %s0, %s1 = Split(%r) {axis=1, num_outputs=2} : f32[N,1,4,4], f32[N,1,4,4]
  %m = Clip(%s0, _, %b) : f32[N,1,4,4]
  %g = Gather(%m, %idx) {axis=0} : f32
  return %g, %s1
}
)";
  Graph g = parse(text);
  CHECK(print(g) == text);
  CHECK(g.name() == "block");
  REQUIRE(g.num_nodes() == 5);
  Node* act = g.nodes()[1];
  CHECK(act->name() == "act");
  CHECK(act->output()->name() == "r");
  CHECK(act->attr_float("alpha", 0) == 0.01f);
  Node* clip = g.nodes()[3];
  CHECK(clip->name() == "m");
  REQUIRE(clip->num_inputs() == 3);
  CHECK(clip->input(1) == nullptr);
  CHECK(clip->input(2) == g.find_value("b"));
  // Use-lists are built by the parser through the Graph API.
  CHECK(g.find_value("b")->uses().size() == 2);
  Node* split = g.nodes()[2];
  CHECK(split->num_outputs() == 2);
  CHECK(split->output(1)->name() == "s1");
  CHECK(split->output(1)->producer_index() == 1);
  CHECK(g.find_value("g")->type() == TensorType::unranked(DType::f32));
  CHECK(g.find_value("x")->type().dims->at(0) == Dim::sym("N"));
  CHECK(g.find_value("idx")->type().dims->at(0) == Dim::unknown());
  REQUIRE(g.outputs().size() == 2);
  CHECK(g.outputs()[1] == split->output(1));
}

TEST_CASE("the design example parses; random weights are deterministic", "[text]") {
  const std::string text = R"(
// The example of DESIGN.md, with comments.
graph @block(%x: f32[N,16,8,8]) {   // one input
  %w = const f32[16,16,3,3] random(seed=1)
  %b = const f32[4] [0.5, 1, -2, 3]
  %c = Conv(%x, %w) {pads=[1,1,1,1]} : f32[N,16,8,8]
  %y = Relu(%c) : f32[N,16,8,8]
  return %y
}
)";
  Graph g = parse(text);
  const Tensor& w = g.find_value("w")->initializer();
  CHECK(w.shape() == Shape{16, 16, 3, 3});
  CHECK(w.equals(Tensor::random({16, 16, 3, 3}, 1)));
  // Integers are accepted for float elements; canonical text spells them as floats.
  CHECK(g.find_value("b")->initializer().to_doubles() == std::vector<double>{0.5, 1, -2, 3});
  std::string printed = print(g);
  CHECK_THAT(printed, Catch::Contains("%b = const f32[4] [0.5, 1.0, -2.0, 3.0]\n"));
  char hash[64];
  std::snprintf(hash, sizeof(hash), "hash(0x%016llx)",
                static_cast<unsigned long long>(w.content_hash()));
  CHECK_THAT(printed, Catch::Contains(std::string("%w = const f32[16,16,3,3] ") + hash + "\n"));
  CHECK_THAT(printed, Catch::Contains("  %c = Conv(%x, %w) {pads=[1,1,1,1]} : f32[N,16,8,8]\n"));
  Graph again = parse(printed);
  CHECK(again.find_value("w")->type() == TensorType::of(DType::f32, {16, 16, 3, 3}));
}

TEST_CASE("every attribute kind, dtype, odd name and absent input round-trips", "[text]") {
  Graph g("odd graph");
  Value* x = g.add_input(
      "input:0",
      TensorType{DType::f32, std::vector<Dim>{Dim::sym("batch"), Dim::known(3), Dim::unknown()}});
  Value* y = g.add_input("has space \"and\" quotes\\", TensorType::unranked(DType::i64));
  Value* z = g.add_input("ends:", TensorType{DType::bf16, std::vector<Dim>{Dim::sym("seq len")}});
  Value* s = g.add_input("/model/block.0/Conv_output_0", TensorType::of(DType::boolean, {}));

  const float f32_max = std::numeric_limits<float>::max();
  const float denorm = std::numeric_limits<float>::denorm_min();
  const float inf = std::numeric_limits<float>::infinity();
  g.add_initializer("f32", Tensor::from_vector<float>(
                               {2, 4}, {0.1f, 1.0f / 3, -0.0f, 1e-5f, f32_max, denorm, inf, -inf}));
  g.add_initializer("f16", half_tensor(DType::f16, {0.1f, 65504.0f, -2.5f, 6e-8f}));
  g.add_initializer("bf16", half_tensor(DType::bf16, {0.1f, 3.0e38f, -1.0f}));
  g.add_initializer("i8", Tensor::from_vector<int8_t>({3}, {-128, 0, 127}));
  g.add_initializer("u8", Tensor::from_vector<uint8_t>({2}, {0, 255}));
  g.add_initializer("i32",
                    Tensor::from_vector<int32_t>({2}, {std::numeric_limits<int32_t>::min(),
                                                       std::numeric_limits<int32_t>::max()}));
  g.add_initializer("i64",
                    Tensor::from_vector<int64_t>({3}, {std::numeric_limits<int64_t>::min(),
                                                       std::numeric_limits<int64_t>::max(), -1}));
  g.add_initializer("bool", Tensor::from_vector<bool>({2}, {true, false}));
  g.add_initializer("scalar", Tensor::scalar(2.5f));
  g.add_initializer("empty", Tensor(DType::f32, {0, 3}));
  Tensor q = Tensor::from_vector<int8_t>({2, 2}, {1, -2, 3, -4});
  q.set_quant(QuantParams{{0.5f, 0.125f}, {0, -3}, 0});
  Value* qv = g.add_initializer("q", q);

  Tensor attr_tensor = Tensor::from_vector<float>({2}, {1.0f, 2.0f});
  attr_tensor.set_quant(QuantParams{{0.1f}, {7}, -1});
  Attributes attrs{{"i", int64_t{-3}},
                   {"f", 1e-5f},
                   {"f_whole", 2.0f},
                   {"f_nan", std::numeric_limits<float>::quiet_NaN()},
                   {"s", std::string("SAME_UPPER \"q\" \\ \n\t\x01")},
                   {"is", std::vector<int64_t>{1, -1, 0}},
                   {"fs", std::vector<float>{0.5f, 1.0f, -inf}},
                   {"ss", std::vector<std::string>{"a", "", "b c"}},
                   {"empty_is", std::vector<int64_t>{}},
                   {"empty_fs", std::vector<float>{}},
                   {"empty_ss", std::vector<std::string>{}},
                   {"t", attr_tensor},
                   {"odd key", int64_t{1}}};
  Value* c = g.add_node("Constant", {}, 1, attrs, "constant node")->output();
  c->set_type(TensorType::of(DType::f32, {2}));

  // Absent optional inputs, in the middle and at the end.
  Node* clip = g.add_node("Clip", {x, nullptr, nullptr}, 1, {}, "clip");
  clip->output()->set_type(x->type());
  // A multi-output node whose outputs are named out of the default order.
  Node* split = g.add_node("Split", {x}, 3, {{"axis", int64_t{1}}}, "split");
  g.rename(split->output(2), "part.a");
  g.rename(split->output(0), "split_2");
  split->output(1)->set_type(TensorType::unranked(DType::f16));
  Value* w = g.add_op("Where", {s, c, qv}, {}, "where");
  g.rename(w, "w'");
  g.set_outputs({clip->output(), split->output(0), split->output(2), y, z, w, c});

  PrintOptions all_inline;
  all_inline.max_inline_elements = -1;
  const std::string text = print(g, all_inline);
  INFO(text);
  Graph back = parse(text);
  require_same_graph(g, back);
  CHECK(print(back, all_inline) == text);
  // The default options inline all of these (every constant has <= 16 elements).
  CHECK(print(g) == text);

  // Spot-check the spelling rules.
  CHECK_THAT(text, Catch::StartsWith("graph @\"odd graph\"(%input:0: f32[batch,3,?], "
                                     "%\"has space \\\"and\\\" quotes\\\\\": i64, "
                                     "%\"ends:\": bf16[\"seq len\"], "
                                     "%/model/block.0/Conv_output_0: bool[]) {\n"));
  CHECK_THAT(text, Catch::Contains("%bool = const bool[2] [true, false]\n"));
  // Half types print the shortest decimal that narrows back to the same bits.
  CHECK_THAT(text, Catch::Contains("%f16 = const f16[4] [0.1, 6.55e+04, -2.5, 6e-08]\n"));
  CHECK_THAT(text, Catch::Contains("%bf16 = const bf16[3] [0.1, 3e+38, -1.0]\n"));
  CHECK_THAT(text, Catch::Contains("%scalar = const f32[] [2.5]\n"));
  CHECK_THAT(text, Catch::Contains("%empty = const f32[0,3] []\n"));
  CHECK_THAT(text, Catch::Contains("%q = const i8[2,2] [1, -2, 3, -4] quant(axis=0, "
                                   "scales=[0.5,0.125], zero_points=[0,-3])\n"));
  CHECK_THAT(text, Catch::Contains("empty_fs=floats[], empty_is=ints[], empty_ss=strings[], "
                                   "f=1e-05, f_nan=nan, f_whole=2.0, fs=[0.5,1.0,-inf], i=-3"));
  CHECK_THAT(text, Catch::Contains("\"odd key\"=1"));
  CHECK_THAT(text, Catch::Contains("t=tensor<f32[2]> [1.0, 2.0] quant(axis=-1, scales=[0.1], "
                                   "zero_points=[7])"));
  CHECK_THAT(text, Catch::Contains("%clip = Clip(%input:0, _, _) : f32[batch,3,?]\n"));
  CHECK_THAT(text, Catch::Contains("%split_2, %split_1, %part.a = Split(%input:0) {axis=1} : f32, "
                                   "f16, f32 @split\n"));
  CHECK_THAT(text, Catch::Contains("%\"w'\" = Where(%/model/block.0/Conv_output_0, "
                                   "%\"constant node\", %q) : f32 @where\n"));
}

TEST_CASE("floats print with the fewest digits that read back exactly", "[text]") {
  for (float v : {0.1f, 1.0f / 3.0f, 1e-5f, 123456789.0f, 1.17549435e-38f, 3.4028235e38f,
                  std::numeric_limits<float>::denorm_min(), -0.0f, 16777216.0f, 0.3f}) {
    Graph g;
    Value* x = g.add_input("x", TensorType::of(DType::f32, {1}));
    Value* y = g.add_op("LeakyRelu", {x}, {{"alpha", v}}, "y");
    g.add_initializer("c", Tensor::from_vector<float>({1}, {v}));
    g.set_outputs({y});
    Graph back = parse(print(g));
    float a = back.nodes()[0]->attr_float("alpha", 0);
    float c = back.find_value("c")->initializer().data<float>()[0];
    INFO(print(g));
    CHECK(same_float_bits(a, v));
    CHECK(same_float_bits(c, v));
  }
  Graph g;
  Value* x = g.add_input("x", TensorType::of(DType::f32, {1}));
  g.set_outputs({g.add_op("LeakyRelu", {x}, {{"alpha", 0.1f}}, "y")});
  CHECK_THAT(print(g), Catch::Contains("{alpha=0.1}"));
}

TEST_CASE("large constants print elided with their content hash", "[text]") {
  Graph g("big");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {4, 17}));
  Tensor big = Tensor::random({4, 17}, 42);
  Value* w = g.add_initializer("w", big);
  Value* small = g.add_initializer("s", Tensor::random({16}, 3));
  Value* sum = g.add_op("Add", {x, w}, {}, "sum");
  g.set_outputs({g.add_op("Mul", {sum, small}, {}, "y")});

  std::string text = print(g);
  char hash[64];
  std::snprintf(hash, sizeof(hash), "hash(0x%016llx)",
                static_cast<unsigned long long>(big.content_hash()));
  CHECK_THAT(text, Catch::Contains(std::string("%w = const f32[4,17] ") + hash + "\n"));
  CHECK_THAT(text, !Catch::Contains("%s = const f32[16] hash"));

  // The placeholder keeps dtype and shape and is the same on every parse.
  Graph a = parse(text);
  Graph b = parse(text);
  const Tensor& pa = a.find_value("w")->initializer();
  CHECK(pa.dtype() == DType::f32);
  CHECK(pa.shape() == Shape{4, 17});
  CHECK(pa.equals(b.find_value("w")->initializer()));
  CHECK(a.find_value("s")->initializer().equals(small->initializer()));

  // A smaller threshold elides more; a negative one inlines everything and is exact.
  PrintOptions tight;
  tight.max_inline_elements = 4;
  CHECK_THAT(print(g, tight), Catch::Contains("%s = const f32[16] hash(0x"));
  PrintOptions all;
  all.max_inline_elements = -1;
  Graph exact = parse(print(g, all));
  CHECK(exact.find_value("w")->initializer().equals(big));
  CHECK(print(exact) == text);
}

TEST_CASE("fill forms build the tensors they name", "[text]") {
  Graph g = parse(R"(graph @fills() {
  %z = const i32[2,2] zeros
  %o = const f16[3] ones
  %r = const i8[5] random(seed=7)
  %t = Constant() {value=tensor<bool[3]> ones} : bool[3]
  return %z, %o, %r, %t
})");
  CHECK(g.find_value("z")->initializer().to_doubles() == std::vector<double>(4, 0.0));
  CHECK(g.find_value("o")->initializer().dtype() == DType::f16);
  CHECK(g.find_value("o")->initializer().to_doubles() == std::vector<double>(3, 1.0));
  CHECK(g.find_value("r")->initializer().equals(Tensor::random({5}, 7, DType::i8)));
  CHECK(g.nodes()[0]->attr_tensor("value").to_doubles() == std::vector<double>(3, 1.0));
  CHECK_THAT(print(g), Catch::Contains("%o = const f16[3] [1.0, 1.0, 1.0]\n"));
  CHECK_THAT(print(g), Catch::Contains("{value=tensor<bool[3]> [true, true, true]}"));
}

TEST_CASE("an empty list takes the kind the op table declares", "[text]") {
  Graph g = parse(R"(graph @g(%x: f32[2]) {
  %c = Constant() {value_floats=[], value_ints=[]} : f32[0]
  %y = Relu(%x) : f32[2]
  return %y, %c
})");
  const Attributes& attrs = g.nodes()[0]->attrs();
  CHECK(attr_kind(attrs.at("value_floats")) == AttrKind::Floats);
  CHECK(attr_kind(attrs.at("value_ints")) == AttrKind::Ints);
  CHECK_THAT(print(g), Catch::Contains("{value_floats=floats[], value_ints=ints[]}"));
  // Mixed integer and float elements make a float list.
  Graph m = parse("graph @m() {\n  %c = Constant() {value_floats=[1, 2.5]} : f32[2]\n"
                  "  return %c\n}\n");
  CHECK(m.nodes()[0]->attr_floats("value_floats") == std::vector<float>{1.0f, 2.5f});
}

TEST_CASE("a node name differing from its first output is printed with @", "[text]") {
  Graph g("n");
  Value* x = g.add_input("x", TensorType::of(DType::f32, {2}));
  Value* a = g.add_op("Relu", {x}, {}, "relu_1");
  g.rename(a, "a");
  Value* b = g.add_op("Neg", {a}, {}, "b");
  g.set_outputs({b});
  std::string text = print(g);
  CHECK_THAT(text, Catch::Contains("  %a = Relu(%x) : f32 @relu_1\n"));
  CHECK_THAT(text, Catch::Contains("  %b = Neg(%a) : f32\n"));
  Graph back = parse(text);
  CHECK(back.find_node("relu_1") != nullptr);
  CHECK(back.find_node("b") != nullptr);
  CHECK(print_node(*back.find_node("relu_1")) == "%a = Relu(%x) : f32 @relu_1");
}

TEST_CASE("values may be defined in any order of constants and nodes", "[text]") {
  // Hand-written text may interleave constants and nodes; printing groups constants first.
  Graph g = parse(R"(graph @g(%x: f32[2]) {
  %y = Relu(%x) : f32[2]
  %k = const f32[2] [1, 2]
  %z = Add(%y, %k) : f32[2]
  return %z
})");
  CHECK(print(g) == R"(graph @g(%x: f32[2]) {
  %k = const f32[2] [1.0, 2.0]
  %y = Relu(%x) : f32[2]
  %z = Add(%y, %k) : f32[2]
  return %z
}
)");
}

TEST_CASE("parse errors say where and what was expected", "[text]") {
  const std::string head = "graph @g(%x: f32[2]) {\n";
  SECTION("missing ')' after inputs") {
    require_parse_error(head + "  %w = const f32[2] [1, 2]\n  %c = Conv(%x, %w {pads=[1]}\n", 3, 20,
                        "expected ')' after inputs of node 'c' (Conv), got '{'");
  }
  SECTION("undefined value") {
    require_parse_error(head + "  %y = Relu(%z)\n  return %y\n}\n", 2, 13,
                        "use of undefined value %z");
  }
  SECTION("unknown op with a suggestion") {
    require_parse_error(head + "  %y = Cnv(%x)\n", 2, 8, "unknown op 'Cnv'");
    require_parse_error(head + "  %y = Cnv(%x)\n", 2, 8, "did you mean 'Conv'?");
  }
  SECTION("duplicate value") {
    require_parse_error(head + "  %c = Relu(%x)\n  %c = Neg(%x)\n", 3, 3,
                        "duplicate value %c (first defined at line 2)");
    require_parse_error(head + "  %x = Relu(%x)\n", 2, 3, "duplicate value %x");
    require_parse_error(head + "  %a, %a = Split(%x)\n", 2, 7, "duplicate value %a");
  }
  SECTION("duplicate node name") {
    require_parse_error(head + "  %a = Relu(%x) @n\n  %b = Relu(%x) @n\n", 3, 17,
                        "duplicate node name 'n' (first used at line 2)");
  }
  SECTION("wrong number of constant values") {
    require_parse_error(head + "  %w = const f32[3] [1, 2]\n", 2, 21,
                        "constant %w has 2 values but its shape [3] holds 3");
    require_parse_error(head + "  %w = const f32[1] [1, 2]\n", 2, 25, "more values than");
  }
  SECTION("values that do not fit their dtype") {
    require_parse_error(head + "  %w = const u8[2] [1, 256]\n", 2, 24, "value 256 does not fit u8");
    require_parse_error(head + "  %w = const i32[1] [1.5]\n", 2, 22, "expected an integer");
    require_parse_error(head + "  %w = const bool[1] [2]\n", 2, 23, "expected 'true' or 'false'");
  }
  SECTION("constants need a concrete shape") {
    require_parse_error(head + "  %w = const f32[N] zeros\n", 2, 14, "needs a concrete shape");
    require_parse_error(head + "  %w = const f32[4611686018427387904,4] zeros\n", 2, 14,
                        "too large to build");
  }
  SECTION("unknown dtype") {
    require_parse_error(head + "  %y = Relu(%x) : f33[2]\n", 2, 19, "f33");
  }
  SECTION("type count mismatch") {
    require_parse_error(head + "  %a, %b = Split(%x) : f32\n", 2, 22, "has 2 outputs but 1 type");
  }
  SECTION("malformed tokens") {
    require_parse_error(head + "  %y = Relu(%x) {alpha=\"abc}\n", 2, 24, "unterminated string");
    require_parse_error(head + "  %y = Relu(%x) $\n", 2, 17, "unexpected character '$'");
    require_parse_error(head + "  %y = Relu(%x) {alpha=12ab}\n", 2, 24, "malformed number '12ab'");
    require_parse_error(head + "  % = Relu(%x)\n", 2, 3, "expected a name after '%'");
  }
  SECTION("missing return and trailing text") {
    require_parse_error(head + "  %y = Relu(%x)\n}\n", 3, 1,
                        "expected a node, a constant or 'return', got '}'");
    require_parse_error(head + "  return %x\n}\nextra\n", 4, 1, "expected end of input");
    require_parse_error(head + "  return %x\n", 3, 1,
                        "expected '}' after 'return', got end of input");
  }
  SECTION("header") {
    require_parse_error("grap @g() {\n", 1, 1, "expected 'graph' at the start of the text");
    require_parse_error("graph @g(%x f32) {\n", 1, 13,
                        "expected ':' after graph input %x, got 'f32'");
  }
  SECTION("comments count for line numbers") {
    require_parse_error("// one\n// two\ngraph @g() {\n  %y = Relu(%nope)\n", 4, 13,
                        "use of undefined value %nope");
  }
}

TEST_CASE("parse_file names the file in errors", "[text]") {
  std::string path = "text_test_parse_file.mir";
  {
    std::ofstream out(path);
    out << "graph @f(%x: f32[1]) {\n  %y = Relu(%x) : f32[1]\n  return %y\n}\n";
  }
  Graph g = parse_file(path);
  CHECK(g.name() == "f");
  {
    std::ofstream out(path);
    out << "graph @f(%x: f32[1]) {\n  %y = Relu(%q)\n";
  }
  try {
    parse_file(path);
    FAIL("expected a ParseError");
  } catch (const ParseError& e) {
    CHECK(e.source() == path);
    CHECK_THAT(std::string(e.what()), Catch::StartsWith(path + ":2:13: "));
  }
  std::remove(path.c_str());
  CHECK_THROWS_AS(parse_file("no/such/file.mir"), Error);
}
