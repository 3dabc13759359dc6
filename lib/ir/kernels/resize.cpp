// Reference kernel of Resize: nearest (every nearest_mode), linear and cubic interpolation with
// every coordinate_transformation_mode, scales or sizes (with keep_aspect_ratio_policy), the axes
// attribute, and the opset 10 form Resize(X, scales). All three modes are tensor products of 1-D
// kernels, so the kernel resamples one axis at a time. Coordinates are computed in f32 like ONNX
// Runtime, so nearest-neighbour ties resolve the same way.

#include "kernel_util.h"

#include "shrink/ir/op_table.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace shrink {
namespace ops {

using namespace kernels;

namespace {

// The 1-D resampling of one axis: for each output index, input indices with weights, and whether
// the point lies outside the crop box (tf_crop_and_resize extrapolation).
struct AxisPlan {
  std::vector<std::vector<std::pair<int64_t, float>>> taps;
  std::vector<bool> outside;
  bool identity = true;
};

struct ResizeParams {
  std::string mode, coord, nearest;
  float cubic_a = -0.75f;
  bool exclude_outside = false;
};

float original_coordinate(const Node& node, const std::string& coord, int64_t o, float scale,
                          int64_t in_len, int64_t out_len, float roi_start, float roi_end) {
  const float x = static_cast<float>(o);
  if (coord == "half_pixel") return (x + 0.5f) / scale - 0.5f;
  if (coord == "half_pixel_symmetric") {
    const float adjustment = static_cast<float>(out_len) / (scale * static_cast<float>(in_len));
    const float center = static_cast<float>(in_len) / 2.0f;
    const float offset = center * (1.0f - adjustment);
    return offset + (x + 0.5f) / scale - 0.5f;
  }
  if (coord == "pytorch_half_pixel") return out_len > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
  if (coord == "align_corners")
    return out_len == 1 ? 0.0f
                        : x * static_cast<float>(in_len - 1) / static_cast<float>(out_len - 1);
  if (coord == "asymmetric") return x / scale;
  if (coord == "tf_half_pixel_for_nn") return (x + 0.5f) / scale;
  if (coord == "tf_crop_and_resize") {
    const float span = static_cast<float>(in_len - 1);
    return out_len > 1 ? roi_start * span +
                             x * (roi_end - roi_start) * span / static_cast<float>(out_len - 1)
                       : 0.5f * (roi_start + roi_end) * span;
  }
  fail(node, "unknown coordinate_transformation_mode '" + coord + "'");
}

int64_t nearest_index(const Node& node, const std::string& mode, float x) {
  const float fl = std::floor(x);
  const bool half = x == fl + 0.5f;
  if (mode == "round_prefer_floor") return static_cast<int64_t>(half ? fl : std::round(x));
  if (mode == "round_prefer_ceil") return static_cast<int64_t>(half ? fl + 1.0f : std::round(x));
  if (mode == "floor") return static_cast<int64_t>(fl);
  if (mode == "ceil") return static_cast<int64_t>(std::ceil(x));
  fail(node, "unknown nearest_mode '" + mode + "'");
}

void cubic_coefficients(float r, float a, float c[4]) {
  // The Keys cubic convolution kernel at distances 1 + r, r, 1 - r and 2 - r.
  const float r1 = r + 1.0f, r2 = 1.0f - r, r3 = 2.0f - r;
  c[0] = ((a * r1 - 5.0f * a) * r1 + 8.0f * a) * r1 - 4.0f * a;
  c[1] = ((a + 2.0f) * r - (a + 3.0f)) * r * r + 1.0f;
  c[2] = ((a + 2.0f) * r2 - (a + 3.0f)) * r2 * r2 + 1.0f;
  c[3] = ((a * r3 - 5.0f * a) * r3 + 8.0f * a) * r3 - 4.0f * a;
}

AxisPlan plan_axis(const Node& node, const ResizeParams& p, int64_t in_len, int64_t out_len,
                   float scale, float roi_start, float roi_end) {
  AxisPlan plan;
  plan.taps.resize(out_len);
  plan.outside.assign(out_len, false);
  const bool crop = p.coord == "tf_crop_and_resize";
  for (int64_t o = 0; o < out_len; ++o) {
    const float x =
        original_coordinate(node, p.coord, o, scale, in_len, out_len, roi_start, roi_end);
    if (crop && (x < 0.0f || x > static_cast<float>(in_len - 1))) plan.outside[o] = true;
    auto clamp = [&](int64_t i) { return std::min(std::max<int64_t>(i, 0), in_len - 1); };
    auto& taps = plan.taps[o];
    if (p.mode == "nearest") {
      taps.emplace_back(clamp(nearest_index(node, p.nearest, x)), 1.0f);
    } else if (p.mode == "linear") {
      const float fl = std::floor(x);
      const float r = x - fl;
      const int64_t i0 = static_cast<int64_t>(fl);
      taps.emplace_back(clamp(i0), 1.0f - r);
      taps.emplace_back(clamp(i0 + 1), r);
    } else {
      const float fl = std::floor(x);
      float c[4];
      cubic_coefficients(x - fl, p.cubic_a, c);
      const int64_t i0 = static_cast<int64_t>(fl) - 1;
      float total = 0.0f;
      for (int t = 0; t < 4; ++t) {
        const int64_t i = i0 + t;
        if (p.exclude_outside && (i < 0 || i >= in_len)) continue;
        taps.emplace_back(clamp(i), c[t]);
        total += c[t];
      }
      // exclude_outside renormalizes the remaining weights to sum to one.
      if (p.exclude_outside && total != 0.0f)
        for (auto& tap : taps)
          tap.second /= total;
    }
    // Drop zero weights so that unresized axes are recognized as identities.
    std::vector<std::pair<int64_t, float>> kept;
    for (const auto& tap : taps)
      if (tap.second != 0.0f) kept.push_back(tap);
    taps.swap(kept);
    if (!(taps.size() == 1 && taps[0].first == o && taps[0].second == 1.0f)) plan.identity = false;
  }
  if (in_len != out_len || crop) plan.identity = false;
  return plan;
}

// Resamples `x` (f32) along `axis` with `plan` into a new tensor.
Tensor resample_axis(const Tensor& x, int axis, const AxisPlan& plan) {
  Shape out = x.shape();
  const int64_t out_len = static_cast<int64_t>(plan.taps.size());
  out[axis] = out_len;
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d)
    outer *= x.shape()[d];
  for (int d = axis + 1; d < x.rank(); ++d)
    inner *= x.shape()[d];
  const int64_t in_len = x.shape()[axis];
  Tensor y(DType::f32, out);
  const float* px = x.data<float>();
  float* py = y.data_mutable<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < out_len; ++j) {
      float* dst = py + (o * out_len + j) * inner;
      std::fill(dst, dst + inner, 0.0f);
      for (const auto& [idx, w] : plan.taps[j]) {
        const float* src = px + (o * in_len + idx) * inner;
        for (int64_t i = 0; i < inner; ++i)
          dst[i] += w * src[i];
      }
    }
  return y;
}

} // namespace

void kernel_Resize(const Node& node, const std::vector<const Tensor*>& inputs,
                   std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "X");
  const int rank = x.rank();
  ResizeParams p;
  p.mode = node.attr_string("mode", "nearest");
  p.coord = node.attr_string("coordinate_transformation_mode", "half_pixel");
  p.nearest = node.attr_string("nearest_mode", "round_prefer_floor");
  p.cubic_a = node.attr_float("cubic_coeff_a", -0.75f);
  p.exclude_outside = node.attr_int("exclude_outside", 0) != 0;
  if (p.mode != "nearest" && p.mode != "linear" && p.mode != "cubic")
    fail(node, "mode must be nearest, linear or cubic, got '" + p.mode + "'");
  if (p.mode != "nearest" && x.dtype() != DType::f32)
    unsupported_dtype(node, "mode " + p.mode + " on " + dtype_name(x.dtype()),
                      "f32 (any dtype for mode nearest)");

  // Opset 10 has Resize(X, scales); later opsets Resize(X, roi, scales, sizes).
  const Tensor* roi = nullptr;
  const Tensor* scales_t = nullptr;
  const Tensor* sizes_t = nullptr;
  if (inputs.size() == 2) {
    scales_t = nonempty_input(inputs, 1);
  } else {
    roi = nonempty_input(inputs, 1);
    scales_t = nonempty_input(inputs, 2);
    sizes_t = nonempty_input(inputs, 3);
  }
  if ((scales_t == nullptr) == (sizes_t == nullptr))
    fail(node, "exactly one of scales and sizes must be given");

  std::vector<int> axes;
  if (node.has_attr("axes")) {
    axes = normalize_axes(node, node.attr_ints("axes"), rank);
  } else {
    for (int d = 0; d < rank; ++d)
      axes.push_back(d);
  }
  const size_t na = axes.size();
  std::vector<float> scale(rank, 1.0f), roi_start(rank, 0.0f), roi_end(rank, 1.0f);
  Shape out = x.shape();
  if (roi && p.coord == "tf_crop_and_resize") {
    if (roi->dtype() != DType::f32 || roi->numel() != static_cast<int64_t>(2 * na))
      fail(node, "roi must be f32 with " + std::to_string(2 * na) + " values, got " +
                     dtype_name(roi->dtype()) + shape_str(roi->shape()));
    for (size_t i = 0; i < na; ++i) {
      roi_start[axes[i]] = roi->data<float>()[i];
      roi_end[axes[i]] = roi->data<float>()[i + na];
    }
  }
  if (scales_t) {
    require_dtype(node, *scales_t, DType::f32, "scales");
    if (scales_t->numel() != static_cast<int64_t>(na))
      fail(node, "scales has " + std::to_string(scales_t->numel()) + " values, expected " +
                     std::to_string(na));
    for (size_t i = 0; i < na; ++i) {
      const int a = axes[i];
      scale[a] = scales_t->data<float>()[i];
      if (!(scale[a] > 0.0f)) fail(node, "scales must be positive");
      const float crop = p.coord == "tf_crop_and_resize" ? roi_end[a] - roi_start[a] : 1.0f;
      out[a] = static_cast<int64_t>(std::floor(static_cast<float>(x.shape()[a]) * crop * scale[a]));
    }
  } else {
    const std::vector<int64_t> sizes = read_ints(node, *sizes_t, "sizes");
    if (sizes.size() != na)
      fail(node,
           "sizes has " + std::to_string(sizes.size()) + " values, expected " + std::to_string(na));
    const std::string policy = node.attr_string("keep_aspect_ratio_policy", "stretch");
    if (policy == "stretch") {
      for (size_t i = 0; i < na; ++i) {
        out[axes[i]] = sizes[i];
        scale[axes[i]] = static_cast<float>(sizes[i]) / static_cast<float>(x.shape()[axes[i]]);
      }
    } else if (policy == "not_larger" || policy == "not_smaller") {
      float s = policy == "not_larger" ? std::numeric_limits<float>::max() : 0.0f;
      for (size_t i = 0; i < na; ++i) {
        const float r = static_cast<float>(sizes[i]) / static_cast<float>(x.shape()[axes[i]]);
        s = policy == "not_larger" ? std::min(s, r) : std::max(s, r);
      }
      for (size_t i = 0; i < na; ++i) {
        scale[axes[i]] = s;
        // Round half to even like the ONNX reference implementation.
        out[axes[i]] =
            static_cast<int64_t>(std::nearbyint(s * static_cast<float>(x.shape()[axes[i]])));
      }
    } else {
      fail(node, "keep_aspect_ratio_policy must be stretch, not_larger or not_smaller, got '" +
                     policy + "'");
    }
  }
  for (int d = 0; d < rank; ++d) {
    if (out[d] < 0) fail(node, "negative output size " + shape_str(out));
    if (out[d] > 0 && x.shape()[d] == 0)
      fail(node,
           "cannot resize axis " + std::to_string(d) + " of size 0 to " + std::to_string(out[d]));
  }
  if (node.attr_int("antialias", 0) != 0 && p.mode != "nearest")
    for (int d = 0; d < rank; ++d)
      if (out[d] < x.shape()[d])
        unsupported_feature(node, "antialias=1 when downsampling (axis " + std::to_string(d) + ")");

  std::vector<AxisPlan> plans(rank);
  for (int d = 0; d < rank; ++d)
    plans[d] = plan_axis(node, p, x.shape()[d], out[d], scale[d], roi_start[d], roi_end[d]);
  const float extrapolation = node.attr_float("extrapolation_value", 0.0f);

  if (p.mode == "nearest") {
    // Nearest is an index map per axis: any dtype, one pass.
    std::vector<std::vector<int64_t>> maps(rank);
    for (int d = 0; d < rank; ++d) {
      maps[d].resize(out[d]);
      for (int64_t o = 0; o < out[d]; ++o)
        maps[d][o] = plans[d].outside[o] ? -1 : plans[d].taps[o][0].first;
    }
    Tensor fill = Tensor::scalar(extrapolation);
    if (x.dtype() != DType::f32) fill = fill.cast(x.dtype());
    set_outputs(node, outputs, {gather_by_maps(x, out, maps, fill.raw())});
    return;
  }

  Tensor y = copy_reshaped(x, x.shape());
  for (int d = 0; d < rank; ++d)
    if (!plans[d].identity) y = resample_axis(y, d, plans[d]);
  if (p.coord == "tf_crop_and_resize") {
    // A point outside the crop box on any axis takes the extrapolation value.
    std::vector<std::vector<int64_t>> maps(rank);
    for (int d = 0; d < rank; ++d) {
      maps[d].resize(out[d]);
      for (int64_t o = 0; o < out[d]; ++o)
        maps[d][o] = plans[d].outside[o] ? -1 : o;
    }
    y = gather_by_maps(y, out, maps, &extrapolation);
  }
  set_outputs(node, outputs, {std::move(y)});
}

} // namespace ops
} // namespace shrink
