// Reference kernels of shape and data-movement ops (lib/ir/kernels/shape_ops.cpp) and reductions
// (lib/ir/kernels/reduce.cpp).

#include "kernels_test_util.h"

#include "shrink/core/error.h"

using namespace shrink;
using namespace shrink::testing;

namespace {
Tensor iota(const Shape& shape) {
  Tensor t(DType::f32, shape);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data_mutable<float>()[i] = static_cast<float>(i);
  return t;
}
} // namespace

TEST_CASE("Concat along positive and negative axes", "[kernels]") {
  const Tensor a = f32({2, 2}, {1, 2, 3, 4});
  const Tensor b = f32({2, 1}, {5, 6});
  expect_f32(run1("Concat", {a, b}, {{"axis", int64_t{1}}}), {2, 3}, {1, 2, 5, 3, 4, 6});
  expect_f32(run1("Concat", {a, b}, {{"axis", int64_t{-1}}}), {2, 3}, {1, 2, 5, 3, 4, 6});
  expect_f32(run1("Concat", {a, f32({1, 2}, {7, 8})}, {{"axis", int64_t{0}}}), {3, 2},
             {1, 2, 3, 4, 7, 8});
  expect_tensor(
      run1("Concat", {i64({1}, {4}), i64({0}, {}), i64({2}, {-1, 7})}, {{"axis", int64_t{0}}}),
      DType::i64, {3}, {4, -1, 7});
  CHECK_THROWS_AS(run1("Concat", {a, b}, {{"axis", int64_t{0}}}), Error);
  CHECK_THROWS_AS(run1("Concat", {a, b}, {{"axis", int64_t{2}}}), Error);
}

TEST_CASE("Constant and ConstantOfShape", "[kernels]") {
  Tensor v = f32({2}, {1.5f, 2.5f});
  Tensor c = run_op("Constant", {}, {{"value", v}})[0];
  expect_f32(c, {2}, {1.5, 2.5});
  CHECK_FALSE(c.shares_storage(v));
  expect_f32(run_op("Constant", {}, {{"value_float", 3.0f}})[0], {}, {3});
  expect_tensor(run_op("Constant", {}, {{"value_ints", std::vector<int64_t>{1, 2}}})[0], DType::i64,
                {2}, {1, 2});
  expect_tensor(run_op("Constant", {}, {{"value_int", int64_t{7}}})[0], DType::i64, {}, {7});
  CHECK_THROWS_AS(run_op("Constant", {}, {}), Error);
  CHECK_THROWS_AS(run_op("Constant", {}, {{"value_int", int64_t{1}}, {"value_float", 1.0f}}),
                  Error);

  expect_f32(run1("ConstantOfShape", {i64({2}, {2, 3})}), {2, 3}, {0, 0, 0, 0, 0, 0});
  expect_tensor(run1("ConstantOfShape", {i64({1}, {3})}, {{"value", i64({1}, {5})}}), DType::i64,
                {3}, {5, 5, 5});
  CHECK_THROWS_AS(run1("ConstantOfShape", {i64({1}, {-1})}), Error);
}

TEST_CASE("Expand broadcasts both ways", "[kernels]") {
  expect_f32(run1("Expand", {f32({3, 1}, {1, 2, 3}), i64({3}, {2, 1, 2})}), {2, 3, 2},
             {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
  // A shape smaller than the data keeps the data's dimensions (numpy broadcast of both).
  expect_f32(run1("Expand", {f32({2, 2}, {1, 2, 3, 4}), i64({2}, {1, 1})}), {2, 2}, {1, 2, 3, 4});
  CHECK_THROWS_AS(run1("Expand", {f32({2}, {1, 2}), i64({1}, {3})}), Error);
}

TEST_CASE("Flatten Reshape Squeeze and Unsqueeze", "[kernels]") {
  const Tensor x = iota({2, 3, 4});
  CHECK(run1("Flatten", {x}).shape() == Shape{2, 12});
  CHECK(run1("Flatten", {x}, {{"axis", int64_t{0}}}).shape() == Shape{1, 24});
  CHECK(run1("Flatten", {x}, {{"axis", int64_t{-1}}}).shape() == Shape{6, 4});
  CHECK(run1("Flatten", {x}, {{"axis", int64_t{3}}}).shape() == Shape{24, 1});

  Tensor r = run1("Reshape", {x, i64({3}, {0, -1, 2})});
  CHECK(r.shape() == Shape{2, 6, 2});
  CHECK(r.at(23) == 23);
  CHECK(run1("Reshape", {x, i64({2}, {-1, 8})}).shape() == Shape{3, 8});
  CHECK(run1("Reshape", {iota({0, 3}), i64({2}, {3, 0})}, {{"allowzero", int64_t{1}}}).shape() ==
        Shape{3, 0});
  CHECK_THROWS_AS(run1("Reshape", {x, i64({2}, {5, -1})}), Error);
  CHECK_THROWS_AS(run1("Reshape", {x, i64({2}, {-1, -1})}), Error);

  const Tensor s = iota({1, 3, 1});
  CHECK(run1("Squeeze", {s}).shape() == Shape{3});
  CHECK(run1("Squeeze", {s, i64({1}, {-1})}).shape() == Shape{1, 3});
  CHECK(run1("Squeeze", {s}, {{"axes", std::vector<int64_t>{0}}}).shape() == Shape{3, 1});
  CHECK_THROWS_AS(run1("Squeeze", {s, i64({1}, {1})}), Error);
  // Axes given both ways is ambiguous and refused.
  CHECK_THROWS_AS(run1("Squeeze", {s, i64({1}, {0})}, {{"axes", std::vector<int64_t>{0}}}), Error);

  CHECK(run1("Unsqueeze", {iota({3}), i64({2}, {0, -1})}).shape() == Shape{1, 3, 1});
  CHECK(run1("Unsqueeze", {iota({2, 3}), i64({1}, {1})}).shape() == Shape{2, 1, 3});
  CHECK(run1("Unsqueeze", {iota({3})}, {{"axes", std::vector<int64_t>{1}}}).shape() == Shape{3, 1});
  CHECK_THROWS_AS(run1("Unsqueeze", {iota({3}), i64({2}, {0, 0})}), Error);
}

TEST_CASE("Gather with negative indices and axes", "[kernels]") {
  const Tensor x = iota({3, 2});
  expect_f32(run1("Gather", {x, i64({2}, {2, -3})}), {2, 2}, {4, 5, 0, 1});
  expect_f32(run1("Gather", {x, i32({2, 1}, {1, 0})}, {{"axis", int64_t{-1}}}), {3, 2, 1},
             {1, 0, 3, 2, 5, 4});
  // A scalar index removes the axis.
  expect_f32(run1("Gather", {x, i64({}, {1})}), {2}, {2, 3});
  expect_tensor(run1("Gather", {i64({3}, {8, 16, 32}), i64({}, {-1})}), DType::i64, {}, {32});
  CHECK_THROWS_AS(run1("Gather", {x, i64({1}, {3})}), Error);
}

TEST_CASE("Pad constant reflect edge and wrap", "[kernels]") {
  const Tensor x = f32({1, 3}, {1, 2, 3});
  const Tensor pads = i64({4}, {0, 2, 0, 1});
  expect_f32(run1("Pad", {x, pads, f32({}, {9})}), {1, 6}, {9, 9, 1, 2, 3, 9});
  expect_f32(run1("Pad", {x, pads}), {1, 6}, {0, 0, 1, 2, 3, 0});
  expect_f32(run1("Pad", {x, pads}, {{"mode", std::string("reflect")}}), {1, 6},
             {3, 2, 1, 2, 3, 2});
  expect_f32(run1("Pad", {x, pads}, {{"mode", std::string("edge")}}), {1, 6}, {1, 1, 1, 2, 3, 3});
  expect_f32(run1("Pad", {x, pads}, {{"mode", std::string("wrap")}}), {1, 6}, {2, 3, 1, 2, 3, 1});
  // Opset 2 attribute form, and negative pads crop.
  expect_f32(run1("Pad", {x}, {{"pads", std::vector<int64_t>{1, 0, 0, -1}}, {"value", 7.0f}}),
             {2, 2}, {7, 7, 1, 2});
  // Opset 18 axes input pads only the listed axes.
  expect_f32(run1("Pad", {x, i64({2}, {1, 1}), std::nullopt, i64({1}, {-1})}), {1, 5},
             {0, 1, 2, 3, 0});
  // 2-D reflect.
  Tensor r =
      run1("Pad", {iota({2, 2}), i64({4}, {1, 1, 1, 1})}, {{"mode", std::string("reflect")}});
  expect_f32(r, {4, 4}, {3, 2, 3, 2, 1, 0, 1, 0, 3, 2, 3, 2, 1, 0, 1, 0});
  CHECK_THROWS_AS(run1("Pad", {x, i64({2}, {1, 1})}), Error);
}

TEST_CASE("Range for floats and integers", "[kernels]") {
  expect_f32(run1("Range", {f32({}, {1}), f32({}, {2}), f32({}, {0.25f})}), {4},
             {1, 1.25, 1.5, 1.75});
  expect_tensor(run1("Range", {i64({}, {10}), i64({}, {1}), i64({}, {-3})}), DType::i64, {3},
                {10, 7, 4});
  expect_tensor(run1("Range", {i64({}, {5}), i64({}, {1}), i64({}, {1})}), DType::i64, {0}, {});
  CHECK_THROWS_AS(run1("Range", {i64({}, {0}), i64({}, {1}), i64({}, {0})}), Error);
}

TEST_CASE("Shape with start and end", "[kernels]") {
  const Tensor x = iota({2, 3, 4, 5});
  expect_tensor(run1("Shape", {x}), DType::i64, {4}, {2, 3, 4, 5});
  expect_tensor(run1("Shape", {x}, {{"start", int64_t{1}}, {"end", int64_t{-1}}}), DType::i64, {2},
                {3, 4});
  expect_tensor(run1("Shape", {x}, {{"start", int64_t{-10}}, {"end", int64_t{10}}}), DType::i64,
                {4}, {2, 3, 4, 5});
  expect_tensor(run1("Shape", {x}, {{"start", int64_t{3}}, {"end", int64_t{1}}}), DType::i64, {0},
                {});
}

TEST_CASE("Slice with steps negative indices clamping and the attribute form", "[kernels]") {
  const Tensor x = iota({3, 4});
  expect_f32(run1("Slice", {x, i64({2}, {1, 0}), i64({2}, {3, 3})}), {2, 3}, {4, 5, 6, 8, 9, 10});
  expect_f32(run1("Slice", {x, i64({1}, {-1}), i64({1}, {-1000}), i64({1}, {1}), i64({1}, {-2})}),
             {3, 2}, {3, 1, 7, 5, 11, 9});
  expect_f32(run1("Slice", {x, i64({1}, {1}), i64({1}, {INT64_MAX}), i64({1}, {-1})}), {3, 3},
             {1, 2, 3, 5, 6, 7, 9, 10, 11});
  expect_f32(run1("Slice", {x, i64({1}, {5}), i64({1}, {9})}), {0, 4}, {});
  expect_f32(run1("Slice", {x},
                  {{"starts", std::vector<int64_t>{0}},
                   {"ends", std::vector<int64_t>{1}},
                   {"axes", std::vector<int64_t>{1}}}),
             {3, 1}, {0, 4, 8});
  CHECK_THROWS_AS(run1("Slice", {x, i64({1}, {0}), i64({1}, {1}), i64({1}, {0}), i64({1}, {0})}),
                  Error);
}

TEST_CASE("Split by sizes equal parts and num_outputs", "[kernels]") {
  const Tensor x = iota({2, 5});
  std::vector<Tensor> parts = run_op("Split", {x, i64({2}, {2, 3})}, {{"axis", int64_t{-1}}}, 2);
  REQUIRE(parts.size() == 2);
  expect_f32(parts[0], {2, 2}, {0, 1, 5, 6});
  expect_f32(parts[1], {2, 3}, {2, 3, 4, 7, 8, 9});
  parts = run_op("Split", {x}, {{"axis", int64_t{0}}}, 2);
  expect_f32(parts[1], {1, 5}, {5, 6, 7, 8, 9});
  // Opset 18: uneven num_outputs gives ceil-sized parts and a smaller last one.
  parts = run_op("Split", {x}, {{"axis", int64_t{1}}, {"num_outputs", int64_t{3}}}, 3);
  CHECK(parts[0].shape() == Shape{2, 2});
  CHECK(parts[1].shape() == Shape{2, 2});
  expect_f32(parts[2], {2, 1}, {4, 9});
  parts = run_op("Split", {x}, {{"axis", int64_t{1}}, {"split", std::vector<int64_t>{4, 1}}}, 2);
  expect_f32(parts[1], {2, 1}, {4, 9});
  CHECK_THROWS_AS(run_op("Split", {x, i64({2}, {2, 2})}, {{"axis", int64_t{1}}}, 2), Error);
}

TEST_CASE("Tile Transpose and Trilu", "[kernels]") {
  expect_f32(run1("Tile", {f32({1, 2}, {1, 2}), i64({2}, {2, 2})}), {2, 4},
             {1, 2, 1, 2, 1, 2, 1, 2});
  const Tensor x = iota({2, 3});
  expect_f32(run1("Transpose", {x}), {3, 2}, {0, 3, 1, 4, 2, 5});
  Tensor t = run1("Transpose", {iota({2, 3, 4})}, {{"perm", std::vector<int64_t>{1, 2, 0}}});
  REQUIRE(t.shape() == Shape{3, 4, 2});
  // t[i,j,k] = x[k,i,j] = k*12 + i*4 + j.
  CHECK(t.at((2 * 4 + 1) * 2 + 1) == 12 + 2 * 4 + 1);
  CHECK_THROWS_AS(run1("Transpose", {x}, {{"perm", std::vector<int64_t>{0, 0}}}), Error);

  const Tensor m = f32({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  expect_f32(run1("Trilu", {m}), {3, 3}, {1, 2, 3, 0, 5, 6, 0, 0, 9});
  expect_f32(run1("Trilu", {m}, {{"upper", int64_t{0}}}), {3, 3}, {1, 0, 0, 4, 5, 0, 7, 8, 9});
  expect_f32(run1("Trilu", {m, i64({}, {1})}), {3, 3}, {0, 2, 3, 0, 0, 6, 0, 0, 0});
  expect_f32(run1("Trilu", {m, i64({}, {-1})}, {{"upper", int64_t{0}}}), {3, 3},
             {0, 0, 0, 4, 0, 0, 7, 8, 0});
}

TEST_CASE("reductions with axes as input or attribute and keepdims", "[kernels]") {
  const Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_f32(run1("ReduceSum", {x, i64({1}, {1})}), {2, 1}, {6, 15});
  expect_f32(run1("ReduceSum", {x, i64({1}, {-2})}, {{"keepdims", int64_t{0}}}), {3}, {5, 7, 9});
  expect_f32(run1("ReduceSum", {x}), {1, 1}, {21});
  expect_f32(run1("ReduceMean", {x}, {{"axes", std::vector<int64_t>{1}}}), {2, 1}, {2, 5});
  expect_f32(run1("ReduceMax", {x, i64({1}, {0})}, {{"keepdims", int64_t{0}}}), {3}, {4, 5, 6});
  expect_f32(run1("ReduceMin", {x}, {{"keepdims", int64_t{0}}}), {}, {1});
  // An empty axes list with noop_with_empty_axes is the identity.
  expect_f32(run1("ReduceSum", {x, i64({0}, {})}, {{"noop_with_empty_axes", int64_t{1}}}), {2, 3},
             {1, 2, 3, 4, 5, 6});
  expect_tensor(run1("ReduceSum", {i64({3}, {1, 2, 3})}, {{"keepdims", int64_t{0}}}), DType::i64,
                {}, {6});
  CHECK_THROWS_AS(run1("ReduceSum", {x, i64({1}, {2})}), Error);
}

TEST_CASE("ArgMax with keepdims and select_last_index", "[kernels]") {
  const Tensor x = f32({2, 3}, {1, 5, 5, 7, 0, 7});
  expect_tensor(run1("ArgMax", {x}, {{"axis", int64_t{1}}}), DType::i64, {2, 1}, {1, 0});
  expect_tensor(
      run1("ArgMax", {x},
           {{"axis", int64_t{-1}}, {"select_last_index", int64_t{1}}, {"keepdims", int64_t{0}}}),
      DType::i64, {2}, {2, 2});
  expect_tensor(run1("ArgMax", {x}, {{"keepdims", int64_t{0}}}), DType::i64, {3}, {1, 0, 1});
}
