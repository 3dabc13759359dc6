// Reference kernels of QuantizeLinear and DequantizeLinear: per tensor, per axis and blocked
// (block_size > 0) parameters, u8/i8 quantized values (and i32 for dequantization, the bias form).
// Quantization divides in f32 and rounds half to even, as ONNX Runtime does, so the reference
// agrees bit for bit with the deployed model.

#include "kernel_util.h"

#include "shrink/ir/op_table.h"

#include <cmath>
#include <limits>

namespace shrink {
namespace ops {

using namespace kernels;

namespace {

// How the scale (and zero point) of a Q/DQ node map onto the elements of x. Element
// (o, j, i) of x seen as [outer, dim, inner] around `axis` uses parameter index(o, j, i).
struct QuantLayout {
  enum Kind { kPerTensor, kPerAxis, kBlocked } kind = kPerTensor;
  int64_t outer = 1, dim = 1, inner = 1, block = 0, blocks = 1;

  int64_t index(int64_t o, int64_t j, int64_t i) const {
    switch (kind) {
    case kPerTensor:
      return 0;
    case kPerAxis:
      return j;
    case kBlocked:
      return (o * blocks + j / block) * inner + i;
    }
    return 0;
  }
};

QuantLayout plan_layout(const Node& node, const Tensor& x, const Tensor& scale,
                        const Tensor* zero_point) {
  require_dtype(node, scale, DType::f32, "scale");
  QuantLayout l;
  const int64_t block = node.attr_int("block_size", 0);
  if (block < 0) fail(node, "block_size must not be negative");
  if (zero_point && zero_point->shape() != scale.shape() &&
      !(zero_point->numel() == 1 && scale.numel() == 1))
    fail(node, "zero point shape " + shape_str(zero_point->shape()) + " differs from scale shape " +
                   shape_str(scale.shape()));
  if (scale.numel() == 1 && (block == 0 || scale.rank() <= 1)) return l;
  if (x.rank() == 0) fail(node, "a scalar input needs a scalar scale");
  const int axis = normalize_axis(node, node.attr_int("axis", 1), x.rank());
  for (int d = 0; d < axis; ++d)
    l.outer *= x.shape()[d];
  l.dim = x.shape()[axis];
  for (int d = axis + 1; d < x.rank(); ++d)
    l.inner *= x.shape()[d];
  if (block > 0) {
    l.kind = QuantLayout::kBlocked;
    l.block = block;
    l.blocks = (l.dim + block - 1) / block;
    Shape want = x.shape();
    want[axis] = l.blocks;
    if (scale.shape() != want)
      fail(node, "blocked quantization with block_size " + std::to_string(block) + " on axis " +
                     std::to_string(axis) + " of " + shape_str(x.shape()) +
                     " needs a scale of shape " + shape_str(want) + ", got " +
                     shape_str(scale.shape()));
    return l;
  }
  if (scale.rank() != 1 || scale.numel() != l.dim)
    fail(node, "per-axis scale must have shape [" + std::to_string(l.dim) + "] (axis " +
                   std::to_string(axis) + " of " + shape_str(x.shape()) + "), got " +
                   shape_str(scale.shape()));
  l.kind = QuantLayout::kPerAxis;
  return l;
}

template <typename Q>
void quantize(const QuantLayout& l, const float* x, const float* scale, const Q* zp, Q* y) {
  constexpr float lo = static_cast<float>(std::numeric_limits<Q>::lowest());
  constexpr float hi = static_cast<float>(std::numeric_limits<Q>::max());
  int64_t f = 0;
  for (int64_t o = 0; o < l.outer; ++o)
    for (int64_t j = 0; j < l.dim; ++j)
      for (int64_t i = 0; i < l.inner; ++i, ++f) {
        const int64_t p = l.index(o, j, i);
        const float z = zp ? static_cast<float>(zp[p]) : 0.0f;
        // nearbyint uses the default rounding mode: to nearest, ties to even.
        float v = std::nearbyint(x[f] / scale[p]) + z;
        if (std::isnan(v)) v = z;
        v = v < lo ? lo : (v > hi ? hi : v);
        y[f] = static_cast<Q>(v);
      }
}

template <typename Q>
void dequantize(const QuantLayout& l, const Q* x, const float* scale, const Q* zp, float* y) {
  int64_t f = 0;
  for (int64_t o = 0; o < l.outer; ++o)
    for (int64_t j = 0; j < l.dim; ++j)
      for (int64_t i = 0; i < l.inner; ++i, ++f) {
        const int64_t p = l.index(o, j, i);
        const int64_t z = zp ? static_cast<int64_t>(zp[p]) : 0;
        y[f] = static_cast<float>(static_cast<int64_t>(x[f]) - z) * scale[p];
      }
}

QuantLayout with_total(QuantLayout l, const Tensor& x) {
  // Per tensor walks x as one flat run.
  if (l.kind == QuantLayout::kPerTensor) {
    l.outer = 1;
    l.dim = 1;
    l.inner = x.numel();
  }
  return l;
}

} // namespace

void kernel_QuantizeLinear(const Node& node, const std::vector<const Tensor*>& inputs,
                           std::vector<Tensor>& outputs) {
  const Tensor& x_in = required_input(node, inputs, 0, "x");
  const Tensor& scale = required_input(node, inputs, 1, "y_scale");
  const Tensor* zp = optional_input(inputs, 2);
  Tensor x = x_in;
  if (x_in.dtype() == DType::i32) {
    x = Tensor(DType::f32, x_in.shape());
    for (int64_t i = 0; i < x_in.numel(); ++i)
      x.data_mutable<float>()[i] = static_cast<float>(x_in.data<int32_t>()[i]);
  } else if (x_in.dtype() != DType::f32) {
    unsupported_dtype(node, std::string("x of dtype ") + dtype_name(x_in.dtype()), "f32, i32");
  }
  const DType qtype = zp ? zp->dtype() : DType::u8;
  const QuantLayout l = with_total(plan_layout(node, x, scale, zp), x);
  Tensor y(qtype, x.shape());
  if (qtype == DType::u8)
    quantize<uint8_t>(l, x.data<float>(), scale.data<float>(), zp ? zp->data<uint8_t>() : nullptr,
                      y.data_mutable<uint8_t>());
  else if (qtype == DType::i8)
    quantize<int8_t>(l, x.data<float>(), scale.data<float>(), zp ? zp->data<int8_t>() : nullptr,
                     y.data_mutable<int8_t>());
  else
    unsupported_dtype(node, std::string("zero point of dtype ") + dtype_name(qtype), "u8, i8");
  set_outputs(node, outputs, {std::move(y)});
}

void kernel_DequantizeLinear(const Node& node, const std::vector<const Tensor*>& inputs,
                             std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "x");
  const Tensor& scale = required_input(node, inputs, 1, "x_scale");
  const Tensor* zp = optional_input(inputs, 2);
  if (zp && zp->dtype() != x.dtype())
    unsupported_dtype(node,
                      std::string("x of dtype ") + dtype_name(x.dtype()) + " with zero point " +
                          dtype_name(zp->dtype()),
                      "a zero point of x's dtype");
  const QuantLayout l = with_total(plan_layout(node, x, scale, zp), x);
  Tensor y(DType::f32, x.shape());
  float* py = y.data_mutable<float>();
  const float* ps = scale.data<float>();
  switch (x.dtype()) {
  case DType::u8:
    dequantize<uint8_t>(l, x.data<uint8_t>(), ps, zp ? zp->data<uint8_t>() : nullptr, py);
    break;
  case DType::i8:
    dequantize<int8_t>(l, x.data<int8_t>(), ps, zp ? zp->data<int8_t>() : nullptr, py);
    break;
  case DType::i32:
    dequantize<int32_t>(l, x.data<int32_t>(), ps, zp ? zp->data<int32_t>() : nullptr, py);
    break;
  default:
    unsupported_dtype(node, std::string("x of dtype ") + dtype_name(x.dtype()), "u8, i8, i32");
  }
  set_outputs(node, outputs, {std::move(y)});
}

} // namespace ops
} // namespace shrink
