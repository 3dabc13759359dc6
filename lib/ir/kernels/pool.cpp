// Reference kernels of AveragePool, MaxPool and GlobalAveragePool for any number of spatial
// dimensions, with padding, dilation, ceil_mode and count_include_pad as ONNX specifies them.

#include "kernel_util.h"

#include "shrink/ir/op_table.h"

#include <algorithm>
#include <limits>

namespace shrink {
namespace ops {

using namespace kernels;

namespace {

// Per spatial dimension and output index: the input positions under the window (inside the
// input), and how many window taps fall inside the padded input (for count_include_pad).
struct PoolPlan {
  int dims = 0;
  Shape in, out;
  std::vector<std::vector<std::vector<int64_t>>> taps; // [dim][out index] -> input positions
  std::vector<std::vector<int64_t>> padded_count;      // [dim][out index]
  int64_t in_size = 1, out_size = 1;
};

PoolPlan plan_pool(const Node& node, const Tensor& x) {
  if (x.rank() < 3)
    fail(node, "input X must be [N, C, spatial...] with at least one spatial dimension, got " +
                   shape_str(x.shape()));
  PoolPlan p;
  p.dims = x.rank() - 2;
  p.in.assign(x.shape().begin() + 2, x.shape().end());
  if (!node.has_attr("kernel_shape")) fail(node, "attribute 'kernel_shape' is required");
  const std::vector<int64_t> kernel = node.attr_ints("kernel_shape");
  const std::vector<int64_t> strides = node.attr_ints("strides", std::vector<int64_t>(p.dims, 1));
  const std::vector<int64_t> dilations =
      node.attr_ints("dilations", std::vector<int64_t>(p.dims, 1));
  for (const std::vector<int64_t>* v : {&kernel, &strides, &dilations}) {
    if (static_cast<int>(v->size()) != p.dims)
      fail(node, "kernel_shape, strides and dilations need one value per spatial dimension (" +
                     std::to_string(p.dims) + ")");
    for (int64_t e : *v)
      if (e < 1) fail(node, "kernel_shape, strides and dilations must be positive");
  }
  std::vector<int64_t> pb, pe;
  resolve_pads(node, p.in, kernel, strides, dilations, pb, pe);
  const bool ceil_mode = node.attr_int("ceil_mode", 0) != 0;
  p.out.resize(p.dims);
  p.taps.resize(p.dims);
  p.padded_count.resize(p.dims);
  for (int d = 0; d < p.dims; ++d) {
    const int64_t extent = (kernel[d] - 1) * dilations[d] + 1;
    const int64_t span = p.in[d] + pb[d] + pe[d] - extent;
    if (span < 0)
      fail(node, "the window extent " + std::to_string(extent) +
                     " is larger than the padded input in spatial dimension " + std::to_string(d));
    int64_t out = (ceil_mode ? (span + strides[d] - 1) / strides[d] : span / strides[d]) + 1;
    // A window that would start in the end padding is dropped (PyTorch and the ONNX spec).
    if (ceil_mode && (out - 1) * strides[d] >= p.in[d] + pb[d]) --out;
    p.out[d] = out;
    p.taps[d].resize(out);
    p.padded_count[d].resize(out);
    for (int64_t o = 0; o < out; ++o) {
      const int64_t start = o * strides[d] - pb[d];
      int64_t padded = 0;
      for (int64_t k = 0; k < kernel[d]; ++k) {
        const int64_t pos = start + k * dilations[d];
        if (pos >= -pb[d] && pos < p.in[d] + pe[d]) ++padded;
        if (pos >= 0 && pos < p.in[d]) p.taps[d][o].push_back(pos);
      }
      p.padded_count[d][o] = padded;
    }
    p.in_size *= p.in[d];
    p.out_size *= p.out[d];
  }
  return p;
}

// Calls f(output offset within a channel, input offsets within a channel under the window,
// padded tap count) for every output position.
template <typename F> void for_each_window(const PoolPlan& p, F&& f) {
  const Shape in_strides = strides_of(p.in);
  std::vector<int64_t> o(p.dims, 0);
  std::vector<int64_t> offsets;
  for (int64_t flat = 0; flat < p.out_size; ++flat) {
    offsets.assign(1, 0);
    int64_t padded = 1;
    for (int d = 0; d < p.dims; ++d) {
      const std::vector<int64_t>& taps = p.taps[d][o[d]];
      padded *= p.padded_count[d][o[d]];
      std::vector<int64_t> next;
      next.reserve(offsets.size() * taps.size());
      for (int64_t base : offsets)
        for (int64_t t : taps)
          next.push_back(base + t * in_strides[d]);
      offsets.swap(next);
    }
    f(flat, offsets, padded);
    for (int d = p.dims - 1; d >= 0; --d) {
      if (++o[d] < p.out[d]) break;
      o[d] = 0;
    }
  }
}

Shape pooled_shape(const Tensor& x, const Shape& spatial) {
  Shape s{x.shape()[0], x.shape()[1]};
  s.insert(s.end(), spatial.begin(), spatial.end());
  return s;
}

} // namespace

void kernel_AveragePool(const Node& node, const std::vector<const Tensor*>& inputs,
                        std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "X");
  require_dtype(node, x, DType::f32, "input X");
  const PoolPlan p = plan_pool(node, x);
  const bool include_pad = node.attr_int("count_include_pad", 0) != 0;
  Tensor y(DType::f32, pooled_shape(x, p.out));
  const int64_t planes = x.shape()[0] * x.shape()[1];
  const float* px = x.data<float>();
  float* py = y.data_mutable<float>();
  for_each_window(p, [&](int64_t o, const std::vector<int64_t>& offs, int64_t padded) {
    const int64_t count = include_pad ? padded : static_cast<int64_t>(offs.size());
    for (int64_t c = 0; c < planes; ++c) {
      const float* xc = px + c * p.in_size;
      double sum = 0.0;
      for (int64_t off : offs)
        sum += xc[off];
      // A window entirely in the padding averages nothing; 0 avoids a NaN from 0/0.
      py[c * p.out_size + o] = count > 0 ? static_cast<float>(sum / count) : 0.0f;
    }
  });
  set_outputs(node, outputs, {std::move(y)});
}

void kernel_MaxPool(const Node& node, const std::vector<const Tensor*>& inputs,
                    std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "X");
  const PoolPlan p = plan_pool(node, x);
  const bool col_major = node.attr_int("storage_order", 0) != 0;
  const int64_t planes = x.shape()[0] * x.shape()[1];
  Tensor y(x.dtype(), pooled_shape(x, p.out));
  Tensor indices(DType::i64, pooled_shape(x, p.out));
  int64_t* pi = indices.data_mutable<int64_t>();
  // Indices flatten the whole input (batch and channel included); storage_order 1 orders the
  // spatial part column-major.
  const Shape in_strides = strides_of(p.in);
  Shape col_strides(p.dims, 1);
  for (int d = 1; d < p.dims; ++d)
    col_strides[d] = col_strides[d - 1] * p.in[d - 1];
  auto to_index = [&](int64_t off) {
    if (!col_major) return off;
    int64_t idx = 0;
    for (int d = 0; d < p.dims; ++d) {
      idx += (off / in_strides[d]) * col_strides[d];
      off %= in_strides[d];
    }
    return idx;
  };
  auto run = [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = x.data<T>();
    T* py = y.data_mutable<T>();
    for_each_window(p, [&](int64_t o, const std::vector<int64_t>& offs, int64_t) {
      for (int64_t c = 0; c < planes; ++c) {
        const T* xc = px + c * p.in_size;
        T best = std::numeric_limits<T>::lowest();
        if constexpr (std::is_floating_point_v<T>) best = -std::numeric_limits<T>::infinity();
        int64_t best_off = offs.empty() ? 0 : offs[0];
        for (int64_t off : offs)
          if (xc[off] > best) {
            best = xc[off];
            best_off = off;
          }
        py[c * p.out_size + o] = best;
        pi[c * p.out_size + o] = c * p.in_size + to_index(best_off);
      }
    });
  };
  switch (x.dtype()) {
  case DType::f32:
    run(Tag<float>{});
    break;
  case DType::u8:
    run(Tag<uint8_t>{});
    break;
  case DType::i8:
    run(Tag<int8_t>{});
    break;
  default:
    unsupported_dtype(node, std::string("input X of dtype ") + dtype_name(x.dtype()),
                      "f32, u8, i8");
  }
  set_outputs(node, outputs, {std::move(y), std::move(indices)});
}

void kernel_GlobalAveragePool(const Node& node, const std::vector<const Tensor*>& inputs,
                              std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "X");
  require_dtype(node, x, DType::f32, "input X");
  if (x.rank() < 3) fail(node, "input X must be [N, C, spatial...], got " + shape_str(x.shape()));
  Shape out{x.shape()[0], x.shape()[1]};
  out.resize(x.shape().size(), 1);
  const int64_t planes = x.shape()[0] * x.shape()[1];
  const int64_t size = planes > 0 ? x.numel() / planes : 0;
  Tensor y(DType::f32, out);
  const float* px = x.data<float>();
  float* py = y.data_mutable<float>();
  for (int64_t c = 0; c < planes; ++c) {
    double sum = 0.0;
    for (int64_t i = 0; i < size; ++i)
      sum += px[c * size + i];
    py[c] = size > 0 ? static_cast<float>(sum / size) : std::numeric_limits<float>::quiet_NaN();
  }
  set_outputs(node, outputs, {std::move(y)});
}

} // namespace ops
} // namespace shrink
