// Reference kernels of neural-network ops: Conv and ConvTranspose (against naive direct loops),
// pooling, Gemm and MatMul (against a naive product), normalization and softmax.

#include "kernels_test_util.h"

#include "shrink/core/error.h"

#include <cmath>

using namespace shrink;
using namespace shrink::testing;

namespace {

Tensor iota(const Shape& shape, float start = 1.0f) {
  Tensor t(DType::f32, shape);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data_mutable<float>()[i] = start + static_cast<float>(i);
  return t;
}

Tensor ones(const Shape& shape) {
  Tensor t(DType::f32, shape);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data_mutable<float>()[i] = 1.0f;
  return t;
}

struct Conv2dCase {
  int64_t group, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l, pad_b, pad_r;
};

// Direct 2-D convolution, the definition.
Tensor naive_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dCase& c) {
  const int64_t n = x.dim(0), cin = x.dim(1), h = x.dim(2), wd = x.dim(3);
  const int64_t m = w.dim(0), cg = w.dim(1), kh = w.dim(2), kw = w.dim(3);
  const int64_t mg = m / c.group;
  const int64_t oh = (h + c.pad_t + c.pad_b - ((kh - 1) * c.dil_h + 1)) / c.stride_h + 1;
  const int64_t ow = (wd + c.pad_l + c.pad_r - ((kw - 1) * c.dil_w + 1)) / c.stride_w + 1;
  Tensor y(DType::f32, {n, m, oh, ow});
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  for (int64_t in = 0; in < n; ++in)
    for (int64_t om = 0; om < m; ++om)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double acc = b.data<float>()[om];
          const int64_t g = om / mg;
          for (int64_t c2 = 0; c2 < cg; ++c2)
            for (int64_t u = 0; u < kh; ++u)
              for (int64_t v = 0; v < kw; ++v) {
                const int64_t ih = i * c.stride_h - c.pad_t + u * c.dil_h;
                const int64_t iw = j * c.stride_w - c.pad_l + v * c.dil_w;
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                acc += px[((in * cin + g * cg + c2) * h + ih) * wd + iw] *
                       pw[((om * cg + c2) * kh + u) * kw + v];
              }
          y.data_mutable<float>()[((in * m + om) * oh + i) * ow + j] = static_cast<float>(acc);
        }
  return y;
}

// Transposed convolution as the scatter of every input pixel through the kernel.
Tensor naive_conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b,
                              const Conv2dCase& c, int64_t out_pad_h, int64_t out_pad_w) {
  const int64_t n = x.dim(0), cin = x.dim(1), h = x.dim(2), wd = x.dim(3);
  const int64_t mg = w.dim(1), kh = w.dim(2), kw = w.dim(3);
  const int64_t cg = cin / c.group, m = mg * c.group;
  const int64_t oh = (h - 1) * c.stride_h + out_pad_h + (kh - 1) * c.dil_h + 1 - c.pad_t - c.pad_b;
  const int64_t ow = (wd - 1) * c.stride_w + out_pad_w + (kw - 1) * c.dil_w + 1 - c.pad_l - c.pad_r;
  Tensor y(DType::f32, {n, m, oh, ow});
  float* py = y.data_mutable<float>();
  for (int64_t in = 0; in < n; ++in)
    for (int64_t om = 0; om < m; ++om)
      for (int64_t i = 0; i < oh * ow; ++i)
        py[(in * m + om) * oh * ow + i] = b.data<float>()[om];
  for (int64_t in = 0; in < n; ++in)
    for (int64_t ic = 0; ic < cin; ++ic) {
      const int64_t g = ic / cg;
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < wd; ++j) {
          const float xv = x.data<float>()[((in * cin + ic) * h + i) * wd + j];
          for (int64_t om = 0; om < mg; ++om)
            for (int64_t u = 0; u < kh; ++u)
              for (int64_t v = 0; v < kw; ++v) {
                const int64_t o_h = i * c.stride_h + u * c.dil_h - c.pad_t;
                const int64_t o_w = j * c.stride_w + v * c.dil_w - c.pad_l;
                if (o_h < 0 || o_h >= oh || o_w < 0 || o_w >= ow) continue;
                py[((in * m + g * mg + om) * oh + o_h) * ow + o_w] +=
                    xv * w.data<float>()[((ic * mg + om) * kh + u) * kw + v];
              }
        }
    }
  return y;
}

Tensor naive_matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const int64_t m = ta ? a.dim(1) : a.dim(0), k = ta ? a.dim(0) : a.dim(1);
  const int64_t n = tb ? b.dim(0) : b.dim(1);
  Tensor y(DType::f32, {m, n});
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p)
        acc += static_cast<double>(a.data<float>()[ta ? p * m + i : i * k + p]) *
               b.data<float>()[tb ? j * k + p : p * n + j];
      y.data_mutable<float>()[i * n + j] = static_cast<float>(acc);
    }
  return y;
}

void expect_close(const Tensor& got, const Tensor& want, double tol = 1e-4) {
  REQUIRE(got.shape() == want.shape());
  CHECK(max_relative_error(got, want) < tol);
}

} // namespace

TEST_CASE("Conv small cases computed by hand", "[kernels]") {
  const Tensor x = iota({1, 1, 3, 3});
  expect_f32(run1("Conv", {x, ones({1, 1, 2, 2})}), {1, 1, 2, 2}, {12, 16, 24, 28});
  // SAME_UPPER with a 3x3 kernel pads one on each side.
  Tensor same = run1("Conv", {x, ones({1, 1, 3, 3})}, {{"auto_pad", std::string("SAME_UPPER")}});
  expect_f32(same, {1, 1, 3, 3}, {12, 21, 16, 27, 45, 33, 24, 39, 28});
  // An even kernel pads one pixel: at the end for SAME_UPPER, at the start for SAME_LOWER.
  Tensor upper = run1("Conv", {x, ones({1, 1, 2, 2})}, {{"auto_pad", std::string("SAME_UPPER")}});
  Tensor lower = run1("Conv", {x, ones({1, 1, 2, 2})}, {{"auto_pad", std::string("SAME_LOWER")}});
  expect_f32(upper, {1, 1, 3, 3}, {12, 16, 9, 24, 28, 15, 15, 17, 9});
  expect_f32(lower, {1, 1, 3, 3}, {1, 3, 5, 5, 12, 16, 11, 24, 28});
  // 1-D with stride and bias.
  expect_f32(run1("Conv", {iota({1, 1, 5}), f32({1, 1, 2}, {1, -1}), f32({1}, {10})},
                  {{"strides", std::vector<int64_t>{2}}}),
             {1, 1, 2}, {9, 9});
  CHECK_THROWS_AS(run1("Conv", {x, ones({1, 2, 2, 2})}), Error);
  CHECK_THROWS_AS(run1("Conv", {x, ones({1, 1, 4, 4})}), Error);
}

TEST_CASE("Conv matches a naive direct convolution", "[kernels]") {
  const Conv2dCase c =
      GENERATE(Conv2dCase{1, 1, 1, 1, 1, 0, 0, 0, 0}, Conv2dCase{1, 2, 2, 1, 1, 1, 1, 1, 1},
               Conv2dCase{2, 1, 2, 2, 1, 2, 1, 0, 2}, Conv2dCase{4, 1, 1, 1, 1, 1, 1, 1, 1},
               Conv2dCase{1, 3, 1, 2, 3, 0, 2, 1, 0});
  const int64_t cin = 4, cout = 8;
  const Tensor x = Tensor::random({2, cin, 9, 11}, 1);
  const Tensor w = Tensor::random({cout, cin / c.group, 3, 3}, 2);
  const Tensor b = Tensor::random({cout}, 3);
  Attributes attrs{{"group", c.group},
                   {"strides", std::vector<int64_t>{c.stride_h, c.stride_w}},
                   {"dilations", std::vector<int64_t>{c.dil_h, c.dil_w}},
                   {"pads", std::vector<int64_t>{c.pad_t, c.pad_l, c.pad_b, c.pad_r}},
                   {"kernel_shape", std::vector<int64_t>{3, 3}}};
  expect_close(run1("Conv", {x, w, b}, attrs), naive_conv2d(x, w, b, c));
}

TEST_CASE("Conv 1x1 and depthwise fast paths match the naive convolution", "[kernels]") {
  const Tensor x = Tensor::random({3, 6, 5, 4}, 4);
  const Tensor w1 = Tensor::random({5, 6, 1, 1}, 5);
  const Tensor b5 = Tensor::random({5}, 6);
  expect_close(run1("Conv", {x, w1, b5}), naive_conv2d(x, w1, b5, {1, 1, 1, 1, 1, 0, 0, 0, 0}));
  const Tensor wd = Tensor::random({6, 1, 3, 3}, 7);
  const Tensor b6 = Tensor::random({6}, 8);
  expect_close(run1("Conv", {x, wd, b6},
                    {{"group", int64_t{6}}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}}),
               naive_conv2d(x, wd, b6, {6, 1, 1, 1, 1, 1, 1, 1, 1}));
}

TEST_CASE("ConvTranspose matches a naive scatter", "[kernels]") {
  const Conv2dCase c =
      GENERATE(Conv2dCase{1, 1, 1, 1, 1, 0, 0, 0, 0}, Conv2dCase{1, 2, 2, 1, 1, 1, 1, 1, 1},
               Conv2dCase{2, 2, 3, 1, 2, 0, 1, 1, 0});
  const int64_t out_pad = c.stride_h > 1 ? 1 : 0;
  const Tensor x = Tensor::random({2, 4, 5, 6}, 11);
  const Tensor w = Tensor::random({4, 3, 3, 2}, 12);
  const Tensor b = Tensor::random({3 * c.group}, 13);
  Attributes attrs{{"group", c.group},
                   {"strides", std::vector<int64_t>{c.stride_h, c.stride_w}},
                   {"dilations", std::vector<int64_t>{c.dil_h, c.dil_w}},
                   {"pads", std::vector<int64_t>{c.pad_t, c.pad_l, c.pad_b, c.pad_r}},
                   {"output_padding", std::vector<int64_t>{out_pad, 0}}};
  expect_close(run1("ConvTranspose", {x, w, b}, attrs),
               naive_conv_transpose2d(x, w, b, c, out_pad, 0));
}

TEST_CASE("ConvTranspose hand values output_shape and SAME padding", "[kernels]") {
  // Stride 2 scatters each input pixel into its own 2x2 block.
  const Tensor x = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  expect_f32(
      run1("ConvTranspose", {x, ones({1, 1, 2, 2})}, {{"strides", std::vector<int64_t>{2, 2}}}),
      {1, 1, 4, 4}, {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  // Stride 1 overlaps: the full 3x3 result.
  expect_f32(run1("ConvTranspose", {x, ones({1, 1, 2, 2})}), {1, 1, 3, 3},
             {1, 3, 2, 4, 10, 6, 3, 7, 4});
  // output_shape 2x2 of the 3x3 result: total padding 1, split as the ONNX spec says (NOTSET puts
  // the odd pixel at the start).
  expect_f32(run1("ConvTranspose", {x, ones({1, 1, 2, 2})},
                  {{"output_shape", std::vector<int64_t>{2, 2}}}),
             {1, 1, 2, 2}, {10, 6, 7, 4});
  Tensor same =
      run1("ConvTranspose", {x, ones({1, 1, 3, 3})},
           {{"strides", std::vector<int64_t>{2, 2}}, {"auto_pad", std::string("SAME_UPPER")}});
  CHECK(same.shape() == Shape{1, 1, 4, 4});
}

TEST_CASE("AveragePool with padding count_include_pad and ceil_mode", "[kernels]") {
  const Tensor x = iota({1, 1, 3, 3});
  expect_f32(run1("AveragePool", {x}, {{"kernel_shape", std::vector<int64_t>{2, 2}}}), {1, 1, 2, 2},
             {3, 4, 6, 7});
  Attributes padded{{"kernel_shape", std::vector<int64_t>{2, 2}},
                    {"strides", std::vector<int64_t>{2, 2}},
                    {"pads", std::vector<int64_t>{1, 1, 1, 1}}};
  expect_f32(run1("AveragePool", {x}, padded), {1, 1, 2, 2}, {1, 2.5, 5.5, 7});
  padded["count_include_pad"] = int64_t{1};
  expect_f32(run1("AveragePool", {x}, padded), {1, 1, 2, 2}, {0.25, 1.25, 2.75, 7});

  const Tensor row = iota({1, 1, 1, 5});
  Attributes ceil{{"kernel_shape", std::vector<int64_t>{1, 2}},
                  {"strides", std::vector<int64_t>{1, 2}}};
  expect_f32(run1("AveragePool", {row}, ceil), {1, 1, 1, 2}, {1.5, 3.5});
  ceil["ceil_mode"] = int64_t{1};
  expect_f32(run1("AveragePool", {row}, ceil), {1, 1, 1, 3}, {1.5, 3.5, 5});
  ceil["count_include_pad"] = int64_t{1};
  expect_f32(run1("AveragePool", {row}, ceil), {1, 1, 1, 3}, {1.5, 3.5, 5});
}

TEST_CASE("MaxPool values indices storage_order and dilations", "[kernels]") {
  Tensor x(DType::f32, {1, 2, 3, 3});
  const std::vector<float> plane{1, 9, 3, 4, 5, 6, 7, 8, 2};
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < 9; ++i)
      x.data_mutable<float>()[c * 9 + i] = plane[i] + static_cast<float>(c);
  Attributes attrs{{"kernel_shape", std::vector<int64_t>{2, 2}}};
  std::vector<Tensor> out = run_op("MaxPool", {x}, attrs, 2);
  expect_f32(out[0], {1, 2, 2, 2}, {9, 9, 8, 8, 10, 10, 9, 9});
  expect_tensor(out[1], DType::i64, {1, 2, 2, 2}, {1, 1, 7, 7, 10, 10, 16, 16});
  attrs["storage_order"] = int64_t{1};
  out = run_op("MaxPool", {x}, attrs, 2);
  expect_tensor(out[1], DType::i64, {1, 2, 2, 2}, {3, 3, 5, 5, 12, 12, 14, 14});

  expect_f32(run1("MaxPool", {f32({1, 1, 1, 5}, {1, 5, 2, 4, 3})},
                  {{"kernel_shape", std::vector<int64_t>{1, 2}},
                   {"dilations", std::vector<int64_t>{1, 2}}}),
             {1, 1, 1, 3}, {2, 5, 3});
  // ceil_mode drops a window that would start in the end padding.
  expect_f32(run1("MaxPool", {f32({1, 1, 3}, {1, 2, 3})},
                  {{"kernel_shape", std::vector<int64_t>{2}},
                   {"strides", std::vector<int64_t>{2}},
                   {"pads", std::vector<int64_t>{1, 1}},
                   {"ceil_mode", int64_t{1}}}),
             {1, 1, 2}, {1, 3});
}

TEST_CASE("GlobalAveragePool averages every spatial position", "[kernels]") {
  expect_f32(run1("GlobalAveragePool", {iota({1, 2, 2, 2})}), {1, 2, 1, 1}, {2.5, 6.5});
  expect_f32(run1("GlobalAveragePool", {iota({2, 1, 3})}), {2, 1, 1}, {2, 5});
}

TEST_CASE("Gemm with alpha beta transposes and bias broadcast", "[kernels]") {
  const Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor b = f32({3, 2}, {1, 0, 0, 1, 1, 1});
  expect_f32(run1("Gemm", {a, b}), {2, 2}, {4, 5, 10, 11});
  expect_f32(run1("Gemm", {a, b, f32({2}, {1, 2})}, {{"alpha", 2.0f}, {"beta", 0.5f}}), {2, 2},
             {8.5, 11, 20.5, 23});
  expect_f32(run1("Gemm", {a, b, f32({2, 1}, {1, 2})}), {2, 2}, {5, 6, 12, 13});
  expect_f32(run1("Gemm", {a, b, f32({}, {1})}), {2, 2}, {5, 6, 11, 12});
  const Tensor at = f32({3, 2}, {1, 4, 2, 5, 3, 6});
  const Tensor bt = f32({2, 3}, {1, 0, 1, 0, 1, 1});
  expect_f32(run1("Gemm", {at, bt}, {{"transA", int64_t{1}}, {"transB", int64_t{1}}}), {2, 2},
             {4, 5, 10, 11});
  CHECK_THROWS_AS(run1("Gemm", {a, a}), Error);
  CHECK_THROWS_AS(run1("Gemm", {a, b, f32({3}, {1, 2, 3})}), Error);
}

TEST_CASE("Gemm matches a naive product across block edges", "[kernels]") {
  const bool ta = GENERATE(false, true);
  const bool tb = GENERATE(false, true);
  const int64_t m = 70, k = 300, n = 45;
  const Tensor a = Tensor::random(ta ? Shape{k, m} : Shape{m, k}, 21);
  const Tensor b = Tensor::random(tb ? Shape{n, k} : Shape{k, n}, 22);
  Tensor y =
      run1("Gemm", {a, b}, {{"transA", int64_t{ta ? 1 : 0}}, {"transB", int64_t{tb ? 1 : 0}}});
  expect_close(y, naive_matmul(a, b, ta, tb));
}

TEST_CASE("MatMul with 1-D operands and batch broadcasting", "[kernels]") {
  const Tensor v = f32({3}, {1, 2, 3});
  expect_f32(run1("MatMul", {v, v}), {}, {14});
  const Tensor m = f32({2, 3}, {1, 0, 0, 0, 1, 1});
  expect_f32(run1("MatMul", {m, v}), {2}, {1, 5});
  expect_f32(run1("MatMul", {v, f32({3, 2}, {1, 0, 0, 1, 1, 1})}), {2}, {4, 5});
  // [2,1,2,3] x [4,3,2] -> [2,4,2,2].
  const Tensor a = Tensor::random({2, 1, 2, 3}, 31);
  const Tensor b = Tensor::random({4, 3, 2}, 32);
  Tensor y = run1("MatMul", {a, b});
  REQUIRE(y.shape() == Shape{2, 4, 2, 2});
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      const Tensor ai = Tensor::from_vector<float>(
          {2, 3}, std::vector<float>(a.data<float>() + i * 6, a.data<float>() + i * 6 + 6));
      const Tensor bj = Tensor::from_vector<float>(
          {3, 2}, std::vector<float>(b.data<float>() + j * 6, b.data<float>() + j * 6 + 6));
      const Tensor want = naive_matmul(ai, bj, false, false);
      for (int64_t e = 0; e < 4; ++e)
        CHECK(y.at((i * 4 + j) * 4 + e) == Approx(want.at(e)).margin(1e-5));
    }
  // A batched A against a single B (the linear-layer case).
  const Tensor x = Tensor::random({3, 5, 7}, 33);
  const Tensor w = Tensor::random({7, 4}, 34);
  Tensor xw = run1("MatMul", {x, w});
  REQUIRE(xw.shape() == Shape{3, 5, 4});
  const Tensor flat = naive_matmul(x.reshaped({15, 7}), w, false, false);
  CHECK(max_relative_error(xw.reshaped({15, 4}), flat) < 1e-5);
  expect_tensor(run1("MatMul", {i64({1, 2}, {2, 3}), i64({2, 1}, {4, 5})}), DType::i64, {1, 1},
                {23});
  CHECK_THROWS_AS(run1("MatMul", {m, m}), Error);
}

TEST_CASE("BatchNormalization in inference and training mode", "[kernels]") {
  const Tensor x = f32({1, 2, 1, 2}, {1, 2, 3, 4});
  const Tensor scale = f32({2}, {1, 2});
  const Tensor bias = f32({2}, {0, 1});
  const Tensor mean = f32({2}, {1, 3});
  const Tensor var = f32({2}, {4, 1});
  expect_f32(run1("BatchNormalization", {x, scale, bias, mean, var}, {{"epsilon", 0.0f}}),
             {1, 2, 1, 2}, {0, 0.5, 1, 3});
  std::vector<Tensor> t = run_op(
      "BatchNormalization",
      {f32({2, 1, 1, 1}, {1, 3}), f32({1}, {1}), f32({1}, {0}), f32({1}, {0}), f32({1}, {1})},
      {{"epsilon", 0.0f}, {"training_mode", int64_t{1}}}, 3);
  expect_f32(t[0], {2, 1, 1, 1}, {-1, 1});
  expect_f32(t[1], {1}, {0.2});
  expect_f32(t[2], {1}, {1.0});
  CHECK_THROWS_AS(run1("BatchNormalization", {x, f32({3}, {1, 1, 1}), bias, mean, var}), Error);
}

TEST_CASE("LayerNormalization over trailing axes with stats outputs", "[kernels]") {
  const Tensor x = f32({2, 3}, {1, 2, 3, 2, 4, 6});
  std::vector<Tensor> out = run_op(
      "LayerNormalization", {x, f32({3}, {1, 1, 2}), f32({3}, {0, 0, 1})}, {{"epsilon", 0.0f}}, 3);
  const double s1 = std::sqrt(2.0 / 3.0), s2 = std::sqrt(8.0 / 3.0);
  expect_f32(out[0], {2, 3}, {-1 / s1, 0, 2 / s1 + 1, -2 / s2, 0, 4 / s2 + 1});
  expect_f32(out[1], {2, 1}, {2, 4});
  expect_f32(out[2], {2, 1}, {1 / s1, 1 / s2});
  // axis 0 normalizes everything; a scalar scale broadcasts.
  Tensor all = run1("LayerNormalization", {f32({2, 2}, {0, 0, 2, 2}), f32({}, {3})},
                    {{"axis", int64_t{0}}, {"epsilon", 0.0f}});
  expect_f32(all, {2, 2}, {-3, -3, 3, 3});
}

TEST_CASE("Softmax and LogSoftmax along one axis", "[kernels]") {
  const Tensor x = f32({2, 3}, {1, 2, 3, 1, 1, 1});
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  expect_f32(run1("Softmax", {x}), {2, 3},
             {std::exp(1.0) / z, std::exp(2.0) / z, std::exp(3.0) / z, 1 / 3.0, 1 / 3.0, 1 / 3.0});
  expect_f32(run1("Softmax", {x}, {{"axis", int64_t{0}}}), {2, 3},
             {0.5, 1 / (1 + std::exp(-1.0)), 1 / (1 + std::exp(-2.0)), 0.5, 1 / (1 + std::exp(1.0)),
              1 / (1 + std::exp(2.0))});
  expect_f32(run1("LogSoftmax", {x}), {2, 3},
             {1 - std::log(z), 2 - std::log(z), 3 - std::log(z), -std::log(3.0), -std::log(3.0),
              -std::log(3.0)});
  // Large logits do not overflow.
  expect_f32(run1("Softmax", {f32({2}, {1000, 1000})}), {2}, {0.5, 0.5});
}
