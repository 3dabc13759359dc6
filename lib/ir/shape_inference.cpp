// Dimension arithmetic, broadcasting, and the helpers the per-op shape functions share. The
// per-op functions live in shape_inference_{elementwise,nn,shape}.cpp.
#include "shrink/ir/shape_inference.h"

#include "shape_inference_detail.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace shrink {

std::optional<Dim> broadcast_dim(const Dim& a, const Dim& b) {
  if (a == b) return a;
  if (a.is_known() && a.value == 1) return b;
  if (b.is_known() && b.value == 1) return a;
  if (a.is_known() && b.is_known()) return std::nullopt;
  // A symbol or unknown that broadcasts against a known size other than 1 must be 1 or that
  // size, so the result is that size either way.
  if (a.is_known()) return a;
  if (b.is_known()) return b;
  // A symbol against an unknown dimension: the unknown must be 1 or the symbol's value, so the
  // result is the symbol -- unless the symbol itself is 1 at run time, which symbols that name
  // data dimensions (batch, sequence) are assumed not to be broadcast as. Exporters produce this
  // pair whenever a constant table is sliced to a symbolic length (`pos[:, :T]`); keeping the
  // symbol keeps the rest of the graph's shapes known. Two different symbols stay unknown.
  if (a.is_symbolic() && !b.is_symbolic()) return a;
  if (b.is_symbolic() && !a.is_symbolic()) return b;
  return Dim::unknown();
}

std::optional<std::vector<Dim>> broadcast_dims(const std::vector<Dim>& a,
                                               const std::vector<Dim>& b) {
  size_t rank = std::max(a.size(), b.size());
  std::vector<Dim> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Align at the last dimension; missing leading dimensions act as 1.
    const Dim one = Dim::known(1);
    const Dim& da = i + a.size() >= rank ? a[i + a.size() - rank] : one;
    const Dim& db = i + b.size() >= rank ? b[i + b.size() - rank] : one;
    std::optional<Dim> d = broadcast_dim(da, db);
    if (!d) return std::nullopt;
    out[i] = *d;
  }
  return out;
}

TensorType broadcast_types(const std::vector<TensorType>& types, DType dtype) {
  for (const TensorType& t : types)
    if (!t.ranked()) return TensorType::unranked(dtype);
  std::vector<Dim> dims;
  for (size_t i = 0; i < types.size(); ++i) {
    std::optional<std::vector<Dim>> d = broadcast_dims(dims, *types[i].dims);
    if (!d) {
      std::string list;
      for (size_t j = 0; j <= i; ++j)
        list += (j ? (j == i ? " with " : ", ") : "") + types[j].str();
      throw Error("cannot broadcast " + list);
    }
    dims = std::move(*d);
  }
  return TensorType{dtype, std::move(dims)};
}

Dim dim_product(const std::vector<Dim>& dims) {
  int64_t known = 1;
  int symbols = 0;
  bool unknown = false;
  const Dim* symbol = nullptr;
  for (const Dim& d : dims) {
    if (d.is_known()) {
      if (d.value == 0) return Dim::known(0);
      known *= d.value;
    } else if (d.is_symbolic()) {
      ++symbols;
      symbol = &d;
    } else {
      unknown = true;
    }
  }
  if (unknown) return Dim::unknown();
  if (symbols == 0) return Dim::known(known);
  if (symbols == 1 && known == 1) return *symbol;
  return Dim::unknown();
}

namespace shape_detail {

void fail(const Node& node, const std::string& problem) {
  throw Error("node '" + node.name() + "' (" + node.op() + "): " + problem);
}

bool has_input(const Node& node, int i) {
  return node.input(i) != nullptr;
}

const TensorType& input_type(const Node& node, int i) {
  const Value* v = node.input(i);
  if (!v) fail(node, "input " + std::to_string(i) + " is missing");
  return v->type();
}

const Dims* ranked_dims(const Node& node, int i) {
  const TensorType& t = input_type(node, i);
  return t.ranked() ? &*t.dims : nullptr;
}

int normalize_axis(const Node& node, int64_t axis, int rank, const char* what, bool inclusive) {
  int64_t hi = inclusive ? rank : rank - 1;
  if (axis < -rank || axis > hi)
    fail(node, std::string(what) + " " + std::to_string(axis) + " is out of range for rank " +
                   std::to_string(rank) + " (valid: " + std::to_string(-rank) + ".." +
                   std::to_string(hi) + ")");
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

std::vector<int> normalize_axes(const Node& node, const std::vector<int64_t>& axes, int rank,
                                const char* what) {
  std::vector<int> out;
  std::vector<bool> seen(static_cast<size_t>(std::max(rank, 0)), false);
  for (int64_t a : axes) {
    int n = normalize_axis(node, a, rank, what);
    if (seen[n])
      fail(node, std::string(what) + " " + ints_str(axes) + " repeat axis " + std::to_string(n));
    seen[n] = true;
    out.push_back(n);
  }
  return out;
}

std::optional<std::vector<int64_t>> tensor_ints(const Tensor& t) {
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  switch (t.dtype()) {
  case DType::i64: {
    const int64_t* p = t.data<int64_t>();
    std::copy(p, p + t.numel(), out.begin());
    return out;
  }
  case DType::i32: {
    const int32_t* p = t.data<int32_t>();
    std::copy(p, p + t.numel(), out.begin());
    return out;
  }
  case DType::i8:
  case DType::u8:
  case DType::boolean:
    for (int64_t i = 0; i < t.numel(); ++i)
      out[i] = static_cast<int64_t>(t.at(i));
    return out;
  default:
    return std::nullopt;
  }
}

std::optional<std::vector<int64_t>> constant_ints(const Node& node, int i) {
  const Value* v = node.input(i);
  if (!v) return std::nullopt;
  if (const Tensor* t = constant_value(v)) return tensor_ints(*t);
  std::optional<std::vector<SymInt>> s = sym_ints(v);
  if (!s) return std::nullopt;
  std::vector<int64_t> out;
  for (const SymInt& e : *s) {
    if (!e.known) return std::nullopt;
    out.push_back(e.value);
  }
  return out;
}

std::optional<std::vector<double>> constant_doubles(const Node& node, int i) {
  const Value* v = node.input(i);
  if (!v) return std::nullopt;
  if (const Tensor* t = constant_value(v)) return t->to_doubles();
  if (std::optional<std::vector<int64_t>> ints = constant_ints(node, i))
    return std::vector<double>(ints->begin(), ints->end());
  return std::nullopt;
}

IntList int_list(const Node& node, int input, const char* attr) {
  IntList out;
  if (node.has_attr(attr)) {
    out.state = IntList::State::known;
    out.values = node.attr_ints(attr);
    return out;
  }
  const Value* v = node.input(input);
  if (!v) return out;
  if (const Tensor* t = constant_value(v)) {
    if (t->numel() == 0) return out;
    std::optional<std::vector<int64_t>> ints = tensor_ints(*t);
    if (!ints)
      fail(node, "input " + std::to_string(input) + " ('" + attr +
                     "') must be an integer tensor, got " + dtype_name(t->dtype()));
    out.state = IntList::State::known;
    out.values = std::move(*ints);
    return out;
  }
  if (std::optional<std::vector<int64_t>> ints = constant_ints(node, input)) {
    if (!ints->empty()) {
      out.state = IntList::State::known;
      out.values = std::move(*ints);
    }
    return out;
  }
  out.state = IntList::State::unknown;
  const TensorType& t = v->type();
  if (t.ranked() && t.rank() == 1 && (*t.dims)[0].is_known()) out.length = (*t.dims)[0].value;
  if (t.ranked() && t.rank() == 0) out.length = 1;
  return out;
}

Dim dim_mul(const Dim& a, int64_t k) {
  if (k == 1) return a;
  if (k == 0) return Dim::known(0);
  if (a.is_known()) return Dim::known(a.value * k);
  return Dim::unknown();
}

Dim dim_add(const Dim& a, int64_t k) {
  if (k == 0) return a;
  if (a.is_known()) return Dim::known(a.value + k);
  return Dim::unknown();
}

Dim dim_sum(const Dims& dims) {
  int64_t total = 0;
  const Dim* only = nullptr;
  int nonzero = 0;
  for (const Dim& d : dims) {
    if (d.is_known() && d.value == 0) continue;
    ++nonzero;
    only = &d;
    if (!d.is_known()) continue;
    total += d.value;
  }
  if (nonzero == 0) return Dim::known(0);
  if (nonzero == 1) return *only;
  for (const Dim& d : dims)
    if (!d.is_known()) return Dim::unknown();
  return Dim::known(total);
}

Dim merge_dim(const Node& node, const Dim& a, const Dim& b, const std::string& what) {
  if (a.is_known() && b.is_known()) {
    if (a.value != b.value)
      fail(node, what + ": " + std::to_string(a.value) + " vs " + std::to_string(b.value));
    return a;
  }
  if (a.is_known()) return a;
  if (b.is_known()) return b;
  if (a.is_symbolic()) return a;
  return b;
}

Dims unknown_dims(int rank) {
  return Dims(static_cast<size_t>(std::max(rank, 0)), Dim::unknown());
}

TensorType broadcast_inputs(const Node& node, const std::vector<int>& inputs, DType dtype) {
  std::vector<TensorType> types;
  for (int i : inputs)
    if (has_input(node, i)) types.push_back(input_type(node, i));
  try {
    return broadcast_types(types, dtype);
  } catch (const Error& e) {
    fail(node, e.what());
  }
}

void require_same_dtype(const Node& node, const std::vector<int>& inputs) {
  const TensorType* first = nullptr;
  int first_index = 0;
  for (int i : inputs) {
    if (!has_input(node, i)) continue;
    const TensorType& t = input_type(node, i);
    if (!first) {
      first = &t;
      first_index = i;
    } else if (t.dtype != first->dtype) {
      fail(node, "inputs " + std::to_string(first_index) + " and " + std::to_string(i) +
                     " must have the same element type, got " + dtype_name(first->dtype) + " and " +
                     dtype_name(t.dtype) + " (insert a Cast)");
    }
  }
}

void require_dtype(const Node& node, int i, DType want, const char* role) {
  DType have = input_type(node, i).dtype;
  if (have != want)
    fail(node, std::string(role) + " (input " + std::to_string(i) + ") must be " +
                   dtype_name(want) + ", got " + dtype_name(have));
}

std::string ints_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

SymInt SymInt::of(const Dim& d) {
  if (d.is_known()) return SymInt::of(d.value);
  SymInt s;
  s.symbol = d.symbol;
  return s;
}

Dim SymInt::dim() const {
  if (known) return value >= 0 ? Dim::known(value) : Dim::unknown();
  if (!symbol.empty()) return Dim::sym(symbol);
  return Dim::unknown();
}

int64_t slice_count(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t* first) {
  if (first) *first = 0;
  if (dim <= 0) return 0;
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  int64_t count = 0;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    count = end > start ? (end - start + step - 1) / step : 0;
  } else {
    start = std::clamp<int64_t>(start, 0, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
    count = start > end ? (start - end - step - 1) / -step : 0;
  }
  if (first) *first = start;
  return count;
}

namespace {

constexpr int kMaxDepth = 64;
constexpr int kMaxSteps = 4096;
constexpr int64_t kMaxElements = 4096;

using SymInts = std::vector<SymInt>;

// Bounds one derivation: shape computations are short, and a malformed (cyclic) graph or a
// DAG with much sharing must not make shape inference recurse without end.
struct Walk {
  int depth = 0;
  int steps = 0;
};

std::optional<SymInts> derive(const Value* v, Walk& w);

std::optional<SymInts> from_tensor(const Tensor& t) {
  if (t.rank() > 1 || t.numel() > kMaxElements) return std::nullopt;
  std::optional<std::vector<int64_t>> ints = tensor_ints(t);
  if (!ints) return std::nullopt;
  SymInts out;
  for (int64_t x : *ints)
    out.push_back(SymInt::of(x));
  return out;
}

// Elementwise integer arithmetic, kept exact only where the result is a known integer or the
// symbol itself (x*1, x/1, x+0, x-0, and 1*x, 0+x).
SymInt arith(const std::string& op, const SymInt& a, const SymInt& b) {
  if (a.known && b.known) {
    if (op == "Add") return SymInt::of(a.value + b.value);
    if (op == "Sub") return SymInt::of(a.value - b.value);
    if (op == "Mul") return SymInt::of(a.value * b.value);
    if (b.value != 0) return SymInt::of(a.value / b.value);
    return SymInt{};
  }
  if (b.known && ((b.value == 1 && (op == "Mul" || op == "Div")) ||
                  (b.value == 0 && (op == "Add" || op == "Sub"))))
    return a;
  if (a.known && ((a.value == 1 && op == "Mul") || (a.value == 0 && op == "Add"))) return b;
  return SymInt{};
}

// Input `i` of `n` as fully known integers.
std::optional<std::vector<int64_t>> known_ints(const Node& n, int i, Walk& w) {
  std::optional<SymInts> s = derive(n.input(i), w);
  if (!s) return std::nullopt;
  std::vector<int64_t> out;
  for (const SymInt& e : *s) {
    if (!e.known) return std::nullopt;
    out.push_back(e.value);
  }
  return out;
}

std::optional<SymInts> derive_node(const Node& n, Walk& w) {
  const std::string& op = n.op();
  if (op == "Constant") {
    if (n.has_attr("value_int")) return SymInts{SymInt::of(n.attr_int("value_int", 0))};
    if (n.has_attr("value_ints")) {
      SymInts out;
      for (int64_t x : n.attr_ints("value_ints"))
        out.push_back(SymInt::of(x));
      return out;
    }
    return std::nullopt;
  }
  if (op == "Shape") {
    const Value* x = n.input(0);
    if (!x || !x->type().ranked()) return std::nullopt;
    const Dims& dims = *x->type().dims;
    int64_t r = static_cast<int64_t>(dims.size());
    int64_t start = n.attr_int("start", 0), end = n.attr_int("end", r);
    int64_t first = 0;
    int64_t count = slice_count(r, start, end, 1, &first);
    SymInts out;
    for (int64_t i = 0; i < count; ++i)
      out.push_back(SymInt::of(dims[first + i]));
    return out;
  }
  if (op == "Identity" || op == "Cast" || op == "Squeeze" || op == "Unsqueeze")
    return derive(n.input(0), w);
  if (op == "Concat") {
    SymInts out;
    for (const Value* in : n.inputs()) {
      std::optional<SymInts> part = derive(in, w);
      if (!part) return std::nullopt;
      out.insert(out.end(), part->begin(), part->end());
    }
    return out;
  }
  if (op == "Gather") {
    std::optional<SymInts> data = derive(n.input(0), w);
    int64_t axis = n.attr_int("axis", 0);
    if (!data || (axis != 0 && axis != -1)) return std::nullopt;
    std::optional<std::vector<int64_t>> indices = known_ints(n, 1, w);
    if (!indices) return std::nullopt;
    int64_t len = static_cast<int64_t>(data->size());
    SymInts out;
    for (int64_t i : *indices) {
      if (i < 0) i += len;
      if (i < 0 || i >= len) return std::nullopt;
      out.push_back((*data)[i]);
    }
    return out;
  }
  if (op == "Slice") {
    std::optional<SymInts> data = derive(n.input(0), w);
    if (!data) return std::nullopt;
    std::vector<int64_t> starts, ends, steps{1};
    if (n.has_attr("starts")) {
      starts = n.attr_ints("starts");
      ends = n.attr_ints("ends");
    } else {
      std::optional<std::vector<int64_t>> s = known_ints(n, 1, w), e = known_ints(n, 2, w);
      if (!s || !e) return std::nullopt;
      starts = *s;
      ends = *e;
      if (n.input(4)) {
        std::optional<std::vector<int64_t>> st = known_ints(n, 4, w);
        if (!st) return std::nullopt;
        steps = *st;
      }
    }
    if (starts.size() != 1 || ends.size() != 1 || steps.size() != 1 || steps[0] == 0)
      return std::nullopt;
    int64_t len = static_cast<int64_t>(data->size());
    int64_t first = 0;
    int64_t count = slice_count(len, starts[0], ends[0], steps[0], &first);
    SymInts out;
    for (int64_t i = 0; i < count; ++i)
      out.push_back((*data)[first + i * steps[0]]);
    return out;
  }
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
    std::optional<SymInts> a = derive(n.input(0), w), b = derive(n.input(1), w);
    if (!a || !b) return std::nullopt;
    if (a->size() != b->size() && a->size() != 1 && b->size() != 1) return std::nullopt;
    size_t len = std::max(a->size(), b->size());
    SymInts out;
    for (size_t i = 0; i < len; ++i)
      out.push_back(arith(op, (*a)[a->size() == 1 ? 0 : i], (*b)[b->size() == 1 ? 0 : i]));
    return out;
  }
  return std::nullopt;
}

std::optional<SymInts> derive(const Value* v, Walk& w) {
  if (!v || w.depth >= kMaxDepth || ++w.steps > kMaxSteps) return std::nullopt;
  if (const Tensor* t = constant_value(v)) return from_tensor(*t);
  const Node* n = v->producer();
  if (!n || v->producer_index() != 0) return std::nullopt;
  // Only small integer tensors are shape computations; a float or large tensor is data.
  const TensorType& t = v->type();
  if (t.ranked() && (t.rank() > 1 || (t.rank() == 1 && (*t.dims)[0].is_known() &&
                                      (*t.dims)[0].value > kMaxElements)))
    return std::nullopt;
  ++w.depth;
  std::optional<SymInts> out;
  try {
    out = derive_node(*n, w);
  } catch (const Error&) {
    // A malformed producer is reported by its own shape inference, not here.
  }
  --w.depth;
  return out;
}

} // namespace

std::optional<std::vector<SymInt>> sym_ints(const Value* v) {
  Walk w;
  return derive(v, w);
}

std::optional<Dims> sym_dims(const Value* v) {
  std::optional<std::vector<SymInt>> s = sym_ints(v);
  if (!s) return std::nullopt;
  Dims out;
  for (const SymInt& e : *s)
    out.push_back(e.dim());
  return out;
}

} // namespace shape_detail
} // namespace shrink
