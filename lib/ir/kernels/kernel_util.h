#pragma once
// Helpers shared by the reference kernels in lib/ir/kernels/: error reporting that names the
// node, input access, axis normalization, numpy broadcasting, dtype dispatch and the f32 GEMM
// that Conv, ConvTranspose, Gemm and MatMul are built on. Internal to the IR library.

#include "shrink/core/error.h"
#include "shrink/core/tensor.h"
#include "shrink/ir/graph.h"

#include <array>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace shrink {
namespace kernels {

/// "node 'conv3' (Conv)".
std::string node_label(const Node& node);

/// Throws `Error("node 'n' (Op): message")`.
[[noreturn]] void fail(const Node& node, const std::string& message);

/// Throws `UnsupportedError` for a dtype combination the reference kernel does not implement.
/// `have` describes what was given ("inputs i8, f32"), `supported` what works ("f32, i32, i64").
[[noreturn]] void unsupported_dtype(const Node& node, const std::string& have,
                                    const std::string& supported);

/// Throws `UnsupportedError` for a feature (attribute value, mode) the kernel does not implement.
[[noreturn]] void unsupported_feature(const Node& node, const std::string& feature);

/// Input `i`, or nullptr when absent (beyond `inputs` or an explicit nullptr).
inline const Tensor* optional_input(const std::vector<const Tensor*>& inputs, size_t i) {
  return i < inputs.size() ? inputs[i] : nullptr;
}

/// Input `i`; throws naming the node and the input when it is absent.
const Tensor& required_input(const Node& node, const std::vector<const Tensor*>& inputs, size_t i,
                             const char* what);

/// Input `i` when present and non-empty, else nullptr (ONNX exporters write empty tensors for
/// omitted operands such as Resize's roi).
const Tensor* nonempty_input(const std::vector<const Tensor*>& inputs, size_t i);

/// `axis` in [-rank, rank) mapped to [0, rank); throws naming the node otherwise.
int normalize_axis(const Node& node, int64_t axis, int rank, const char* what = "axis");

/// Normalizes a list of axes and rejects duplicates.
std::vector<int> normalize_axes(const Node& node, const std::vector<int64_t>& axes, int rank,
                                const char* what = "axes");

/// The values of an i32 or i64 tensor (any shape) as int64.
std::vector<int64_t> read_ints(const Node& node, const Tensor& t, const char* what);

/// The single value of a one-element numeric tensor as double.
double read_scalar(const Node& node, const Tensor& t, const char* what);

/// Integer list operand that is an input (latest opsets) or an attribute (older opsets). Returns
/// false when neither is given; throws naming the node when both are.
bool ints_from_input_or_attr(const Node& node, const std::vector<const Tensor*>& inputs,
                             size_t input_index, const char* attr, std::vector<int64_t>& out);

/// Row-major strides (in elements) of a shape.
Shape strides_of(const Shape& shape);

/// The numpy broadcast of several shapes; throws naming the node when they do not broadcast.
Shape broadcast_shapes(const Node& node, const std::vector<Shape>& shapes);

/// Strides of `in` seen as `out` under broadcasting (0 on broadcast dimensions), aligned right.
Shape broadcast_strides(const Shape& in, const Shape& out);

/// Walks an output shape row by row (the last dimension is a row) and calls
/// `row(out_offset, in_offsets, in_row_strides, count)` where in_offsets are the element offsets
/// of each of the K inputs at the row start and in_row_strides their steps along the row.
template <size_t K, typename F>
void for_each_broadcast_row(const Shape& out, const std::array<Shape, K>& ins, F&& row) {
  const int rank = static_cast<int>(out.size());
  const int64_t total = shape_numel(out);
  if (total == 0) return;
  std::array<Shape, K> st;
  for (size_t k = 0; k < K; ++k)
    st[k] = broadcast_strides(ins[k], out);
  if (rank == 0) {
    std::array<int64_t, K> off{};
    std::array<int64_t, K> step{};
    row(int64_t{0}, off, step, int64_t{1});
    return;
  }
  const int64_t inner = out[rank - 1];
  std::array<int64_t, K> step;
  for (size_t k = 0; k < K; ++k)
    step[k] = st[k][rank - 1];
  std::vector<int64_t> idx(rank, 0);
  std::array<int64_t, K> off{};
  for (int64_t o = 0; o < total; o += inner) {
    row(o, off, step, inner);
    // Advance the multi-index over the outer dimensions, updating offsets incrementally.
    for (int d = rank - 2; d >= 0; --d) {
      if (++idx[d] < out[d]) {
        for (size_t k = 0; k < K; ++k)
          off[k] += st[k][d];
        break;
      }
      for (size_t k = 0; k < K; ++k)
        off[k] -= st[k][d] * (out[d] - 1);
      idx[d] = 0;
    }
  }
}

/// A dtype tag for generic lambdas: `[&](auto tag) { using T = decltype(tag); ... }`.
template <typename T> struct Tag { using type = T; };

/// Calls `f(Tag<T>{})` for f32, i32 and i64; anything else is `unsupported_dtype`.
template <typename F> decltype(auto) dispatch_numeric(const Node& node, DType dtype, F&& f) {
  switch (dtype) {
  case DType::f32:
    return f(Tag<float>{});
  case DType::i32:
    return f(Tag<int32_t>{});
  case DType::i64:
    return f(Tag<int64_t>{});
  default:
    unsupported_dtype(node, std::string("input dtype ") + dtype_name(dtype), "f32, i32, i64");
  }
}

/// Like `dispatch_numeric` but also u8, i8 and bool (for comparisons and data movement).
template <typename F> decltype(auto) dispatch_all(const Node& node, DType dtype, F&& f) {
  switch (dtype) {
  case DType::f32:
    return f(Tag<float>{});
  case DType::i32:
    return f(Tag<int32_t>{});
  case DType::i64:
    return f(Tag<int64_t>{});
  case DType::i8:
    return f(Tag<int8_t>{});
  case DType::u8:
    return f(Tag<uint8_t>{});
  case DType::boolean:
    return f(Tag<bool>{});
  default:
    unsupported_dtype(node, std::string("input dtype ") + dtype_name(dtype),
                      "f32, i32, i64, i8, u8, bool");
  }
}

/// Stores the computed values as the node's outputs: the first `node.num_outputs()` of `values`.
/// Throws naming the node when it has more outputs than the kernel computes.
void set_outputs(const Node& node, std::vector<Tensor>& outputs, std::vector<Tensor> values);

/// Throws unless `t` has dtype `want` (`what` names the operand).
void require_dtype(const Node& node, const Tensor& t, DType want, const char* what);

/// A deep copy of `t` with a new shape (element count must match).
Tensor copy_reshaped(const Tensor& t, const Shape& shape);

/// Copies elements of any dtype into a new tensor of shape `out`: output element (i_0, ..., i_r)
/// reads input element `base + sum_d i_d * in_steps[d]` (steps in elements; 0 repeats). Slice,
/// Transpose and Expand are this one loop.
Tensor strided_copy(const Tensor& x, const Shape& out, const Shape& in_steps, int64_t base);

/// Copies elements of any dtype into a new tensor of shape `out` where output index o along
/// dimension d reads input index `maps[d][o]`; -1 in any dimension writes `fill` (one element of
/// the dtype, or zeros when null). Pad and Tile are this loop.
Tensor gather_by_maps(const Tensor& x, const Shape& out,
                      const std::vector<std::vector<int64_t>>& maps, const void* fill);

/// Row-major single-precision GEMM: C = alpha * op(A) * op(B) + beta * C, where op(A) is m x k
/// and op(B) is k x n. `lda`, `ldb`, `ldc` are the row strides of the stored matrices. With
/// beta == 0, C is not read (NaN in C does not propagate).
void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
              int64_t ldc);

/// Resolves spatial padding for Conv/pooling-like ops: `pads` (begin..., end...) from the
/// attribute or from `auto_pad` given input sizes, effective kernel extents and strides.
/// Returns begin and end pads for each spatial dimension.
void resolve_pads(const Node& node, const Shape& in_spatial, const std::vector<int64_t>& kernel,
                  const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations,
                  std::vector<int64_t>& pad_begin, std::vector<int64_t>& pad_end);

/// Integer arithmetic that wraps on overflow like numpy (signed overflow is undefined in C++).
template <typename T> T wrap_add(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
}
template <typename T> T wrap_sub(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
}
template <typename T> T wrap_mul(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
}

} // namespace kernels
} // namespace shrink
