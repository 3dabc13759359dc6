// Shape inference for elementwise, broadcasting, reduction, softmax, cast and quantization ops.
#include "shape_inference_detail.h"

#include <numeric>

namespace shrink {
namespace ops {

using namespace shape_detail;

namespace {

// Output type equals the input type (activations, unary math, Identity, Clip).
std::vector<TensorType> same_as_input(const Node& node) {
  return one(input_type(node, 0));
}

// Arithmetic with numpy broadcasting: same element type in, same out.
std::vector<TensorType> arithmetic(const Node& node) {
  std::vector<int> all(static_cast<size_t>(node.num_inputs()));
  std::iota(all.begin(), all.end(), 0);
  require_same_dtype(node, all);
  return one(broadcast_inputs(node, all, input_type(node, 0).dtype));
}

// Comparisons: same element type in, bool out.
std::vector<TensorType> comparison(const Node& node) {
  require_same_dtype(node, {0, 1});
  return one(broadcast_inputs(node, {0, 1}, DType::boolean));
}

std::vector<TensorType> logical(const Node& node) {
  require_dtype(node, 0, DType::boolean, "operand");
  require_dtype(node, 1, DType::boolean, "operand");
  return one(broadcast_inputs(node, {0, 1}, DType::boolean));
}

// Softmax and LogSoftmax keep the shape; the axis only has to be valid.
std::vector<TensorType> softmax_like(const Node& node) {
  const TensorType& x = input_type(node, 0);
  if (x.ranked()) normalize_axis(node, node.attr_int("axis", -1), x.rank());
  return one(x);
}

// ReduceMax/Mean/Min/Sum: axes as attribute (before opset 18; 13 for ReduceSum) or input 1.
std::vector<TensorType> reduce(const Node& node) {
  const TensorType& x = input_type(node, 0);
  bool keepdims = node.attr_int("keepdims", 1) != 0;
  bool noop = node.attr_int("noop_with_empty_axes", 0) != 0;
  IntList axes = int_list(node, 1, "axes");
  if (!x.ranked()) return one(TensorType::unranked(x.dtype));
  int r = x.rank();
  if (axes.unknown()) {
    if (keepdims) return one(ranked(x.dtype, unknown_dims(r)));
    if (axes.length >= 0) {
      if (axes.length > r)
        fail(node, "axes input has " + std::to_string(axes.length) + " entries for rank " +
                       std::to_string(r));
      return one(ranked(x.dtype, unknown_dims(r - static_cast<int>(axes.length))));
    }
    return one(TensorType::unranked(x.dtype));
  }
  std::vector<bool> reduced(static_cast<size_t>(r), false);
  if (axes.absent() || axes.values.empty()) {
    if (noop) return one(x);
    reduced.assign(static_cast<size_t>(r), true);
  } else {
    for (int a : normalize_axes(node, axes.values, r))
      reduced[a] = true;
  }
  Dims out;
  for (int i = 0; i < r; ++i) {
    if (!reduced[i])
      out.push_back((*x.dims)[i]);
    else if (keepdims)
      out.push_back(Dim::known(1));
  }
  return one(ranked(x.dtype, std::move(out)));
}

// Per-tensor or per-axis scale / zero point of QuantizeLinear and DequantizeLinear.
void check_quant_params(const Node& node) {
  const TensorType& x = input_type(node, 0);
  const TensorType& scale = input_type(node, 1);
  if (has_input(node, 2)) {
    const TensorType& zp = input_type(node, 2);
    if (scale.ranked() && zp.ranked()) {
      if (scale.rank() != zp.rank())
        fail(node,
             "scale " + scale.str() + " and zero point " + zp.str() + " must have the same shape");
      for (int i = 0; i < scale.rank(); ++i)
        merge_dim(node, (*scale.dims)[i], (*zp.dims)[i],
                  "scale and zero point differ in dimension " + std::to_string(i));
    }
  }
  // Blocked quantization (block_size > 0) gives the scale the input's rank; nothing to check
  // beyond what the kernel checks against concrete shapes.
  if (node.attr_int("block_size", 0) > 0 || !scale.ranked()) return;
  if (scale.rank() > 1)
    fail(node, "scale must be a scalar (per tensor) or 1-D (per axis), got " + scale.str());
  if (scale.rank() == 0 || !x.ranked()) return;
  const Dim& len = (*scale.dims)[0];
  int axis = normalize_axis(node, node.attr_int("axis", 1), x.rank());
  const Dim& channels = (*x.dims)[axis];
  if (len.is_known() && len.value != 1 && channels.is_known() && len.value != channels.value)
    fail(node, "per-axis scale has " + std::to_string(len.value) + " entries but axis " +
                   std::to_string(axis) + " of " + x.str() + " has " +
                   std::to_string(channels.value));
}

} // namespace

std::vector<TensorType> infer_Abs(const Node& node) {
  return same_as_input(node);
}
std::vector<TensorType> infer_Ceil(const Node& node) {
  return same_as_input(node);
}
std::vector<TensorType> infer_Cos(const Node& node) {
  return same_as_input(node);
}
std::vector<TensorType> infer_Erf(const Node& node) {
  return same_as_input(node);
}
std::vector<TensorType> infer_Exp(const Node& node) {
  return same_as_input(node);
}
std::vector<TensorType> infer_Floor(const Node& node) {
  return same_as_input(node);
}
std::vector<TensorType> infer_Gelu(const Node& node) {
  return same_as_input(node);
}
std::vector<TensorType> infer_HardSigmoid(const Node& node) {
  return same_as_input(node);
}
std::vector<TensorType> infer_HardSwish(const Node& node) {
  return same_as_input(node);
}
std::vector<TensorType> infer_Identity(const Node& node) {
  return same_as_input(node);
}
std::vector<TensorType> infer_LeakyRelu(const Node& node) {
  return same_as_input(node);
}
std::vector<TensorType> infer_Log(const Node& node) {
  return same_as_input(node);
}
std::vector<TensorType> infer_Neg(const Node& node) {
  return same_as_input(node);
}
std::vector<TensorType> infer_Reciprocal(const Node& node) {
  return same_as_input(node);
}
std::vector<TensorType> infer_Relu(const Node& node) {
  return same_as_input(node);
}
std::vector<TensorType> infer_Sigmoid(const Node& node) {
  return same_as_input(node);
}
std::vector<TensorType> infer_Sin(const Node& node) {
  return same_as_input(node);
}
std::vector<TensorType> infer_Sqrt(const Node& node) {
  return same_as_input(node);
}
std::vector<TensorType> infer_Tanh(const Node& node) {
  return same_as_input(node);
}

std::vector<TensorType> infer_Not(const Node& node) {
  require_dtype(node, 0, DType::boolean, "operand");
  return same_as_input(node);
}

std::vector<TensorType> infer_Clip(const Node& node) {
  // min/max are attributes before opset 11 and optional scalar inputs after.
  require_same_dtype(node, {0, 1, 2});
  for (int i : {1, 2}) {
    if (!has_input(node, i)) continue;
    const TensorType& t = input_type(node, i);
    if (t.ranked() && t.rank() > 1)
      fail(node, std::string(i == 1 ? "min" : "max") + " must be a scalar, got " + t.str());
  }
  return same_as_input(node);
}

std::vector<TensorType> infer_Dropout(const Node& node) {
  const TensorType& x = input_type(node, 0);
  std::vector<TensorType> out{x};
  if (node.num_outputs() > 1) out.push_back(TensorType{DType::boolean, x.dims});
  return out;
}

std::vector<TensorType> infer_Trilu(const Node& node) {
  const TensorType& x = input_type(node, 0);
  if (x.ranked() && x.rank() < 2) fail(node, "input must have rank >= 2, got " + x.str());
  if (has_input(node, 1)) {
    const TensorType& k = input_type(node, 1);
    if (k.ranked() && k.rank() != 0) fail(node, "k must be a scalar, got " + k.str());
  }
  return one(x);
}

std::vector<TensorType> infer_Add(const Node& node) {
  return arithmetic(node);
}
std::vector<TensorType> infer_Sub(const Node& node) {
  return arithmetic(node);
}
std::vector<TensorType> infer_Mul(const Node& node) {
  return arithmetic(node);
}
std::vector<TensorType> infer_Div(const Node& node) {
  return arithmetic(node);
}
std::vector<TensorType> infer_Max(const Node& node) {
  return arithmetic(node);
}
std::vector<TensorType> infer_Min(const Node& node) {
  return arithmetic(node);
}
std::vector<TensorType> infer_Sum(const Node& node) {
  return arithmetic(node);
}

std::vector<TensorType> infer_Pow(const Node& node) {
  // The exponent may have another element type (ONNX T1); the result has the base's.
  return one(broadcast_inputs(node, {0, 1}, input_type(node, 0).dtype));
}

std::vector<TensorType> infer_Equal(const Node& node) {
  return comparison(node);
}
std::vector<TensorType> infer_Less(const Node& node) {
  return comparison(node);
}
std::vector<TensorType> infer_Greater(const Node& node) {
  return comparison(node);
}
std::vector<TensorType> infer_And(const Node& node) {
  return logical(node);
}
std::vector<TensorType> infer_Or(const Node& node) {
  return logical(node);
}

std::vector<TensorType> infer_Where(const Node& node) {
  require_dtype(node, 0, DType::boolean, "condition");
  require_same_dtype(node, {1, 2});
  return one(broadcast_inputs(node, {0, 1, 2}, input_type(node, 1).dtype));
}

std::vector<TensorType> infer_Softmax(const Node& node) {
  return softmax_like(node);
}
std::vector<TensorType> infer_LogSoftmax(const Node& node) {
  return softmax_like(node);
}

std::vector<TensorType> infer_ArgMax(const Node& node) {
  const TensorType& x = input_type(node, 0);
  if (!x.ranked()) return one(TensorType::unranked(DType::i64));
  int axis = normalize_axis(node, node.attr_int("axis", 0), x.rank());
  Dims out = *x.dims;
  if (node.attr_int("keepdims", 1) != 0)
    out[axis] = Dim::known(1);
  else
    out.erase(out.begin() + axis);
  return one(ranked(DType::i64, std::move(out)));
}

std::vector<TensorType> infer_ReduceMax(const Node& node) {
  return reduce(node);
}
std::vector<TensorType> infer_ReduceMean(const Node& node) {
  return reduce(node);
}
std::vector<TensorType> infer_ReduceMin(const Node& node) {
  return reduce(node);
}
std::vector<TensorType> infer_ReduceSum(const Node& node) {
  return reduce(node);
}

std::vector<TensorType> infer_Cast(const Node& node) {
  if (!node.has_attr("to")) fail(node, "attribute 'to' is required");
  int64_t to = node.attr_int("to", 0);
  DType dtype;
  try {
    dtype = dtype_from_onnx(static_cast<int>(to));
  } catch (const Error& e) {
    fail(node, e.what());
  }
  return one(TensorType{dtype, input_type(node, 0).dims});
}

std::vector<TensorType> infer_QuantizeLinear(const Node& node) {
  check_quant_params(node);
  DType out = has_input(node, 2) ? input_type(node, 2).dtype : DType::u8;
  if (out != DType::u8 && out != DType::i8 && out != DType::i32)
    fail(node, std::string("zero point must be u8, i8 or i32, got ") + dtype_name(out));
  return one(TensorType{out, input_type(node, 0).dims});
}

std::vector<TensorType> infer_DequantizeLinear(const Node& node) {
  check_quant_params(node);
  return one(TensorType{DType::f32, input_type(node, 0).dims});
}

} // namespace ops
} // namespace shrink
