// Reference kernels of Gemm and MatMul (numpy matmul semantics with batch broadcasting), on the
// blocked f32 GEMM of gemm.cpp. Integer MatMul uses a plain loop: it only appears in shape
// arithmetic and is never large.

#include "kernel_util.h"

#include "shrink/ir/op_table.h"

#include <algorithm>

namespace shrink {
namespace ops {

using namespace kernels;

namespace {

template <typename T>
void int_matmul(int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      T acc = 0;
      for (int64_t p = 0; p < k; ++p)
        acc = wrap_add(acc, wrap_mul(a[i * k + p], b[p * n + j]));
      c[i * n + j] = acc;
    }
}

} // namespace

void kernel_Gemm(const Node& node, const std::vector<const Tensor*>& inputs,
                 std::vector<Tensor>& outputs) {
  const Tensor& a = required_input(node, inputs, 0, "A");
  const Tensor& b = required_input(node, inputs, 1, "B");
  const Tensor* c = optional_input(inputs, 2);
  require_dtype(node, a, DType::f32, "input A");
  require_dtype(node, b, DType::f32, "input B");
  if (c) require_dtype(node, *c, DType::f32, "input C");
  if (a.rank() != 2 || b.rank() != 2)
    fail(node, "A and B must be 2-D, got " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
  const bool ta = node.attr_int("transA", 0) != 0;
  const bool tb = node.attr_int("transB", 0) != 0;
  const float alpha = node.attr_float("alpha", 1.0f);
  const float beta = node.attr_float("beta", 1.0f);
  const int64_t m = ta ? a.shape()[1] : a.shape()[0];
  const int64_t k = ta ? a.shape()[0] : a.shape()[1];
  const int64_t kb = tb ? b.shape()[1] : b.shape()[0];
  const int64_t n = tb ? b.shape()[0] : b.shape()[1];
  if (k != kb)
    fail(node, "inner dimensions differ: A " + shape_str(a.shape()) + (ta ? " (transposed)" : "") +
                   " and B " + shape_str(b.shape()) + (tb ? " (transposed)" : ""));
  Tensor y(DType::f32, {m, n});
  float* py = y.data_mutable<float>();
  float gemm_beta = 0.0f;
  if (c && beta != 0.0f) {
    // C broadcasts one way, to [M, N].
    const Shape out{m, n};
    if (broadcast_shapes(node, {c->shape(), out}) != out || c->rank() > 2)
      fail(node,
           "C of shape " + shape_str(c->shape()) + " does not broadcast to " + shape_str(out));
    const float* pc = c->data<float>();
    for_each_broadcast_row<1>(out, {c->shape()},
                              [&](int64_t o, const auto& off, const auto& st, int64_t cnt) {
                                for (int64_t i = 0; i < cnt; ++i)
                                  py[o + i] = beta * pc[off[0] + i * st[0]];
                              });
    gemm_beta = 1.0f;
  }
  gemm_f32(ta, tb, m, n, k, alpha, a.data<float>(), a.shape()[1], b.data<float>(), b.shape()[1],
           gemm_beta, py, n);
  set_outputs(node, outputs, {std::move(y)});
}

void kernel_MatMul(const Node& node, const std::vector<const Tensor*>& inputs,
                   std::vector<Tensor>& outputs) {
  const Tensor& a = required_input(node, inputs, 0, "A");
  const Tensor& b = required_input(node, inputs, 1, "B");
  if (a.dtype() != b.dtype())
    unsupported_dtype(node,
                      std::string("inputs ") + dtype_name(a.dtype()) + ", " + dtype_name(b.dtype()),
                      "both inputs of the same dtype (f32, i32, i64)");
  if (a.rank() == 0 || b.rank() == 0) fail(node, "inputs must have rank >= 1 (no scalars)");
  // numpy: a 1-D A is a row vector, a 1-D B a column vector; the added dimension is dropped.
  Shape sa = a.shape(), sb = b.shape();
  if (a.rank() == 1) sa.insert(sa.begin(), 1);
  if (b.rank() == 1) sb.push_back(1);
  const int64_t m = sa[sa.size() - 2], k = sa.back();
  const int64_t kb = sb[sb.size() - 2], n = sb.back();
  if (k != kb)
    fail(node, "inner dimensions differ: " + shape_str(a.shape()) + " x " + shape_str(b.shape()));
  const Shape batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
  const Shape batch = broadcast_shapes(node, {batch_a, batch_b});
  Shape out = batch;
  if (a.rank() > 1) out.push_back(m);
  if (b.rank() > 1) out.push_back(n);
  Tensor y(a.dtype(), out);
  if (y.numel() == 0) {
    set_outputs(node, outputs, {std::move(y)});
    return;
  }
  dispatch_numeric(node, a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* py = y.data_mutable<T>();
    const int64_t batch_count = shape_numel(batch);
    if constexpr (std::is_same_v<T, float>) {
      // A batched A against one B is one tall GEMM: the common x @ W of linear layers.
      if (batch_b.empty() || shape_numel(batch_b) == 1) {
        if (batch_a == batch) {
          gemm_f32(false, false, batch_count * m, n, k, 1.0f, pa, k, pb, n, 0.0f, py, n);
          return;
        }
      }
    }
    for_each_broadcast_row<2>(
        batch, {batch_a, batch_b}, [&](int64_t o, const auto& off, const auto& st, int64_t cnt) {
          for (int64_t i = 0; i < cnt; ++i) {
            const T* ma = pa + (off[0] + i * st[0]) * m * k;
            const T* mb = pb + (off[1] + i * st[1]) * k * n;
            T* mc = py + (o + i) * m * n;
            if constexpr (std::is_same_v<T, float>)
              gemm_f32(false, false, m, n, k, 1.0f, ma, k, mb, n, 0.0f, mc, n);
            else
              int_matmul(m, n, k, ma, mb, mc);
          }
        });
  });
  set_outputs(node, outputs, {std::move(y)});
}

} // namespace ops
} // namespace shrink
