// Reference kernels of QuantizeLinear and DequantizeLinear (lib/ir/kernels/quant.cpp), plus the
// table-wide check that every op's kernel refuses missing inputs with an Error.

#include "kernels_test_util.h"

#include "shrink/core/error.h"

#include <cmath>

using namespace shrink;
using namespace shrink::testing;

TEST_CASE("QuantizeLinear rounds half to even and saturates", "[kernels]") {
  const Tensor x = f32({8}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 1000.0f, -1000.0f});
  expect_tensor(run1("QuantizeLinear", {x, f32({}, {1.0f}), i8({}, {0})}), DType::i8, {8},
                {0, 2, 2, 0, -2, -2, 127, -128});
  // Ties happen after division by the scale: 0.75 / 0.5 = 1.5 -> 2; 1.25 / 0.5 = 2.5 -> 2.
  expect_tensor(
      run1("QuantizeLinear", {f32({3}, {0.75f, 1.25f, -0.25f}), f32({}, {0.5f}), u8({}, {10})}),
      DType::u8, {3}, {12, 12, 10});
  // No zero point: u8 with zero point 0.
  expect_tensor(run1("QuantizeLinear", {f32({3}, {-1.0f, 3.4f, 300.0f}), f32({}, {1.0f})}),
                DType::u8, {3}, {0, 3, 255});
}

TEST_CASE("QuantizeLinear per axis and blocked", "[kernels]") {
  const Tensor x = f32({2, 3}, {4, 4, 4, 8, 8, 8});
  expect_tensor(run1("QuantizeLinear", {x, f32({3}, {1, 2, 4}), u8({3}, {0, 1, 2})}), DType::u8,
                {2, 3}, {4, 3, 3, 8, 5, 4});
  expect_tensor(
      run1("QuantizeLinear", {x, f32({2}, {1, 4}), i8({2}, {0, 0})}, {{"axis", int64_t{0}}}),
      DType::i8, {2, 3}, {4, 4, 4, 2, 2, 2});
  // Blocks of 2 along axis 1: scale [1, 2] covers columns {0,1} and {2,3}.
  expect_tensor(run1("QuantizeLinear", {f32({1, 4}, {2, 2, 4, 4}), f32({1, 2}, {1, 2})},
                     {{"axis", int64_t{1}}, {"block_size", int64_t{2}}}),
                DType::u8, {1, 4}, {2, 2, 2, 2});
  // A last partial block: 5 columns in blocks of 2 need 3 scales.
  expect_tensor(run1("QuantizeLinear",
                     {f32({1, 5}, {1, 1, 1, 1, 1}), f32({1, 3}, {1, 0.5f, 0.25f})},
                     {{"axis", int64_t{1}}, {"block_size", int64_t{2}}}),
                DType::u8, {1, 5}, {1, 1, 2, 2, 4});
  CHECK_THROWS_AS(run1("QuantizeLinear", {x, f32({2}, {1, 2})}), Error);
  CHECK_THROWS_AS(run1("QuantizeLinear", {x, f32({1, 2}, {1, 2})}, {{"block_size", int64_t{2}}}),
                  Error);
  CHECK_THROWS_AS(run1("QuantizeLinear", {x, f32({}, {1}), i32({}, {0})}), UnsupportedError);
}

TEST_CASE("DequantizeLinear per tensor per axis blocked and i32", "[kernels]") {
  expect_f32(run1("DequantizeLinear", {u8({3}, {0, 128, 255}), f32({}, {0.5f}), u8({}, {128})}),
             {3}, {-64, 0, 63.5});
  expect_f32(run1("DequantizeLinear", {i8({2, 2}, {-4, 4, -4, 4}), f32({2}, {0.5f, 2.0f})},
                  {{"axis", int64_t{0}}}),
             {2, 2}, {-2, 2, -8, 8});
  expect_f32(run1("DequantizeLinear", {i8({1, 4}, {1, 1, 1, 1}), f32({1, 2}, {1, 3})},
                  {{"axis", int64_t{-1}}, {"block_size", int64_t{2}}}),
             {1, 4}, {1, 1, 3, 3});
  // The i32 bias form: zero point absent, large values exact in the scale product.
  expect_f32(run1("DequantizeLinear", {i32({2}, {-100000, 7}), f32({}, {0.001f})}), {2},
             {-100, 0.007}, 1e-4);
  CHECK_THROWS_AS(run1("DequantizeLinear", {u8({1}, {1}), f32({}, {1}), i8({}, {0})}),
                  UnsupportedError);
  CHECK_THROWS_AS(run1("DequantizeLinear", {f32({1}, {1}), f32({}, {1})}), UnsupportedError);
}

TEST_CASE("QuantizeLinear then DequantizeLinear is within half a step", "[kernels]") {
  const Tensor x = Tensor::random({4, 64}, 5);
  SECTION("per tensor u8") {
    const float scale = 2.0f / 255.0f;
    Tensor q = run1("QuantizeLinear", {x, f32({}, {scale}), u8({}, {128})});
    Tensor y = run1("DequantizeLinear", {q, f32({}, {scale}), u8({}, {128})});
    for (int64_t i = 0; i < x.numel(); ++i)
      CHECK(std::abs(y.at(i) - x.at(i)) <= scale / 2 * 1.0001);
  }
  SECTION("per axis i8") {
    const Tensor scales = f32({4}, {1 / 127.0f, 2 / 127.0f, 0.5f / 127.0f, 1.5f / 127.0f});
    Tensor q = run1("QuantizeLinear", {x, scales, i8({4}, {0, 0, 0, 0})}, {{"axis", int64_t{0}}});
    Tensor y = run1("DequantizeLinear", {q, scales, i8({4}, {0, 0, 0, 0})}, {{"axis", int64_t{0}}});
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float s = scales.data<float>()[i / 64];
      const double clipped = std::max(-128.0 * s, std::min(127.0 * s, x.at(i)));
      CHECK(std::abs(y.at(i) - clipped) <= s / 2 * 1.0001);
    }
  }
}

TEST_CASE("every op's kernel refuses missing inputs with an Error", "[kernels]") {
  for (const OpSchema* schema : all_ops()) {
    INFO("op " << schema->name);
    Graph g;
    Node* node = g.add_node(schema->name, {}, 1, {}, "n");
    std::vector<Tensor> outputs;
    CHECK_THROWS_AS(schema->kernel(*node, {}, outputs), Error);
  }
}
