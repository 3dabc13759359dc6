// Reference kernels of element-wise ops (lib/ir/kernels/elementwise.cpp), with hand-computed
// expected values.

#include "kernels_test_util.h"

#include "shrink/core/error.h"

#include <cmath>
#include <limits>

using namespace shrink;
using namespace shrink::testing;

TEST_CASE("unary math kernels compute their functions", "[kernels]") {
  const Tensor x = f32({4}, {-1.5f, -0.25f, 0.0f, 2.0f});
  expect_f32(run1("Abs", {x}), {4}, {1.5, 0.25, 0.0, 2.0});
  expect_f32(run1("Neg", {x}), {4}, {1.5, 0.25, 0.0, -2.0});
  expect_f32(run1("Relu", {x}), {4}, {0.0, 0.0, 0.0, 2.0});
  expect_f32(run1("Ceil", {x}), {4}, {-1.0, 0.0, 0.0, 2.0});
  expect_f32(run1("Floor", {x}), {4}, {-2.0, -1.0, 0.0, 2.0});
  expect_f32(run1("Exp", {x}), {4}, {std::exp(-1.5), std::exp(-0.25), 1.0, std::exp(2.0)});
  expect_f32(run1("Sin", {x}), {4}, {std::sin(-1.5), std::sin(-0.25), 0.0, std::sin(2.0)});
  expect_f32(run1("Cos", {x}), {4}, {std::cos(-1.5), std::cos(-0.25), 1.0, std::cos(2.0)});
  expect_f32(run1("Tanh", {x}), {4}, {std::tanh(-1.5), std::tanh(-0.25), 0.0, std::tanh(2.0)});
  expect_f32(run1("Erf", {x}), {4}, {std::erf(-1.5), std::erf(-0.25), 0.0, std::erf(2.0)});
  expect_f32(run1("Sigmoid", {x}), {4},
             {1 / (1 + std::exp(1.5)), 1 / (1 + std::exp(0.25)), 0.5, 1 / (1 + std::exp(-2.0))});
  const Tensor p = f32({3}, {0.25f, 1.0f, 4.0f});
  expect_f32(run1("Sqrt", {p}), {3}, {0.5, 1.0, 2.0});
  expect_f32(run1("Log", {p}), {3}, {std::log(0.25), 0.0, std::log(4.0)});
  expect_f32(run1("Reciprocal", {p}), {3}, {4.0, 1.0, 0.25});
}

TEST_CASE("Sigmoid does not overflow for large magnitudes", "[kernels]") {
  Tensor y = run1("Sigmoid", {f32({2}, {-1000.0f, 1000.0f})});
  expect_f32(y, {2}, {0.0, 1.0});
}

TEST_CASE("activations with attributes", "[kernels]") {
  const Tensor x = f32({5}, {-4.0f, -1.0f, 0.0f, 1.0f, 4.0f});
  expect_f32(run1("LeakyRelu", {x}, {{"alpha", 0.1f}}), {5}, {-0.4, -0.1, 0.0, 1.0, 4.0});
  expect_f32(run1("LeakyRelu", {x}), {5}, {-0.04, -0.01, 0.0, 1.0, 4.0});
  expect_f32(run1("HardSigmoid", {x}), {5}, {0.0, 0.3, 0.5, 0.7, 1.0});
  expect_f32(run1("HardSigmoid", {x}, {{"alpha", 0.5f}, {"beta", 0.0f}}), {5},
             {0.0, 0.0, 0.0, 0.5, 1.0});
  // HardSwish(x) = x * clamp(x / 6 + 0.5, 0, 1).
  expect_f32(run1("HardSwish", {x}), {5}, {0.0, -1.0 / 3.0, 0.0, 2.0 / 3.0, 4.0});
}

TEST_CASE("Gelu exact and tanh approximation", "[kernels]") {
  const Tensor x = f32({3}, {-1.0f, 0.0f, 2.0f});
  auto exact = [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); };
  auto approx = [](double v) {
    return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
  };
  expect_f32(run1("Gelu", {x}), {3}, {exact(-1), 0.0, exact(2)});
  expect_f32(run1("Gelu", {x}, {{"approximate", std::string("tanh")}}), {3},
             {approx(-1), 0.0, approx(2)});
  // The two differ, so the attribute is really read.
  CHECK(std::abs(exact(-1) - approx(-1)) > 1e-5);
  CHECK_THROWS_AS(run1("Gelu", {x}, {{"approximate", std::string("fast")}}), Error);
}

TEST_CASE("integer Abs Neg and Relu", "[kernels]") {
  const Tensor x = i64({3}, {-3, 0, 5});
  expect_tensor(run1("Abs", {x}), DType::i64, {3}, {3, 0, 5});
  expect_tensor(run1("Neg", {x}), DType::i64, {3}, {3, 0, -5});
  expect_tensor(run1("Relu", {i32({3}, {-3, 0, 5})}), DType::i32, {3}, {0, 0, 5});
}

TEST_CASE("binary arithmetic broadcasts like numpy", "[kernels]") {
  const Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor row = f32({3}, {10, 20, 30});
  const Tensor col = f32({2, 1}, {100, 200});
  expect_f32(run1("Add", {a, row}), {2, 3}, {11, 22, 33, 14, 25, 36});
  expect_f32(run1("Sub", {a, col}), {2, 3}, {-99, -98, -97, -196, -195, -194});
  expect_f32(run1("Mul", {col, row}), {2, 3}, {1000, 2000, 3000, 2000, 4000, 6000});
  expect_f32(run1("Div", {a, f32({}, {2})}), {2, 3}, {0.5, 1, 1.5, 2, 2.5, 3});
  expect_f32(run1("Div", {f32({}, {12}), a}), {2, 3}, {12, 6, 4, 3, 2.4, 2});
  // Both sides broadcast: [2,1,3] with [4,1] gives [2,4,3].
  Tensor y = run1("Add", {Tensor::from_vector<float>({2, 1, 3}, {0, 1, 2, 3, 4, 5}),
                          f32({4, 1}, {0, 10, 20, 30})});
  REQUIRE(y.shape() == Shape{2, 4, 3});
  CHECK(y.at(0) == 0);
  CHECK(y.at(1 * 3 + 2) == 12);          // [0,1,2] = 2 + 10
  CHECK(y.at(1 * 12 + 3 * 3 + 1) == 34); // [1,3,1] = 4 + 30
  CHECK_THROWS_AS(run1("Add", {a, f32({2}, {1, 2})}), Error);
}

TEST_CASE("integer arithmetic for shape computations", "[kernels]") {
  const Tensor a = i64({4}, {7, -7, 6, 0});
  const Tensor b = i64({4}, {2, 2, -4, 3});
  expect_tensor(run1("Add", {a, b}), DType::i64, {4}, {9, -5, 2, 3});
  expect_tensor(run1("Sub", {a, b}), DType::i64, {4}, {5, -9, 10, -3});
  expect_tensor(run1("Mul", {a, b}), DType::i64, {4}, {14, -14, -24, 0});
  // Integer division truncates toward zero (C++ and ONNX Runtime).
  expect_tensor(run1("Div", {a, b}), DType::i64, {4}, {3, -3, -1, 0});
  expect_tensor(run1("Div", {i32({2}, {9, -9}), i32({}, {4})}), DType::i32, {2}, {2, -2});
  CHECK_THROWS_AS(run1("Div", {a, i64({}, {0})}), Error);
  // The most negative value divided by -1 wraps instead of trapping.
  const int64_t mn = std::numeric_limits<int64_t>::min();
  CHECK(run1("Div", {i64({1}, {mn}), i64({1}, {-1})}).data<int64_t>()[0] == mn);
  CHECK_THROWS_AS(run1("Add", {a, f32({4}, {1, 2, 3, 4})}), UnsupportedError);
  CHECK_THROWS_AS(run1("Add", {u8({1}, {1}), u8({1}, {1})}), UnsupportedError);
}

TEST_CASE("Pow with float and integer exponents", "[kernels]") {
  expect_f32(run1("Pow", {f32({3}, {2, 4, 9}), f32({3}, {3, 0.5f, -1})}), {3}, {8, 2, 1.0 / 9});
  expect_f32(run1("Pow", {f32({2}, {3, -2}), i64({}, {2})}), {2}, {9, 4});
  expect_tensor(run1("Pow", {i64({3}, {2, -3, 5}), i64({3}, {10, 3, 0})}), DType::i64, {3},
                {1024, -27, 1});
}

TEST_CASE("comparisons give bool and broadcast", "[kernels]") {
  const Tensor a = f32({3}, {1, 2, 3});
  const Tensor b = f32({}, {2});
  expect_tensor(run1("Equal", {a, b}), DType::boolean, {3}, {0, 1, 0});
  expect_tensor(run1("Less", {a, b}), DType::boolean, {3}, {1, 0, 0});
  expect_tensor(run1("Greater", {a, b}), DType::boolean, {3}, {0, 0, 1});
  expect_tensor(run1("Equal", {i64({2, 1}, {1, 5}), i64({2}, {1, 5})}), DType::boolean, {2, 2},
                {1, 0, 0, 1});
  expect_tensor(run1("Equal", {boolean({2}, {true, false}), boolean({2}, {true, true})}),
                DType::boolean, {2}, {1, 0});
}

TEST_CASE("logic ops on bool", "[kernels]") {
  const Tensor a = boolean({4}, {false, false, true, true});
  const Tensor b = boolean({4}, {false, true, false, true});
  expect_tensor(run1("And", {a, b}), DType::boolean, {4}, {0, 0, 0, 1});
  expect_tensor(run1("Or", {a, b}), DType::boolean, {4}, {0, 1, 1, 1});
  expect_tensor(run1("Not", {a}), DType::boolean, {4}, {1, 1, 0, 0});
  expect_tensor(run1("Or", {a, boolean({}, {true})}), DType::boolean, {4}, {1, 1, 1, 1});
  CHECK_THROWS_AS(run1("And", {a, f32({4}, {0, 1, 0, 1})}), UnsupportedError);
}

TEST_CASE("variadic Max Min and Sum broadcast over all inputs", "[kernels]") {
  const Tensor a = f32({2, 2}, {1, 5, 3, -1});
  const Tensor b = f32({2}, {2, 2});
  const Tensor c = f32({}, {0});
  expect_f32(run1("Max", {a, b, c}), {2, 2}, {2, 5, 3, 2});
  expect_f32(run1("Min", {a, b, c}), {2, 2}, {0, 0, 0, -1});
  expect_f32(run1("Sum", {a, b, c}), {2, 2}, {3, 7, 5, 1});
  expect_f32(run1("Sum", {a}), {2, 2}, {1, 5, 3, -1});
  expect_tensor(run1("Max", {i64({2}, {1, 9}), i64({2}, {4, 2})}), DType::i64, {2}, {4, 9});
  Tensor nan = run1("Max", {f32({1}, {std::nanf("")}), f32({1}, {1})});
  CHECK(std::isnan(nan.data<float>()[0]));
}

TEST_CASE("Where selects with three-way broadcasting", "[kernels]") {
  const Tensor cond = boolean({2, 1}, {true, false});
  const Tensor x = f32({3}, {1, 2, 3});
  const Tensor y = f32({}, {-1});
  expect_f32(run1("Where", {cond, x, y}), {2, 3}, {1, 2, 3, -1, -1, -1});
  expect_tensor(run1("Where", {boolean({2}, {false, true}), i64({2}, {1, 2}), i64({2}, {8, 9})}),
                DType::i64, {2}, {8, 2});
  CHECK_THROWS_AS(run1("Where", {f32({2}, {1, 0}), x, y}), UnsupportedError);
}

TEST_CASE("Clip with inputs attributes and defaults", "[kernels]") {
  const Tensor x = f32({5}, {-2, -0.5f, 0, 0.5f, 2});
  expect_f32(run1("Clip", {x, f32({}, {-1}), f32({}, {1})}), {5}, {-1, -0.5, 0, 0.5, 1});
  expect_f32(run1("Clip", {x, std::nullopt, f32({}, {0})}), {5}, {-2, -0.5, 0, 0, 0});
  expect_f32(run1("Clip", {x}, {{"min", 0.0f}, {"max", 6.0f}}), {5}, {0, 0, 0, 0.5, 2});
  expect_f32(run1("Clip", {x}), {5}, {-2, -0.5, 0, 0.5, 2});
  // min > max gives max everywhere.
  expect_f32(run1("Clip", {x, f32({}, {1}), f32({}, {0})}), {5}, {0, 0, 0, 0, 0});
  expect_tensor(run1("Clip", {i64({3}, {-5, 3, 9}), i64({}, {0}), i64({}, {4})}), DType::i64, {3},
                {0, 3, 4});
}

TEST_CASE("Cast follows ONNX conversions", "[kernels]") {
  const Tensor x = f32({6}, {-2.7f, -0.5f, 0.0f, 0.5f, 2.7f, 300.0f});
  // ONNX TensorProto numbers: INT64 = 7, INT32 = 6, UINT8 = 2, BOOL = 9, FLOAT = 1, FLOAT16 = 10.
  // float -> int truncates toward zero.
  expect_tensor(run1("Cast", {x}, {{"to", int64_t{7}}}), DType::i64, {6}, {-2, 0, 0, 0, 2, 300});
  expect_tensor(run1("Cast", {x}, {{"to", int64_t{6}}}), DType::i32, {6}, {-2, 0, 0, 0, 2, 300});
  expect_tensor(run1("Cast", {x}, {{"to", int64_t{9}}}), DType::boolean, {6}, {1, 1, 0, 1, 1, 1});
  // Out-of-range values saturate instead of being undefined.
  expect_tensor(run1("Cast", {f32({2}, {300.0f, -5.0f})}, {{"to", int64_t{2}}}), DType::u8, {2},
                {255, 0});
  expect_f32(run1("Cast", {i64({3}, {-3, 0, 1 << 20})}, {{"to", int64_t{1}}}), {3},
             {-3, 0, 1 << 20});
  expect_f32(run1("Cast", {boolean({2}, {true, false})}, {{"to", int64_t{1}}}), {2}, {1, 0});
  // Integer narrowing wraps like numpy's astype.
  expect_tensor(run1("Cast", {i64({2}, {257, -1})}, {{"to", int64_t{2}}}), DType::u8, {2},
                {1, 255});
  Tensor h = run1("Cast", {f32({2}, {1.5f, -2.0f})}, {{"to", int64_t{10}}});
  REQUIRE(h.dtype() == DType::f16);
  expect_f32(run1("Cast", {h}, {{"to", int64_t{1}}}), {2}, {1.5, -2.0});
  CHECK_THROWS_AS(run1("Cast", {x}, {{"to", int64_t{8}}}), UnsupportedError); // STRING
  CHECK_THROWS_AS(run1("Cast", {x}), Error);
}

TEST_CASE("Identity copies and Dropout is identity in inference", "[kernels]") {
  const Tensor x = f32({2}, {1, 2});
  Tensor y = run1("Identity", {x});
  expect_f32(y, {2}, {1, 2});
  CHECK_FALSE(y.shares_storage(x));
  std::vector<Tensor> d = run_op("Dropout", {x, f32({}, {0.5f})}, {}, 2);
  REQUIRE(d.size() == 2);
  expect_f32(d[0], {2}, {1, 2});
  expect_tensor(d[1], DType::boolean, {2}, {1, 1});
}

TEST_CASE("Dropout in training mode zeroes and rescales", "[kernels]") {
  Tensor x(DType::f32, {1000});
  for (int i = 0; i < 1000; ++i)
    x.data_mutable<float>()[i] = 1.0f;
  std::vector<Tensor> d =
      run_op("Dropout", {x, f32({}, {0.25f}), boolean({}, {true})}, {{"seed", int64_t{3}}}, 2);
  int kept = 0;
  for (int i = 0; i < 1000; ++i) {
    const float v = d[0].data<float>()[i];
    CHECK((v == 0.0f || v == Approx(1.0f / 0.75f)));
    CHECK((v != 0.0f) == d[1].data<bool>()[i]);
    kept += v != 0.0f;
  }
  CHECK(kept > 650);
  CHECK(kept < 850);
}
