#pragma once
// Helpers shared by the lib/ir/shape_inference*.cpp files. Not installed: the public part is
// include/shrink/ir/shape_inference.h.

#include "shrink/core/error.h"
#include "shrink/ir/graph.h"
#include "shrink/ir/op_table.h"
#include "shrink/ir/shape_inference.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shrink::shape_detail {

using Dims = std::vector<Dim>;

// Throws Error("node '<name>' (<Op>): <problem>").
[[noreturn]] void fail(const Node& node, const std::string& problem);

// True when optional input `i` is present.
bool has_input(const Node& node, int i);

// The type of input `i`; fails naming the node when the input is absent.
const TensorType& input_type(const Node& node, int i);

// `axis` in [-rank, rank) mapped to [0, rank); with `inclusive`, [-rank, rank] to [0, rank].
int normalize_axis(const Node& node, int64_t axis, int rank, const char* what = "axis",
                   bool inclusive = false);

// Normalizes each axis, failing on out-of-range and repeated axes.
std::vector<int> normalize_axes(const Node& node, const std::vector<int64_t>& axes, int rank,
                                const char* what = "axes");

// An integer list given either as an attribute (older opsets) or as an input (newer opsets).
struct IntList {
  enum class State { absent, known, unknown };
  State state = State::absent;
  std::vector<int64_t> values; // when known
  int64_t length = -1;         // when unknown: the 1-D input's length if its type says so
  bool known() const { return state == State::known; }
  bool absent() const { return state == State::absent; }
  bool unknown() const { return state == State::unknown; }
};

// Reads the list from attribute `attr` when the node has it, else from input `input` (when
// present): known when the input is a constant, unknown otherwise. An empty constant tensor
// counts as absent, as ONNX allows for optional list inputs.
IntList int_list(const Node& node, int input, const char* attr);

// The integer contents of a constant tensor (i64, i32, i8, u8, bool); nullopt for other dtypes.
std::optional<std::vector<int64_t>> tensor_ints(const Tensor& t);

// The contents of input `i` as integers when it is a constant or its contents are statically
// derivable and fully known (see sym_ints); nullopt otherwise.
std::optional<std::vector<int64_t>> constant_ints(const Node& node, int i);
// The contents of constant input `i` (any dtype) as doubles; nullopt when not a constant.
std::optional<std::vector<double>> constant_doubles(const Node& node, int i);

// Dimension arithmetic; anything not expressible gives Dim::unknown().
Dim dim_mul(const Dim& a, int64_t k);
Dim dim_add(const Dim& a, int64_t k);
Dim dim_sum(const Dims& dims);

// The more specific of two dimensions that must be equal; fails when both are known and differ.
Dim merge_dim(const Node& node, const Dim& a, const Dim& b, const std::string& what);

// `rank` unknown dimensions.
Dims unknown_dims(int rank);

// Single-output results.
inline std::vector<TensorType> one(TensorType t) {
  return {std::move(t)};
}
inline TensorType ranked(DType d, Dims dims) {
  return TensorType{d, std::move(dims)};
}

// Numpy broadcasting of the given inputs (absent ones skipped), naming the node on failure.
TensorType broadcast_inputs(const Node& node, const std::vector<int>& inputs, DType dtype);

// Fails unless every listed input has the same dtype as the first.
void require_same_dtype(const Node& node, const std::vector<int>& inputs);

// Fails unless input `i` has dtype `want`.
void require_dtype(const Node& node, int i, DType want, const char* role);

// The dims of input `i`, or nullptr when its type is unranked (fails when the input is absent).
const Dims* ranked_dims(const Node& node, int i);

// One element of a small integer tensor derived without running the graph: a known integer of
// any sign (Reshape targets hold -1 and 0), a dimension symbol, or unknown.
struct SymInt {
  bool known = false;
  int64_t value = 0;
  std::string symbol;
  static SymInt of(int64_t v) { return SymInt{true, v, {}}; }
  static SymInt of(const Dim& d);
  // As a dimension: known non-negative values and symbols map over, anything else is unknown.
  Dim dim() const;
};

// The flattened contents of a rank-0 or rank-1 integer tensor when they can be derived
// statically: constants and initializers give known values, `Shape` of a typed value gives its
// dims (symbols included), and Gather, Concat, Slice, Squeeze, Unsqueeze, Cast, Identity and
// elementwise Add/Sub/Mul/Div of such values are followed. This is what keeps `N` in shape
// computations exported by PyTorch (`x.view(x.size(0), -1)`). Producers' types must be set.
std::optional<std::vector<SymInt>> sym_ints(const Value* v);

// sym_ints converted to dims (nullopt when not derivable).
std::optional<Dims> sym_dims(const Value* v);

// ONNX Slice semantics on one axis of size `dim`: the number of selected elements, and in
// `first` the first selected index.
int64_t slice_count(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t* first);

// "[1,2,3]" for error messages.
std::string ints_str(const std::vector<int64_t>& v);

} // namespace shrink::shape_detail
