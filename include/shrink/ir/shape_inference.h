#pragma once
/// \file
/// Shape inference over a whole graph, and the dimension arithmetic it is built from.
///
/// The per-op rules (`ops::infer_<Name>`, see op_table.h) follow ONNX at the latest opset and
/// also accept the older attribute forms listed in ops.def. Symbolic dimensions such as the batch
/// size `N` flow through: broadcasting `N` with `N` or `1` gives `N`, `Reshape` and `Flatten`
/// carry `N` through products (`[N,16,7,7]` -> `[N,784]` and back), and arithmetic that cannot
/// be expressed with one symbol gives an unknown dimension (`?`).

#include "shrink/ir/type.h"

#include <optional>
#include <vector>

namespace shrink {

class Graph;

/// Infers the type of every node output, walking the nodes in program order, and marks the graph
/// changed. Every node that fails is reported, not only the first: the thrown `Error` lists one
/// line per failing node (`node 'conv3' (Conv): ...`). The outputs of a failing node are left
/// unranked so that later nodes do not report follow-on errors.
void infer_shapes(Graph& graph);

/// Broadcasts two dimensions with numpy rules, or returns nullopt when they cannot broadcast
/// (two different known sizes, neither 1). A symbol broadcast with itself or with 1 stays the
/// symbol; a symbol or unknown broadcast with a known size other than 1 gives that size; a
/// symbol broadcast with an unknown dimension gives the symbol (symbols are assumed not to be
/// broadcast as 1 against a larger dimension); two different symbols give an unknown dimension.
std::optional<Dim> broadcast_dim(const Dim& a, const Dim& b);

/// Broadcasts two shapes with numpy rules (aligned at the last dimension), or returns nullopt
/// when some pair of dimensions cannot broadcast.
std::optional<std::vector<Dim>> broadcast_dims(const std::vector<Dim>& a,
                                               const std::vector<Dim>& b);

/// The type that numpy broadcasting of all `types` gives, with element type `dtype`. It is
/// unranked when any input is unranked. Throws `Error` ("cannot broadcast f32[2,3] with f32[4]")
/// when the shapes do not broadcast; callers that know the node add its name.
TensorType broadcast_types(const std::vector<TensorType>& types, DType dtype);

/// The product of `dims`: known when all are known (or any is 0), the symbol when exactly one
/// dimension is symbolic and the known rest multiplies to 1, unknown otherwise.
Dim dim_product(const std::vector<Dim>& dims);

} // namespace shrink
