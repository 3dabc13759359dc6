// Shape inference for ops that move data around or compute shapes: Reshape, Transpose, Concat,
// Split, Slice, Gather, Pad, Resize, Tile, Expand, Shape, Constant, ...
#include "shape_inference_detail.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace shrink {
namespace ops {

using namespace shape_detail;

namespace {

// The element count of a shape split into known factors, symbols (with multiplicity) and a flag
// for unknown factors, so that Reshape's -1 can carry a symbol such as N across.
struct Count {
  int64_t known = 1;
  std::map<std::string, int> symbols;
  bool unknown = false;

  void add(const Dim& d) {
    if (d.is_known())
      known *= d.value;
    else if (d.is_symbolic())
      ++symbols[d.symbol];
    else
      unknown = true;
  }
};

// The -1 entry of a Reshape target: input count divided by the other entries' count.
Dim infer_minus_one(const Node& node, const TensorType& x, const Dims& target, size_t skip) {
  Count in, out;
  for (const Dim& d : *x.dims)
    in.add(d);
  for (size_t i = 0; i < target.size(); ++i)
    if (i != skip) out.add(target[i]);
  if (in.unknown || out.unknown || out.known == 0 || in.known == 0) return Dim::unknown();
  for (const auto& [sym, n] : out.symbols) {
    auto it = in.symbols.find(sym);
    if (it == in.symbols.end() || it->second < n) return Dim::unknown();
    it->second -= n;
  }
  int remaining = 0;
  std::string symbol;
  for (const auto& [sym, n] : in.symbols) {
    remaining += n;
    if (n > 0) symbol = sym;
  }
  if (in.known % out.known != 0) {
    if (remaining == 0 && out.symbols.empty())
      fail(node, "cannot reshape " + x.str() + " (" + std::to_string(in.known) +
                     " elements) into a shape whose other entries multiply to " +
                     std::to_string(out.known));
    return Dim::unknown();
  }
  int64_t q = in.known / out.known;
  if (remaining == 0) return Dim::known(q);
  if (remaining == 1 && q == 1) return Dim::sym(symbol);
  return Dim::unknown();
}

// A shape-like operand (Expand, ConstantOfShape, Tile) as dims; `length` is the number of
// entries when only the operand's type is known, -1 when not even that is.
std::optional<Dims> shape_operand(const Node& node, int i, int64_t* length) {
  const TensorType& t = input_type(node, i);
  *length = -1;
  if (std::optional<Dims> d = sym_dims(node.input(i))) {
    *length = static_cast<int64_t>(d->size());
    return d;
  }
  if (t.ranked() && t.rank() == 1 && (*t.dims)[0].is_known()) *length = (*t.dims)[0].value;
  if (t.ranked() && t.rank() > 1)
    fail(node, "input " + std::to_string(i) + " must be 1-D, got " + t.str());
  return std::nullopt;
}

void require_integer(const Node& node, int i, const char* role) {
  DType d = input_type(node, i).dtype;
  if (d != DType::i64 && d != DType::i32)
    fail(node, std::string(role) + " (input " + std::to_string(i) + ") must be i64 or i32, got " +
                   dtype_name(d));
}

} // namespace

std::vector<TensorType> infer_Reshape(const Node& node) {
  const TensorType& x = input_type(node, 0);
  require_integer(node, 1, "shape");
  bool allowzero = node.attr_int("allowzero", 0) != 0;
  std::optional<std::vector<SymInt>> target = sym_ints(node.input(1));
  if (!target) {
    int64_t length = -1;
    shape_operand(node, 1, &length);
    if (length < 0) return one(TensorType::unranked(x.dtype));
    return one(ranked(x.dtype, unknown_dims(static_cast<int>(length))));
  }
  Dims out;
  int minus_one = -1;
  for (size_t i = 0; i < target->size(); ++i) {
    const SymInt& e = (*target)[i];
    if (!e.known) {
      out.push_back(e.dim());
    } else if (e.value == 0 && !allowzero) {
      // 0 copies the input's dimension at the same index.
      if (!x.ranked()) {
        out.push_back(Dim::unknown());
      } else {
        if (static_cast<int>(i) >= x.rank())
          fail(node, "shape entry " + std::to_string(i) + " is 0 (copy) but the input " + x.str() +
                         " has no dimension " + std::to_string(i));
        out.push_back((*x.dims)[i]);
      }
    } else if (e.value == -1) {
      if (minus_one >= 0) fail(node, "shape has more than one -1 entry");
      minus_one = static_cast<int>(i);
      out.push_back(Dim::unknown());
    } else if (e.value < 0) {
      fail(node, "shape entry " + std::to_string(i) + " is " + std::to_string(e.value) +
                     "; only -1 (infer) and 0 (copy) may be non-positive");
    } else {
      out.push_back(Dim::known(e.value));
    }
  }
  if (minus_one >= 0 && allowzero)
    for (const SymInt& e : *target)
      if (e.known && e.value == 0) fail(node, "shape has both -1 and 0 with allowzero=1");
  if (x.ranked()) {
    if (minus_one >= 0) {
      out[minus_one] = infer_minus_one(node, x, out, static_cast<size_t>(minus_one));
    } else {
      Dim in_count = dim_product(*x.dims), out_count = dim_product(out);
      if (in_count.is_known() && out_count.is_known() && in_count.value != out_count.value)
        fail(node, "cannot reshape " + x.str() + " (" + std::to_string(in_count.value) +
                       " elements) to " + ranked(x.dtype, out).str() + " (" +
                       std::to_string(out_count.value) + " elements)");
    }
  }
  return one(ranked(x.dtype, std::move(out)));
}

std::vector<TensorType> infer_Flatten(const Node& node) {
  const TensorType& x = input_type(node, 0);
  if (!x.ranked()) return one(ranked(x.dtype, unknown_dims(2)));
  int axis = normalize_axis(node, node.attr_int("axis", 1), x.rank(), "axis", true);
  Dims outer(x.dims->begin(), x.dims->begin() + axis), inner(x.dims->begin() + axis, x.dims->end());
  return one(ranked(x.dtype, Dims{dim_product(outer), dim_product(inner)}));
}

std::vector<TensorType> infer_Transpose(const Node& node) {
  const TensorType& x = input_type(node, 0);
  if (!x.ranked()) {
    if (node.has_attr("perm"))
      return one(ranked(x.dtype, unknown_dims(static_cast<int>(node.attr_ints("perm").size()))));
    return one(x);
  }
  int r = x.rank();
  std::vector<int64_t> perm;
  if (node.has_attr("perm")) {
    perm = node.attr_ints("perm");
  } else {
    for (int i = r - 1; i >= 0; --i)
      perm.push_back(i);
  }
  if (static_cast<int>(perm.size()) != r)
    fail(node, "perm " + ints_str(perm) + " has " + std::to_string(perm.size()) +
                   " entries but the input " + x.str() + " has rank " + std::to_string(r));
  std::vector<int> axes = normalize_axes(node, perm, r, "perm");
  Dims out;
  for (int a : axes)
    out.push_back((*x.dims)[a]);
  return one(ranked(x.dtype, std::move(out)));
}

std::vector<TensorType> infer_Concat(const Node& node) {
  if (!node.has_attr("axis")) fail(node, "attribute 'axis' is required");
  std::vector<int> all;
  for (int i = 0; i < node.num_inputs(); ++i)
    if (has_input(node, i)) all.push_back(i);
  if (all.empty()) fail(node, "needs at least one input");
  require_same_dtype(node, all);
  DType dtype = input_type(node, all[0]).dtype;
  int rank = -1;
  for (int i : all) {
    const TensorType& t = input_type(node, i);
    if (!t.ranked()) continue;
    if (rank >= 0 && t.rank() != rank)
      fail(node, "inputs must have the same rank, got " + input_type(node, all[0]).str() + " and " +
                     t.str());
    rank = t.rank();
  }
  if (rank < 0) return one(TensorType::unranked(dtype));
  if (rank == 0) fail(node, "cannot concatenate scalars");
  int axis = normalize_axis(node, node.attr_int("axis", 0), rank);
  Dims out = unknown_dims(rank);
  Dims along;
  bool any_unranked = false;
  bool first = true;
  for (int i : all) {
    const TensorType& t = input_type(node, i);
    if (!t.ranked()) {
      any_unranked = true;
      continue;
    }
    for (int d = 0; d < rank; ++d) {
      if (d == axis) continue;
      out[d] = first ? (*t.dims)[d]
                     : merge_dim(node, out[d], (*t.dims)[d],
                                 "inputs differ in dimension " + std::to_string(d) +
                                     " (only the axis " + std::to_string(axis) + " may differ)");
    }
    first = false;
    along.push_back((*t.dims)[axis]);
  }
  out[axis] = any_unranked ? Dim::unknown() : dim_sum(along);
  return one(ranked(dtype, std::move(out)));
}

std::vector<TensorType> infer_Split(const Node& node) {
  const TensorType& x = input_type(node, 0);
  int n = node.num_outputs();
  IntList split = int_list(node, 1, "split");
  if (node.has_attr("num_outputs") && node.attr_int("num_outputs", 0) != n)
    fail(node, "num_outputs is " + std::to_string(node.attr_int("num_outputs", 0)) +
                   " but the node has " + std::to_string(n) + " outputs");
  if (split.known() && static_cast<int>(split.values.size()) != n)
    fail(node, "split " + ints_str(split.values) + " has " + std::to_string(split.values.size()) +
                   " entries but the node has " + std::to_string(n) + " outputs");
  if (!x.ranked()) return std::vector<TensorType>(static_cast<size_t>(n), x);
  int axis = normalize_axis(node, node.attr_int("axis", 0), x.rank());
  const Dim& d = (*x.dims)[axis];
  Dims sizes;
  if (split.known()) {
    int64_t total = 0;
    for (int64_t s : split.values) {
      if (s < 0) fail(node, "split " + ints_str(split.values) + " has a negative entry");
      total += s;
      sizes.push_back(Dim::known(s));
    }
    if (d.is_known() && total != d.value)
      fail(node, "split " + ints_str(split.values) + " sums to " + std::to_string(total) +
                     " but axis " + std::to_string(axis) + " of " + x.str() + " has " +
                     std::to_string(d.value));
  } else if (split.unknown() || (!d.is_known() && n > 1)) {
    sizes.assign(static_cast<size_t>(n), Dim::unknown());
  } else if (!d.is_known()) {
    sizes.push_back(d);
  } else if (node.has_attr("num_outputs")) {
    // opset 18: chunks of ceil(d / n), the last one smaller.
    int64_t chunk = (d.value + n - 1) / n;
    int64_t last = d.value - chunk * (n - 1);
    if (last <= 0)
      fail(node, "cannot split " + std::to_string(d.value) + " into " + std::to_string(n) +
                     " non-empty chunks");
    sizes.assign(static_cast<size_t>(n - 1), Dim::known(chunk));
    sizes.push_back(Dim::known(last));
  } else {
    if (d.value % n != 0)
      fail(node, "axis " + std::to_string(axis) + " of " + x.str() +
                     " does not split evenly into " + std::to_string(n) +
                     " outputs; give 'split' sizes or num_outputs");
    sizes.assign(static_cast<size_t>(n), Dim::known(d.value / n));
  }
  std::vector<TensorType> out;
  for (const Dim& s : sizes) {
    Dims dims = *x.dims;
    dims[axis] = s;
    out.push_back(ranked(x.dtype, std::move(dims)));
  }
  return out;
}

std::vector<TensorType> infer_Slice(const Node& node) {
  const TensorType& x = input_type(node, 0);
  // opset 1 takes starts/ends/axes as attributes; opset 10+ as inputs 1..4 (with steps).
  IntList starts = int_list(node, 1, "starts");
  IntList ends = int_list(node, 2, "ends");
  IntList axes = int_list(node, 3, "axes");
  IntList steps = node.has_attr("starts") ? IntList{} : int_list(node, 4, "steps");
  if (starts.absent() || ends.absent()) fail(node, "starts and ends are required");
  if (!x.ranked()) return one(x);
  int r = x.rank();
  if (axes.unknown()) return one(ranked(x.dtype, unknown_dims(r)));
  Dims out = *x.dims;
  if (starts.known() && ends.known() && starts.values.size() != ends.values.size())
    fail(node, "starts " + ints_str(starts.values) + " and ends " + ints_str(ends.values) +
                   " differ in length");
  std::vector<int64_t> axis_list;
  if (axes.known()) {
    axis_list = axes.values;
  } else {
    // Without axes, entry i slices axis i; the count comes from whichever list is known.
    int64_t count = starts.known() ? static_cast<int64_t>(starts.values.size())
                    : ends.known() ? static_cast<int64_t>(ends.values.size())
                                   : std::max(starts.length, ends.length);
    if (count < 0) return one(ranked(x.dtype, unknown_dims(r)));
    for (int64_t i = 0; i < count; ++i)
      axis_list.push_back(i);
  }
  std::vector<int> norm = normalize_axes(node, axis_list, r);
  size_t k = norm.size();
  for (const IntList* l : {&starts, &ends, &steps})
    if (l->known() && l->values.size() != k)
      fail(node, "starts, ends, axes and steps must have the same length (" + std::to_string(k) +
                     " axes)");
  for (size_t i = 0; i < k; ++i) {
    int a = norm[i];
    if (!starts.known() || !ends.known() || steps.unknown()) {
      out[a] = Dim::unknown();
      continue;
    }
    int64_t step = steps.known() ? steps.values[i] : 1;
    if (step == 0) fail(node, "steps must not be 0");
    int64_t start = starts.values[i], end = ends.values[i];
    const Dim& d = (*x.dims)[a];
    if (d.is_known()) {
      out[a] = Dim::known(slice_count(d.value, start, end, step, nullptr));
    } else if (step == 1 && start == 0 && end >= std::numeric_limits<int32_t>::max()) {
      // The whole axis (PyTorch exports `x[:, a:b]` with INT64_MAX ends): keeps N.
      out[a] = d;
    } else {
      out[a] = Dim::unknown();
    }
  }
  return one(ranked(x.dtype, std::move(out)));
}

std::vector<TensorType> infer_Gather(const Node& node) {
  const TensorType& data = input_type(node, 0);
  const TensorType& indices = input_type(node, 1);
  require_integer(node, 1, "indices");
  if (!data.ranked() || !indices.ranked()) return one(TensorType::unranked(data.dtype));
  if (data.rank() == 0) fail(node, "data must have rank >= 1, got a scalar");
  int axis = normalize_axis(node, node.attr_int("axis", 0), data.rank());
  if (const Value* iv = node.input(1)) {
    const Dim& d = (*data.dims)[axis];
    if (const Tensor* t = constant_value(iv); t && d.is_known()) {
      if (std::optional<std::vector<int64_t>> idx = tensor_ints(*t))
        for (int64_t i : *idx)
          if (i < -d.value || i >= d.value)
            fail(node, "index " + std::to_string(i) + " is out of range for axis " +
                           std::to_string(axis) + " of size " + std::to_string(d.value));
    }
  }
  Dims out(data.dims->begin(), data.dims->begin() + axis);
  out.insert(out.end(), indices.dims->begin(), indices.dims->end());
  out.insert(out.end(), data.dims->begin() + axis + 1, data.dims->end());
  return one(ranked(data.dtype, std::move(out)));
}

std::vector<TensorType> infer_Squeeze(const Node& node) {
  const TensorType& x = input_type(node, 0);
  IntList axes = int_list(node, 1, "axes");
  if (!x.ranked()) return one(x);
  int r = x.rank();
  if (axes.unknown()) {
    if (axes.length >= 0 && axes.length <= r)
      return one(ranked(x.dtype, unknown_dims(r - static_cast<int>(axes.length))));
    return one(TensorType::unranked(x.dtype));
  }
  Dims out;
  if (axes.absent() || axes.values.empty()) {
    // Without axes every size-1 dimension goes; a dimension not known may or may not be 1.
    for (const Dim& d : *x.dims) {
      if (!d.is_known()) return one(TensorType::unranked(x.dtype));
      if (d.value != 1) out.push_back(d);
    }
    return one(ranked(x.dtype, std::move(out)));
  }
  std::vector<bool> drop(static_cast<size_t>(r), false);
  for (int a : normalize_axes(node, axes.values, r)) {
    const Dim& d = (*x.dims)[a];
    if (d.is_known() && d.value != 1)
      fail(node, "cannot squeeze axis " + std::to_string(a) + " of " + x.str() + ": its size is " +
                     std::to_string(d.value) + ", not 1");
    drop[a] = true;
  }
  for (int i = 0; i < r; ++i)
    if (!drop[i]) out.push_back((*x.dims)[i]);
  return one(ranked(x.dtype, std::move(out)));
}

std::vector<TensorType> infer_Unsqueeze(const Node& node) {
  const TensorType& x = input_type(node, 0);
  IntList axes = int_list(node, 1, "axes");
  if (axes.absent()) fail(node, "axes are required (attribute before opset 13, input 1 after)");
  if (!x.ranked()) return one(x);
  int r = x.rank();
  if (axes.unknown()) {
    if (axes.length >= 0)
      return one(ranked(x.dtype, unknown_dims(r + static_cast<int>(axes.length))));
    return one(TensorType::unranked(x.dtype));
  }
  int out_rank = r + static_cast<int>(axes.values.size());
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int a : normalize_axes(node, axes.values, out_rank))
    inserted[a] = true;
  Dims out;
  int next = 0;
  for (int i = 0; i < out_rank; ++i)
    out.push_back(inserted[i] ? Dim::known(1) : (*x.dims)[next++]);
  return one(ranked(x.dtype, std::move(out)));
}

std::vector<TensorType> infer_Shape(const Node& node) {
  const TensorType& x = input_type(node, 0);
  if (!x.ranked()) return one(ranked(DType::i64, unknown_dims(1)));
  int64_t r = x.rank();
  int64_t count = slice_count(r, node.attr_int("start", 0), node.attr_int("end", r), 1, nullptr);
  return one(ranked(DType::i64, Dims{Dim::known(count)}));
}

std::vector<TensorType> infer_Constant(const Node& node) {
  if (node.has_attr("value")) {
    const Tensor& t = node.attr_tensor("value");
    return one(TensorType::of(t.dtype(), t.shape()));
  }
  if (node.has_attr("value_float")) return one(ranked(DType::f32, {}));
  if (node.has_attr("value_int")) return one(ranked(DType::i64, {}));
  if (node.has_attr("value_floats")) {
    auto n = static_cast<int64_t>(node.attr_floats("value_floats").size());
    return one(ranked(DType::f32, Dims{Dim::known(n)}));
  }
  if (node.has_attr("value_ints")) {
    auto n = static_cast<int64_t>(node.attr_ints("value_ints").size());
    return one(ranked(DType::i64, Dims{Dim::known(n)}));
  }
  fail(node, "needs one of the attributes value, value_float, value_floats, value_int, "
             "value_ints");
}

std::vector<TensorType> infer_ConstantOfShape(const Node& node) {
  DType dtype = node.has_attr("value") ? node.attr_tensor("value").dtype() : DType::f32;
  if (node.has_attr("value") && node.attr_tensor("value").numel() != 1)
    fail(node, "value must hold exactly one element");
  require_integer(node, 0, "shape");
  int64_t length = -1;
  std::optional<Dims> dims = shape_operand(node, 0, &length);
  if (dims) {
    std::optional<std::vector<SymInt>> raw = sym_ints(node.input(0));
    for (const SymInt& e : *raw)
      if (e.known && e.value < 0)
        fail(node, "shape entries must be >= 0, got " + std::to_string(e.value));
    return one(ranked(dtype, std::move(*dims)));
  }
  if (length >= 0) return one(ranked(dtype, unknown_dims(static_cast<int>(length))));
  return one(TensorType::unranked(dtype));
}

std::vector<TensorType> infer_Expand(const Node& node) {
  const TensorType& x = input_type(node, 0);
  require_integer(node, 1, "shape");
  int64_t length = -1;
  std::optional<Dims> shape = shape_operand(node, 1, &length);
  if (!x.ranked()) return one(TensorType::unranked(x.dtype));
  if (!shape) {
    if (length < 0) return one(TensorType::unranked(x.dtype));
    int r = std::max(x.rank(), static_cast<int>(length));
    return one(ranked(x.dtype, unknown_dims(r)));
  }
  std::optional<Dims> out = broadcast_dims(*x.dims, *shape);
  if (!out) fail(node, "cannot expand " + x.str() + " to shape " + ranked(x.dtype, *shape).str());
  return one(ranked(x.dtype, std::move(*out)));
}

std::vector<TensorType> infer_Tile(const Node& node) {
  const TensorType& x = input_type(node, 0);
  require_integer(node, 1, "repeats");
  if (!x.ranked()) return one(x);
  std::optional<std::vector<int64_t>> repeats = constant_ints(node, 1);
  if (!repeats) return one(ranked(x.dtype, unknown_dims(x.rank())));
  if (static_cast<int>(repeats->size()) != x.rank())
    fail(node,
         "repeats " + ints_str(*repeats) + " must have one entry per dimension of " + x.str());
  Dims out;
  for (int i = 0; i < x.rank(); ++i) {
    if ((*repeats)[i] < 0) fail(node, "repeats " + ints_str(*repeats) + " must be >= 0");
    out.push_back(dim_mul((*x.dims)[i], (*repeats)[i]));
  }
  return one(ranked(x.dtype, std::move(out)));
}

std::vector<TensorType> infer_Range(const Node& node) {
  const TensorType& start = input_type(node, 0);
  for (int i = 0; i < 3; ++i) {
    const TensorType& t = input_type(node, i);
    if (t.ranked() && t.rank() != 0 && !(t.rank() == 1 && (*t.dims)[0] == Dim::known(1)))
      fail(node, "start, limit and delta must be scalars, got " + t.str());
  }
  require_same_dtype(node, {0, 1, 2});
  std::optional<std::vector<double>> s = constant_doubles(node, 0), l = constant_doubles(node, 1),
                                     d = constant_doubles(node, 2);
  if (!s || !l || !d || s->size() != 1 || l->size() != 1 || d->size() != 1)
    return one(ranked(start.dtype, unknown_dims(1)));
  if ((*d)[0] == 0) fail(node, "delta must not be 0");
  double n = std::ceil(((*l)[0] - (*s)[0]) / (*d)[0]);
  return one(ranked(start.dtype, Dims{Dim::known(static_cast<int64_t>(std::max(n, 0.0)))}));
}

std::vector<TensorType> infer_Pad(const Node& node) {
  const TensorType& x = input_type(node, 0);
  // Before opset 11 pads is an attribute; after it is input 1, with axes as input 3 (opset 18).
  IntList pads = int_list(node, 1, "pads");
  IntList axes = int_list(node, 3, "axes");
  if (pads.absent()) fail(node, "pads are required (attribute before opset 11, input 1 after)");
  if (!x.ranked()) return one(x);
  int r = x.rank();
  if (axes.unknown()) return one(ranked(x.dtype, unknown_dims(r)));
  std::vector<int> axis_list;
  if (axes.known()) {
    axis_list = normalize_axes(node, axes.values, r);
  } else {
    for (int i = 0; i < r; ++i)
      axis_list.push_back(i);
  }
  Dims out = *x.dims;
  if (pads.unknown()) {
    for (int a : axis_list)
      out[a] = Dim::unknown();
    return one(ranked(x.dtype, std::move(out)));
  }
  size_t k = axis_list.size();
  if (pads.values.size() != 2 * k)
    fail(node, "pads " + ints_str(pads.values) + " must have " + std::to_string(2 * k) +
                   " entries (begins then ends for " + std::to_string(k) + " axes)");
  for (size_t i = 0; i < k; ++i) {
    int a = axis_list[i];
    Dim d = dim_add((*x.dims)[a], pads.values[i] + pads.values[i + k]);
    if (d.is_known() && d.value < 0)
      fail(node, "negative pads " + ints_str(pads.values) + " remove more than axis " +
                     std::to_string(a) + " of " + x.str() + " holds");
    out[a] = d;
  }
  return one(ranked(x.dtype, std::move(out)));
}

std::vector<TensorType> infer_Resize(const Node& node) {
  const TensorType& x = input_type(node, 0);
  if (!x.ranked()) return one(x);
  int r = x.rank();
  // opset 10: (X, scales). opset 11+: (X, roi, scales, sizes), unused ones empty or absent.
  int scales_input = node.num_inputs() == 2 ? 1 : 2;
  int sizes_input = node.num_inputs() == 2 ? -1 : 3;
  std::vector<int> axes;
  if (node.has_attr("axes")) {
    axes = normalize_axes(node, node.attr_ints("axes"), r);
  } else {
    for (int i = 0; i < r; ++i)
      axes.push_back(i);
  }
  size_t k = axes.size();
  Dims out = *x.dims;
  auto empty_constant = [&](int i) {
    const Value* v = node.input(i);
    const Tensor* t = v ? constant_value(v) : nullptr;
    return !v || (t && t->numel() == 0);
  };
  bool have_sizes = sizes_input >= 0 && !empty_constant(sizes_input);
  bool have_scales = !empty_constant(scales_input);
  if (have_sizes && have_scales) fail(node, "give either scales or sizes, not both");
  if (have_sizes) {
    std::optional<std::vector<int64_t>> sizes = constant_ints(node, sizes_input);
    if (!sizes) {
      for (int a : axes)
        out[a] = Dim::unknown();
      return one(ranked(x.dtype, std::move(out)));
    }
    if (sizes->size() != k)
      fail(node, "sizes " + ints_str(*sizes) + " must have " + std::to_string(k) + " entries");
    std::string policy = node.attr_string("keep_aspect_ratio_policy", "stretch");
    if (policy == "stretch") {
      for (size_t i = 0; i < k; ++i)
        out[axes[i]] = Dim::known((*sizes)[i]);
    } else if (policy == "not_larger" || policy == "not_smaller") {
      // One scale for all axes, the smallest (not_larger) or largest (not_smaller) of the ratios.
      // Float arithmetic and round-half-to-even, as the ONNX reference and the kernel do.
      float scale = policy == "not_larger" ? std::numeric_limits<float>::max() : 0.0f;
      for (size_t i = 0; i < k; ++i) {
        const Dim& d = (*x.dims)[axes[i]];
        if (!d.is_known() || d.value == 0) {
          for (int a : axes)
            out[a] = Dim::unknown();
          return one(ranked(x.dtype, std::move(out)));
        }
        float ratio = static_cast<float>((*sizes)[i]) / static_cast<float>(d.value);
        scale = policy == "not_larger" ? std::min(scale, ratio) : std::max(scale, ratio);
      }
      for (int a : axes)
        out[a] = Dim::known(
            static_cast<int64_t>(std::nearbyint(scale * static_cast<float>((*x.dims)[a].value))));
    } else {
      fail(node, "keep_aspect_ratio_policy '" + policy +
                     "' is not one of stretch, not_larger, not_smaller");
    }
    return one(ranked(x.dtype, std::move(out)));
  }
  if (!have_scales) fail(node, "needs scales or sizes");
  std::optional<std::vector<double>> scales = constant_doubles(node, scales_input);
  if (!scales) {
    for (int a : axes)
      out[a] = Dim::unknown();
    return one(ranked(x.dtype, std::move(out)));
  }
  if (scales->size() != k)
    fail(node, "scales has " + std::to_string(scales->size()) + " entries but " +
                   std::to_string(k) + " axes are resized");
  // tf_crop_and_resize scales the cropped extent: roi holds k starts then k ends.
  std::vector<float> crop(k, 1.0f);
  if (node.attr_string("coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize" &&
      scales_input == 2) {
    std::optional<std::vector<double>> roi = constant_doubles(node, 1);
    if (!roi || roi->size() != 2 * k) {
      for (int a : axes)
        out[a] = Dim::unknown();
      return one(ranked(x.dtype, std::move(out)));
    }
    for (size_t i = 0; i < k; ++i)
      crop[i] = static_cast<float>((*roi)[i + k]) - static_cast<float>((*roi)[i]);
  }
  for (size_t i = 0; i < k; ++i) {
    float s = static_cast<float>((*scales)[i]);
    if (!(s > 0)) fail(node, "scales must be positive");
    const Dim& d = (*x.dims)[axes[i]];
    if (s == 1.0f && crop[i] == 1.0f)
      out[axes[i]] = d;
    else if (d.is_known())
      // Float arithmetic in the kernel's order, so that both agree on the size.
      out[axes[i]] =
          Dim::known(static_cast<int64_t>(std::floor(static_cast<float>(d.value) * crop[i] * s)));
    else
      out[axes[i]] = Dim::unknown();
  }
  return one(ranked(x.dtype, std::move(out)));
}

} // namespace ops
} // namespace shrink
