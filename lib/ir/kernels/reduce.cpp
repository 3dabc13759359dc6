// Reference kernels of ReduceSum, ReduceMean, ReduceMax, ReduceMin (axes as input or, in older
// opsets, as attribute; keepdims; noop_with_empty_axes) and ArgMax.

#include "kernel_util.h"

#include "shrink/ir/op_table.h"

#include <cmath>
#include <limits>

namespace shrink {
namespace ops {

using namespace kernels;

namespace {

enum class Reduce { Sum, Mean, Max, Min };

void reduce(const Node& node, const std::vector<const Tensor*>& inputs,
            std::vector<Tensor>& outputs, Reduce kind) {
  const Tensor& x = required_input(node, inputs, 0, "data");
  const int rank = x.rank();
  std::vector<int64_t> axes_raw;
  ints_from_input_or_attr(node, inputs, 1, "axes", axes_raw);
  if (axes_raw.empty() && node.attr_int("noop_with_empty_axes", 0) != 0) {
    set_outputs(node, outputs, {copy_reshaped(x, x.shape())});
    return;
  }
  std::vector<bool> reduced(rank, axes_raw.empty());
  for (int a : normalize_axes(node, axes_raw, rank))
    reduced[a] = true;
  const bool keepdims = node.attr_int("keepdims", 1) != 0;
  Shape kept(rank), out;
  int64_t count = 1;
  for (int d = 0; d < rank; ++d) {
    kept[d] = reduced[d] ? 1 : x.shape()[d];
    if (reduced[d]) count *= x.shape()[d];
    if (!reduced[d] || keepdims) out.push_back(kept[d]);
  }
  Tensor y = dispatch_numeric(node, x.dtype(), [&](auto tag) -> Tensor {
    using T = typename decltype(tag)::type;
    // Floats accumulate in double; integers in their own type, wrapping like numpy.
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;
    const int64_t n_out = shape_numel(kept);
    Acc init = Acc(0);
    if (kind == Reduce::Max)
      init = std::is_floating_point_v<T> ? -std::numeric_limits<Acc>::infinity()
                                         : static_cast<Acc>(std::numeric_limits<T>::lowest());
    if (kind == Reduce::Min)
      init = std::is_floating_point_v<T> ? std::numeric_limits<Acc>::infinity()
                                         : static_cast<Acc>(std::numeric_limits<T>::max());
    std::vector<Acc> acc(static_cast<size_t>(n_out), init);
    const T* px = x.data<T>();
    for_each_broadcast_row<1>(x.shape(), {kept},
                              [&](int64_t o, const auto& off, const auto& st, int64_t cnt) {
                                for (int64_t i = 0; i < cnt; ++i) {
                                  Acc& a = acc[off[0] + i * st[0]];
                                  const Acc v = static_cast<Acc>(px[o + i]);
                                  switch (kind) {
                                  case Reduce::Sum:
                                  case Reduce::Mean:
                                    if constexpr (std::is_floating_point_v<Acc>)
                                      a += v;
                                    else
                                      a = wrap_add(a, v);
                                    break;
                                  case Reduce::Max:
                                    if constexpr (std::is_floating_point_v<Acc>)
                                      a = (std::isnan(v) || v > a) ? v : a;
                                    else
                                      a = v > a ? v : a;
                                    break;
                                  case Reduce::Min:
                                    if constexpr (std::is_floating_point_v<Acc>)
                                      a = (std::isnan(v) || v < a) ? v : a;
                                    else
                                      a = v < a ? v : a;
                                    break;
                                  }
                                }
                              });
    Tensor r(x.dtype(), out);
    T* pr = r.data_mutable<T>();
    for (int64_t i = 0; i < n_out; ++i) {
      Acc v = acc[i];
      if (kind == Reduce::Mean) {
        if constexpr (std::is_floating_point_v<Acc>)
          v = v / static_cast<Acc>(count);
        else
          v = count > 0 ? static_cast<Acc>(v / count) : Acc(0);
      }
      pr[i] = static_cast<T>(v);
    }
    return r;
  });
  set_outputs(node, outputs, {std::move(y)});
}

} // namespace

void kernel_ReduceSum(const Node& node, const std::vector<const Tensor*>& inputs,
                      std::vector<Tensor>& outputs) {
  reduce(node, inputs, outputs, Reduce::Sum);
}

void kernel_ReduceMean(const Node& node, const std::vector<const Tensor*>& inputs,
                       std::vector<Tensor>& outputs) {
  reduce(node, inputs, outputs, Reduce::Mean);
}

void kernel_ReduceMax(const Node& node, const std::vector<const Tensor*>& inputs,
                      std::vector<Tensor>& outputs) {
  reduce(node, inputs, outputs, Reduce::Max);
}

void kernel_ReduceMin(const Node& node, const std::vector<const Tensor*>& inputs,
                      std::vector<Tensor>& outputs) {
  reduce(node, inputs, outputs, Reduce::Min);
}

void kernel_ArgMax(const Node& node, const std::vector<const Tensor*>& inputs,
                   std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "data");
  const int axis = normalize_axis(node, node.attr_int("axis", 0), x.rank());
  const bool keepdims = node.attr_int("keepdims", 1) != 0;
  const bool last = node.attr_int("select_last_index", 0) != 0;
  const int64_t dim = x.shape()[axis];
  if (dim == 0) fail(node, "cannot take ArgMax over an empty axis");
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d)
    outer *= x.shape()[d];
  for (int d = axis + 1; d < x.rank(); ++d)
    inner *= x.shape()[d];
  Shape out = x.shape();
  if (keepdims)
    out[axis] = 1;
  else
    out.erase(out.begin() + axis);
  Tensor y(DType::i64, out);
  int64_t* py = y.data_mutable<int64_t>();
  dispatch_numeric(node, x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = x.data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        const T* s = px + o * dim * inner + i;
        int64_t best = 0;
        for (int64_t j = 1; j < dim; ++j) {
          const T v = s[j * inner], b = s[best * inner];
          if (last ? v >= b : v > b) best = j;
        }
        py[o * inner + i] = best;
      }
  });
  set_outputs(node, outputs, {std::move(y)});
}

} // namespace ops
} // namespace shrink
