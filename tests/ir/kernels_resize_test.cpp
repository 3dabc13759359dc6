// Reference kernel of Resize (lib/ir/kernels/resize.cpp): every mode, coordinate transformation
// and nearest rounding rule on small hand-computed cases.

#include "kernels_test_util.h"

#include "shrink/core/error.h"

using namespace shrink;
using namespace shrink::testing;

namespace {

// Resize with the opset 11+ inputs (X, roi absent, scales) and the given attributes.
Tensor resize_scales(const Tensor& x, const std::vector<float>& scales, Attributes attrs) {
  return run1("Resize",
              {x, std::nullopt, f32({static_cast<int64_t>(scales.size())}, scales), std::nullopt},
              std::move(attrs));
}

Tensor resize_sizes(const Tensor& x, const std::vector<int64_t>& sizes, Attributes attrs) {
  return run1("Resize",
              {x, std::nullopt, std::nullopt, i64({static_cast<int64_t>(sizes.size())}, sizes)},
              std::move(attrs));
}

} // namespace

TEST_CASE("Resize nearest 2x upsampling", "[kernels]") {
  const Tensor x = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  const std::vector<double> want{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
  expect_f32(resize_scales(x, {1, 1, 2, 2}, {}), {1, 1, 4, 4}, want);
  expect_f32(resize_scales(x, {1, 1, 2, 2},
                           {{"coordinate_transformation_mode", std::string("asymmetric")},
                            {"nearest_mode", std::string("floor")}}),
             {1, 1, 4, 4}, want);
  expect_f32(resize_sizes(x, {1, 1, 4, 4}, {}), {1, 1, 4, 4}, want);
  // The axes attribute lists only the resized axes.
  expect_f32(resize_scales(x, {2, 2}, {{"axes", std::vector<int64_t>{2, 3}}}), {1, 1, 4, 4}, want);
  // Opset 10: Resize(X, scales).
  expect_f32(run1("Resize", {x, f32({4}, {1, 1, 2, 2})}), {1, 1, 4, 4}, want);
  // Nearest works on integers too.
  expect_tensor(resize_scales(i64({2}, {7, 9}), {2}, {}), DType::i64, {4}, {7, 7, 9, 9});
}

TEST_CASE("Resize nearest_mode rounding of ties", "[kernels]") {
  // asymmetric with scale 2 maps output o to o / 2: ties at 0.5 and 1.5.
  const Tensor x = f32({2}, {10, 20});
  auto run = [&](const std::string& mode) {
    return resize_scales(
        x, {2},
        {{"coordinate_transformation_mode", std::string("asymmetric")}, {"nearest_mode", mode}});
  };
  expect_f32(run("round_prefer_floor"), {4}, {10, 10, 20, 20});
  expect_f32(run("round_prefer_ceil"), {4}, {10, 20, 20, 20});
  expect_f32(run("floor"), {4}, {10, 10, 20, 20});
  expect_f32(run("ceil"), {4}, {10, 20, 20, 20});
  CHECK_THROWS_AS(run("nearest"), Error);
}

TEST_CASE("Resize linear with coordinate transformation modes", "[kernels]") {
  const Tensor x = f32({1, 1, 2}, {1, 3});
  Attributes linear{{"mode", std::string("linear")}};
  expect_f32(resize_scales(x, {1, 1, 2}, linear), {1, 1, 4}, {1, 1.5, 2.5, 3});
  Attributes corners = linear;
  corners["coordinate_transformation_mode"] = std::string("align_corners");
  expect_f32(resize_sizes(x, {1, 1, 3}, corners), {1, 1, 3}, {1, 2, 3});
  Attributes asym = linear;
  asym["coordinate_transformation_mode"] = std::string("asymmetric");
  expect_f32(resize_scales(x, {1, 1, 2}, asym), {1, 1, 4}, {1, 2, 3, 3});
  // pytorch_half_pixel maps a length-1 output to 0.
  Attributes pt = linear;
  pt["coordinate_transformation_mode"] = std::string("pytorch_half_pixel");
  expect_f32(resize_sizes(x, {1, 1, 1}, pt), {1, 1, 1}, {1});
  expect_f32(resize_sizes(x, {1, 1, 1}, linear), {1, 1, 1}, {2});
  // half_pixel_symmetric equals half_pixel for integer scales.
  Attributes sym = linear;
  sym["coordinate_transformation_mode"] = std::string("half_pixel_symmetric");
  expect_f32(resize_scales(x, {1, 1, 2}, sym), {1, 1, 4}, {1, 1.5, 2.5, 3});
  // Bilinear in 2-D: the centre of a 2x2 -> 3x3 align_corners resize is the mean.
  Tensor y = resize_sizes(f32({1, 1, 2, 2}, {0, 2, 4, 6}), {1, 1, 3, 3}, corners);
  expect_f32(y, {1, 1, 3, 3}, {0, 1, 2, 2, 3, 4, 4, 5, 6});
}

TEST_CASE("Resize cubic with and without exclude_outside", "[kernels]") {
  const Tensor x = f32({4}, {0, 1, 2, 3});
  Attributes cubic{{"mode", std::string("cubic")},
                   {"coordinate_transformation_mode", std::string("align_corners")}};
  Tensor y = resize_sizes(x, {7}, cubic);
  REQUIRE(y.shape() == Shape{7});
  // Interior points reproduce the linear ramp exactly; at 0.5 the left tap is clamped.
  CHECK(y.at(2) == Approx(1.0));
  CHECK(y.at(3) == Approx(1.5));
  CHECK(y.at(4) == Approx(2.0));
  CHECK(y.at(1) == Approx(0.40625));
  cubic["exclude_outside"] = int64_t{1};
  Tensor e = resize_sizes(x, {7}, cubic);
  CHECK(e.at(1) == Approx(0.40625 / 1.09375));
  CHECK(e.at(3) == Approx(1.5));
}

TEST_CASE("Resize tf_crop_and_resize extrapolates outside the box", "[kernels]") {
  const Tensor x = f32({4}, {1, 2, 3, 4});
  Tensor y = run1("Resize", {x, f32({2}, {0.5f, 1.5f}), std::nullopt, i64({1}, {3})},
                  {{"mode", std::string("linear")},
                   {"coordinate_transformation_mode", std::string("tf_crop_and_resize")},
                   {"extrapolation_value", 10.0f}});
  expect_f32(y, {3}, {2.5, 4, 10});
}

TEST_CASE("Resize keep_aspect_ratio_policy and errors", "[kernels]") {
  const Tensor x = f32({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  Attributes not_larger{{"axes", std::vector<int64_t>{2, 3}},
                        {"keep_aspect_ratio_policy", std::string("not_larger")}};
  CHECK(resize_sizes(x, {4, 4}, not_larger).shape() == Shape{1, 1, 2, 4});
  Attributes not_smaller = not_larger;
  not_smaller["keep_aspect_ratio_policy"] = std::string("not_smaller");
  CHECK(resize_sizes(x, {4, 4}, not_smaller).shape() == Shape{1, 1, 4, 8});
  CHECK_THROWS_AS(run1("Resize", {x, std::nullopt, std::nullopt, std::nullopt}), Error);
  CHECK_THROWS_AS(resize_scales(x, {1, 1, 2}, {}), Error);
  CHECK_THROWS_AS(resize_scales(x, {1, 1, 2, 2}, {{"mode", std::string("area")}}), Error);
  CHECK_THROWS_AS(resize_scales(x, {1, 1, 0.5f, 0.5f},
                                {{"mode", std::string("linear")}, {"antialias", int64_t{1}}}),
                  UnsupportedError);
}
