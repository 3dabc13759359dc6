// Reference kernels of data-movement and shape operators. They copy bytes, so they work for every
// dtype (f16 and bf16 included); outputs never share storage with inputs, so a caller may write
// into an output without changing a graph initializer.

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

// Reads a shape operand and rejects negative sizes (reshape's -1 is handled by Reshape itself).
Shape read_shape(const Node& node, const Tensor& t, const char* what) {
  if (t.rank() > 1) fail(node, std::string(what) + " must be 1-D, got " + shape_str(t.shape()));
  return read_ints(node, t, what);
}

} // namespace

void kernel_Concat(const Node& node, const std::vector<const Tensor*>& inputs,
                   std::vector<Tensor>& outputs) {
  if (inputs.empty()) fail(node, "needs at least one input");
  const Tensor& first = required_input(node, inputs, 0, "inputs");
  if (!node.has_attr("axis")) fail(node, "attribute 'axis' is required");
  const int rank = first.rank();
  const int axis = normalize_axis(node, node.attr_int("axis", 0), rank);
  Shape out = first.shape();
  out[axis] = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = required_input(node, inputs, i, "inputs");
    if (t.dtype() != first.dtype())
      unsupported_dtype(node,
                        std::string("inputs of dtypes ") + dtype_name(first.dtype()) + " and " +
                            dtype_name(t.dtype()),
                        "all inputs of the same dtype");
    bool fits = t.rank() == rank;
    for (int d = 0; fits && d < rank; ++d)
      fits = d == axis || t.shape()[d] == first.shape()[d];
    if (!fits)
      fail(node, "input " + std::to_string(i) + " has shape " + shape_str(t.shape()) +
                     ", which does not match " + shape_str(first.shape()) + " outside axis " +
                     std::to_string(axis));
    out[axis] += t.shape()[axis];
  }
  Tensor y(first.dtype(), out);
  const size_t es = dtype_size(first.dtype());
  int64_t outer = 1;
  for (int d = 0; d < axis; ++d)
    outer *= out[d];
  const int64_t out_row = y.numel() / std::max<int64_t>(outer, 1);
  char* dst = static_cast<char*>(y.raw_mutable());
  int64_t col = 0;
  for (const Tensor* t : inputs) {
    const int64_t row = outer > 0 ? t->numel() / outer : 0;
    const char* src = static_cast<const char*>(t->raw());
    for (int64_t o = 0; o < outer && row > 0; ++o)
      std::memcpy(dst + (o * out_row + col) * es, src + o * row * es,
                  static_cast<size_t>(row) * es);
    col += row;
  }
  set_outputs(node, outputs, {std::move(y)});
}

void kernel_Constant(const Node& node, const std::vector<const Tensor*>& inputs,
                     std::vector<Tensor>& outputs) {
  static const char* const kKinds[] = {"value", "value_float", "value_floats", "value_int",
                                       "value_ints"};
  int given = 0;
  for (const char* k : kKinds)
    given += node.has_attr(k) ? 1 : 0;
  if (given != 1)
    fail(node, "needs exactly one of the attributes value, value_float, value_floats, value_int, "
               "value_ints (has " +
                   std::to_string(given) + ")");
  Tensor y;
  if (node.has_attr("value")) {
    const Tensor& v = node.attr_tensor("value");
    y = copy_reshaped(v, v.shape());
    y.set_quant(v.quant());
  } else if (node.has_attr("value_float")) {
    y = Tensor::scalar(node.attr_float("value_float", 0.0f));
  } else if (node.has_attr("value_floats")) {
    std::vector<float> v = node.attr_floats("value_floats");
    y = Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
  } else if (node.has_attr("value_int")) {
    y = Tensor::from_vector<int64_t>({}, {node.attr_int("value_int", 0)});
  } else {
    std::vector<int64_t> v = node.attr_ints("value_ints");
    y = Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
  }
  set_outputs(node, outputs, {std::move(y)});
}

void kernel_ConstantOfShape(const Node& node, const std::vector<const Tensor*>& inputs,
                            std::vector<Tensor>& outputs) {
  const Shape shape = read_shape(node, required_input(node, inputs, 0, "input"), "shape");
  for (int64_t d : shape)
    if (d < 0) fail(node, "shape " + shape_str(shape) + " has a negative dimension");
  Tensor value = Tensor::scalar(0.0f);
  if (node.has_attr("value")) {
    value = node.attr_tensor("value");
    if (value.numel() != 1)
      fail(node, "value must hold exactly one element, got shape " + shape_str(value.shape()));
  }
  Tensor y(value.dtype(), shape);
  const size_t es = dtype_size(value.dtype());
  char* dst = static_cast<char*>(y.raw_mutable());
  for (int64_t i = 0, n = y.numel(); i < n; ++i)
    std::memcpy(dst + i * es, value.raw(), es);
  set_outputs(node, outputs, {std::move(y)});
}

void kernel_Expand(const Node& node, const std::vector<const Tensor*>& inputs,
                   std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "input");
  const Shape shape = read_shape(node, required_input(node, inputs, 1, "shape"), "shape");
  const Shape out = broadcast_shapes(node, {x.shape(), shape});
  set_outputs(node, outputs, {strided_copy(x, out, broadcast_strides(x.shape(), out), 0)});
}

void kernel_Flatten(const Node& node, const std::vector<const Tensor*>& inputs,
                    std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "input");
  int64_t axis = node.attr_int("axis", 1);
  const int rank = x.rank();
  // Flatten's axis may equal the rank (everything goes to the first dimension).
  if (axis < -rank || axis > rank)
    fail(node, "axis " + std::to_string(axis) + " is out of range for rank " +
                   std::to_string(rank) + " (valid: [" + std::to_string(-rank) + ", " +
                   std::to_string(rank) + "])");
  if (axis < 0) axis += rank;
  int64_t a = 1, b = 1;
  for (int d = 0; d < rank; ++d)
    (d < axis ? a : b) *= x.shape()[d];
  set_outputs(node, outputs, {copy_reshaped(x, {a, b})});
}

void kernel_Gather(const Node& node, const std::vector<const Tensor*>& inputs,
                   std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "data");
  const Tensor& ind = required_input(node, inputs, 1, "indices");
  const int axis = normalize_axis(node, node.attr_int("axis", 0), x.rank());
  const std::vector<int64_t> idx = read_ints(node, ind, "indices");
  const int64_t dim = x.shape()[axis];
  Shape out;
  for (int d = 0; d < axis; ++d)
    out.push_back(x.shape()[d]);
  for (int64_t d : ind.shape())
    out.push_back(d);
  for (int d = axis + 1; d < x.rank(); ++d)
    out.push_back(x.shape()[d]);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d)
    outer *= x.shape()[d];
  for (int d = axis + 1; d < x.rank(); ++d)
    inner *= x.shape()[d];
  Tensor y(x.dtype(), out);
  const size_t es = dtype_size(x.dtype());
  const size_t row = static_cast<size_t>(inner) * es;
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(y.raw_mutable());
  const int64_t n = static_cast<int64_t>(idx.size());
  for (int64_t j = 0; j < n; ++j)
    if (idx[j] < -dim || idx[j] >= dim)
      fail(node, "index " + std::to_string(idx[j]) + " is out of range for axis " +
                     std::to_string(axis) + " of size " + std::to_string(dim));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n; ++j) {
      const int64_t k = idx[j] < 0 ? idx[j] + dim : idx[j];
      std::memcpy(dst + (o * n + j) * row, src + (o * dim + k) * row, row);
    }
  set_outputs(node, outputs, {std::move(y)});
}

void kernel_Pad(const Node& node, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "data");
  const int rank = x.rank();
  std::vector<int64_t> pads;
  if (!ints_from_input_or_attr(node, inputs, 1, "pads", pads))
    fail(node, "needs pads (input 1, or the attribute in opset < 11)");
  std::vector<int> axes(rank);
  for (int d = 0; d < rank; ++d)
    axes[d] = d;
  if (const Tensor* ta = optional_input(inputs, 3))
    axes = normalize_axes(node, read_ints(node, *ta, "axes"), rank);
  if (pads.size() != 2 * axes.size())
    fail(node, "pads has " + std::to_string(pads.size()) + " values, expected " +
                   std::to_string(2 * axes.size()) + " (begin and end for each axis)");
  std::vector<int64_t> begin(rank, 0), end(rank, 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    begin[axes[i]] = pads[i];
    end[axes[i]] = pads[i + axes.size()];
  }
  const std::string mode = node.attr_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
    fail(node, "mode must be constant, reflect, edge or wrap, got '" + mode + "'");

  // The fill value in the data's dtype, from input 2 or the opset < 11 attribute.
  Tensor fill(x.dtype(), {});
  if (const Tensor* tv = optional_input(inputs, 2)) {
    if (tv->dtype() != x.dtype())
      unsupported_dtype(node,
                        std::string("constant_value of dtype ") + dtype_name(tv->dtype()) +
                            " for data " + dtype_name(x.dtype()),
                        "constant_value of the data's dtype");
    if (tv->numel() != 1) fail(node, "constant_value must be a scalar");
    std::memcpy(fill.raw_mutable(), tv->raw(), dtype_size(x.dtype()));
  } else if (node.has_attr("value")) {
    Tensor v = Tensor::scalar(node.attr_float("value", 0.0f));
    if (x.dtype() == DType::f32)
      fill = v;
    else
      fill = v.cast(x.dtype());
  }

  Shape out(rank);
  std::vector<std::vector<int64_t>> maps(rank);
  for (int d = 0; d < rank; ++d) {
    const int64_t in = x.shape()[d];
    out[d] = in + begin[d] + end[d];
    if (out[d] < 0)
      fail(node, "pads " + std::to_string(begin[d]) + ", " + std::to_string(end[d]) +
                     " remove more than the " + std::to_string(in) + " elements of axis " +
                     std::to_string(d));
    maps[d].resize(out[d]);
    for (int64_t o = 0; o < out[d]; ++o) {
      int64_t c = o - begin[d];
      if (c < 0 || c >= in) {
        if (mode == "constant") {
          c = -1;
        } else if (in == 0) {
          fail(node, "mode '" + mode + "' cannot pad axis " + std::to_string(d) + " of size 0");
        } else if (mode == "edge") {
          c = std::min(std::max<int64_t>(c, 0), in - 1);
        } else if (mode == "wrap") {
          c = ((c % in) + in) % in;
        } else if (in == 1) {
          c = 0;
        } else {
          // Reflection without repeating the edge is periodic with period 2 * (in - 1).
          const int64_t period = 2 * (in - 1);
          c = ((c % period) + period) % period;
          if (c >= in) c = period - c;
        }
      }
      maps[d][o] = c;
    }
  }
  set_outputs(node, outputs, {gather_by_maps(x, out, maps, fill.raw())});
}

void kernel_Range(const Node& node, const std::vector<const Tensor*>& inputs,
                  std::vector<Tensor>& outputs) {
  const Tensor& ts = required_input(node, inputs, 0, "start");
  const Tensor& tl = required_input(node, inputs, 1, "limit");
  const Tensor& td = required_input(node, inputs, 2, "delta");
  for (const Tensor* t : {&ts, &tl, &td}) {
    if (t->dtype() != ts.dtype())
      unsupported_dtype(node, "start, limit and delta of different dtypes",
                        "all three of the same dtype");
    if (t->numel() != 1) fail(node, "start, limit and delta must be scalars");
  }
  Tensor y = dispatch_numeric(node, ts.dtype(), [&](auto tag) -> Tensor {
    using T = typename decltype(tag)::type;
    const T start = ts.data<T>()[0], limit = tl.data<T>()[0], delta = td.data<T>()[0];
    if (delta == T(0)) fail(node, "delta must not be zero");
    int64_t n;
    if constexpr (std::is_floating_point_v<T>) {
      const double count = std::ceil((static_cast<double>(limit) - start) / delta);
      if (!(count < 1e12)) fail(node, "the range is too long or not finite");
      n = std::max<int64_t>(0, static_cast<int64_t>(count));
    } else {
      // Integer ceil division in 128 bits would be exact, but spans beyond 2^62 elements are not
      // allocatable anyway, so long double is enough to reject them.
      const long double span = static_cast<long double>(limit) - start;
      const long double count = std::ceil(span / delta);
      if (count > 1e12L) fail(node, "the range is too long");
      n = std::max<int64_t>(0, static_cast<int64_t>(count));
    }
    Tensor r(DTypeOf<T>::value, {n});
    T* p = r.data_mutable<T>();
    for (int64_t i = 0; i < n; ++i)
      p[i] = static_cast<T>(start + static_cast<T>(i) * delta);
    return r;
  });
  set_outputs(node, outputs, {std::move(y)});
}

void kernel_Reshape(const Node& node, const std::vector<const Tensor*>& inputs,
                    std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "data");
  Shape shape = read_shape(node, required_input(node, inputs, 1, "shape"), "shape");
  const bool allow_zero = node.attr_int("allowzero", 0) != 0;
  int infer = -1;
  int64_t known = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0 && !allow_zero) {
      if (d >= x.shape().size())
        fail(node, "shape " + shape_str(shape) + " copies dimension " + std::to_string(d) +
                       " (0) but the input " + shape_str(x.shape()) + " has no such dimension");
      shape[d] = x.shape()[d];
    }
    if (shape[d] == -1) {
      if (infer >= 0) fail(node, "shape " + shape_str(shape) + " has more than one -1");
      infer = static_cast<int>(d);
    } else if (shape[d] < 0) {
      fail(node, "shape " + shape_str(shape) + " has a negative dimension");
    } else {
      known *= shape[d];
    }
  }
  if (infer >= 0) {
    if (known == 0 || x.numel() % known != 0)
      fail(node, "cannot reshape " + shape_str(x.shape()) + " to " + shape_str(shape));
    shape[infer] = x.numel() / known;
  }
  if (shape_numel(shape) != x.numel())
    fail(node, "cannot reshape " + shape_str(x.shape()) + " (" + std::to_string(x.numel()) +
                   " elements) to " + shape_str(shape));
  set_outputs(node, outputs, {copy_reshaped(x, shape)});
}

void kernel_Shape(const Node& node, const std::vector<const Tensor*>& inputs,
                  std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "data");
  const int64_t rank = x.rank();
  auto clamp_index = [&](int64_t i) {
    if (i < 0) i += rank;
    return std::min(std::max<int64_t>(i, 0), rank);
  };
  const int64_t start = clamp_index(node.attr_int("start", 0));
  const int64_t end = clamp_index(node.attr_int("end", rank));
  std::vector<int64_t> dims;
  for (int64_t d = start; d < end; ++d)
    dims.push_back(x.shape()[d]);
  set_outputs(node, outputs,
              {Tensor::from_vector<int64_t>({static_cast<int64_t>(dims.size())}, dims)});
}

void kernel_Slice(const Node& node, const std::vector<const Tensor*>& inputs,
                  std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "data");
  const int rank = x.rank();
  std::vector<int64_t> starts, ends, axes_raw, steps;
  if (!ints_from_input_or_attr(node, inputs, 1, "starts", starts) ||
      !ints_from_input_or_attr(node, inputs, 2, "ends", ends))
    fail(node, "needs starts and ends (inputs 1 and 2, or attributes in opset < 10)");
  if (!ints_from_input_or_attr(node, inputs, 3, "axes", axes_raw))
    for (size_t i = 0; i < starts.size(); ++i)
      axes_raw.push_back(static_cast<int64_t>(i));
  if (const Tensor* ts = optional_input(inputs, 4))
    steps = read_ints(node, *ts, "steps");
  else
    steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes_raw.size() != starts.size() ||
      steps.size() != starts.size())
    fail(node, "starts, ends, axes and steps must have the same length (got " +
                   std::to_string(starts.size()) + ", " + std::to_string(ends.size()) + ", " +
                   std::to_string(axes_raw.size()) + ", " + std::to_string(steps.size()) + ")");
  const std::vector<int> axes = normalize_axes(node, axes_raw, rank);

  Shape out = x.shape();
  const Shape in_strides = strides_of(x.shape());
  Shape in_steps = in_strides;
  int64_t base = 0;
  for (size_t i = 0; i < axes.size(); ++i) {
    const int a = axes[i];
    const int64_t dim = x.shape()[a];
    const int64_t step = steps[i];
    if (step == 0) fail(node, "steps must not be zero");
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    int64_t count;
    if (step > 0) {
      s = std::min(std::max<int64_t>(s, 0), dim);
      e = std::min(std::max<int64_t>(e, 0), dim);
      count = e > s ? (e - s + step - 1) / step : 0;
    } else {
      s = std::min(std::max<int64_t>(s, 0), dim - 1);
      e = std::min(std::max<int64_t>(e, -1), dim - 1);
      count = s > e ? (s - e + (-step) - 1) / (-step) : 0;
    }
    out[a] = count;
    if (count > 0) base += s * in_strides[a];
    in_steps[a] = step * in_strides[a];
  }
  set_outputs(node, outputs, {strided_copy(x, out, in_steps, shape_numel(out) > 0 ? base : 0)});
}

void kernel_Split(const Node& node, const std::vector<const Tensor*>& inputs,
                  std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "input");
  const int axis = normalize_axis(node, node.attr_int("axis", 0), x.rank());
  const int64_t dim = x.shape()[axis];
  const int64_t n_out = node.num_outputs();
  std::vector<int64_t> split;
  if (!ints_from_input_or_attr(node, inputs, 1, "split", split) || split.empty()) {
    const int64_t n = node.attr_int("num_outputs", n_out);
    if (n <= 0) fail(node, "num_outputs must be positive");
    // Opset 18: equal parts of ceil(dim / n), the last one smaller when dim does not divide.
    const int64_t part = (dim + n - 1) / n;
    split.clear();
    for (int64_t i = 0, left = dim; i < n; ++i) {
      split.push_back(std::min(part, left));
      left -= split.back();
    }
  }
  if (static_cast<int64_t>(split.size()) != n_out)
    fail(node, "split has " + std::to_string(split.size()) + " parts but the node has " +
                   std::to_string(n_out) + " outputs");
  int64_t sum = 0;
  for (int64_t s : split) {
    if (s < 0) fail(node, "split sizes must not be negative");
    sum += s;
  }
  if (sum != dim)
    fail(node, "split sizes add up to " + std::to_string(sum) + " but axis " +
                   std::to_string(axis) + " has size " + std::to_string(dim));
  const Shape strides = strides_of(x.shape());
  std::vector<Tensor> parts;
  int64_t offset = 0;
  for (int64_t s : split) {
    Shape out = x.shape();
    out[axis] = s;
    parts.push_back(strided_copy(x, out, strides, s > 0 ? offset * strides[axis] : 0));
    offset += s;
  }
  set_outputs(node, outputs, std::move(parts));
}

void kernel_Squeeze(const Node& node, const std::vector<const Tensor*>& inputs,
                    std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "data");
  std::vector<int64_t> axes_raw;
  std::vector<bool> drop(x.rank(), false);
  if (ints_from_input_or_attr(node, inputs, 1, "axes", axes_raw) && !axes_raw.empty()) {
    for (int a : normalize_axes(node, axes_raw, x.rank())) {
      if (x.shape()[a] != 1)
        fail(node, "cannot squeeze axis " + std::to_string(a) + " of size " +
                       std::to_string(x.shape()[a]) + " (input " + shape_str(x.shape()) + ")");
      drop[a] = true;
    }
  } else {
    for (int d = 0; d < x.rank(); ++d)
      drop[d] = x.shape()[d] == 1;
  }
  Shape out;
  for (int d = 0; d < x.rank(); ++d)
    if (!drop[d]) out.push_back(x.shape()[d]);
  set_outputs(node, outputs, {copy_reshaped(x, out)});
}

void kernel_Unsqueeze(const Node& node, const std::vector<const Tensor*>& inputs,
                      std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "data");
  std::vector<int64_t> axes_raw;
  if (!ints_from_input_or_attr(node, inputs, 1, "axes", axes_raw))
    fail(node, "needs axes (input 1, or the attribute in opset < 13)");
  const int out_rank = x.rank() + static_cast<int>(axes_raw.size());
  std::vector<bool> inserted(out_rank, false);
  for (int a : normalize_axes(node, axes_raw, out_rank))
    inserted[a] = true;
  Shape out;
  int src = 0;
  for (int d = 0; d < out_rank; ++d)
    out.push_back(inserted[d] ? 1 : x.shape()[src++]);
  set_outputs(node, outputs, {copy_reshaped(x, out)});
}

void kernel_Tile(const Node& node, const std::vector<const Tensor*>& inputs,
                 std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "input");
  const std::vector<int64_t> reps =
      read_ints(node, required_input(node, inputs, 1, "repeats"), "repeats");
  if (static_cast<int>(reps.size()) != x.rank())
    fail(node, "repeats has " + std::to_string(reps.size()) + " values for an input of rank " +
                   std::to_string(x.rank()));
  Shape out(x.rank());
  std::vector<std::vector<int64_t>> maps(x.rank());
  for (int d = 0; d < x.rank(); ++d) {
    if (reps[d] < 0) fail(node, "repeats must not be negative");
    out[d] = x.shape()[d] * reps[d];
    maps[d].resize(out[d]);
    for (int64_t o = 0; o < out[d]; ++o)
      maps[d][o] = o % x.shape()[d];
  }
  set_outputs(node, outputs, {gather_by_maps(x, out, maps, nullptr)});
}

void kernel_Transpose(const Node& node, const std::vector<const Tensor*>& inputs,
                      std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "data");
  const int rank = x.rank();
  // Without perm the axes are reversed; an explicit perm (even an empty one) is taken as is.
  std::vector<int64_t> perm;
  if (node.has_attr("perm"))
    perm = node.attr_ints("perm");
  else
    for (int d = rank - 1; d >= 0; --d)
      perm.push_back(d);
  if (static_cast<int>(perm.size()) != rank)
    fail(node, "perm has " + std::to_string(perm.size()) + " entries for an input of rank " +
                   std::to_string(rank));
  const std::vector<int> p = normalize_axes(node, perm, rank, "perm");
  const Shape in_strides = strides_of(x.shape());
  Shape out(rank), steps(rank);
  for (int d = 0; d < rank; ++d) {
    out[d] = x.shape()[p[d]];
    steps[d] = in_strides[p[d]];
  }
  set_outputs(node, outputs, {strided_copy(x, out, steps, 0)});
}

void kernel_Trilu(const Node& node, const std::vector<const Tensor*>& inputs,
                  std::vector<Tensor>& outputs) {
  const Tensor& x = required_input(node, inputs, 0, "input");
  if (x.rank() < 2) fail(node, "input must have rank >= 2, got " + shape_str(x.shape()));
  int64_t k = 0;
  if (const Tensor* tk = optional_input(inputs, 1)) {
    std::vector<int64_t> v = read_ints(node, *tk, "k");
    if (v.size() != 1) fail(node, "k must be a scalar");
    k = v[0];
  }
  const bool upper = node.attr_int("upper", 1) != 0;
  Tensor y = copy_reshaped(x, x.shape());
  const int64_t rows = x.dim(-2), cols = x.dim(-1);
  const int64_t mats = rows * cols > 0 ? x.numel() / (rows * cols) : 0;
  const size_t es = dtype_size(x.dtype());
  char* p = static_cast<char*>(y.raw_mutable());
  // All-zero bytes are zero (or false) in every dtype.
  for (int64_t m = 0; m < mats; ++m)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) {
        const bool keep = upper ? (j - i >= k) : (j - i <= k);
        if (!keep) std::memset(p + ((m * rows + i) * cols + j) * es, 0, es);
      }
  set_outputs(node, outputs, {std::move(y)});
}

} // namespace ops
} // namespace shrink
