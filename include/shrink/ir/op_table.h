#pragma once
/// \file
/// The one op table (generated from `ops.def`): arity, attribute kinds, shape inference and the
/// reference kernel of every operator. Import, export, the verifier, shape inference,
/// const-folding and the reference executor all look ops up here.

#include "shrink/core/tensor.h"
#include "shrink/ir/attribute.h"
#include "shrink/ir/type.h"

#include <string>
#include <utility>
#include <vector>

namespace shrink {

class Node;

/// Shape inference: the output types of `node` from its input types (and constant inputs).
/// Throws `Error` naming the node when the inputs do not fit the op.
using ShapeFn = std::vector<TensorType> (*)(const Node& node);

/// Reference kernel: computes every output of `node` from concrete inputs (nullptr for an absent
/// optional input). Outputs are allocated by the kernel. Throws `Error` naming the node on bad
/// input.
using KernelFn = void (*)(const Node& node, const std::vector<const Tensor*>& inputs,
                          std::vector<Tensor>& outputs);

/// Everything the IR knows about one operator.
struct OpSchema {
  std::string name;                                    ///< ONNX operator name.
  int min_inputs;                                      ///< Fewest input slots.
  int max_inputs;                                      ///< Most input slots, -1 for variadic.
  int min_outputs;                                     ///< Fewest outputs.
  int max_outputs;                                     ///< Most outputs, -1 for variadic.
  std::vector<std::pair<std::string, AttrKind>> attrs; ///< Known attributes and their kinds.
  ShapeFn infer;                                       ///< Shape inference.
  KernelFn kernel;                                     ///< Reference kernel.
};

/// The schema of `op`, or nullptr when the op is not in the table.
const OpSchema* find_op(const std::string& op);

/// Every schema, sorted by name.
const std::vector<const OpSchema*>& all_ops();

/// True for float ops with one input whose every output element is a function of the input
/// element at the same position only (activations and unary math: Relu, Gelu, Sigmoid, Exp...).
/// A runtime may compute such an op on int8 values as a table.
bool is_unary_elementwise(const std::string& op);

/// Runs the op's shape inference for `node`. Throws `UnsupportedError` for an unknown op.
std::vector<TensorType> infer_node_types(const Node& node);

/// Runs the op's reference kernel. Throws `UnsupportedError` for an unknown op.
std::vector<Tensor> evaluate_node(const Node& node, const std::vector<const Tensor*>& inputs);

/// Declarations of the per-op functions the table points to.
#define SHRINK_OP(Name, a, b, c, d, attrs)                                                         \
  std::vector<TensorType> infer_##Name(const Node& node);                                          \
  void kernel_##Name(const Node& node, const std::vector<const Tensor*>& inputs,                   \
                     std::vector<Tensor>& outputs);
namespace ops {
#include "shrink/ir/ops.def"
} // namespace ops
#undef SHRINK_OP

} // namespace shrink
