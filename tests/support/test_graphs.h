#pragma once
/// \file
/// Graphs built in code for tests: small but real (a residual CNN block, a small CNN classifier,
/// a transformer encoder block as torch.onnx exports it, a graph full of exporter noise), with
/// deterministic random weights. Every builder runs shape inference before returning, so every
/// value is typed.

#include "shrink/core/tensor.h"
#include "shrink/ir/graph.h"

#include <cstdint>
#include <string>
#include <vector>

namespace shrink::testing {

/// Conv(3x3)+BatchNormalization+Relu+Conv(3x3)+BatchNormalization, a residual Add and a Relu on
/// input `x: f32[N,8,8,8]`.
Graph residual_cnn_block();

/// A stem Conv(3x3, stride 2)+BatchNormalization+Relu, one residual block, GlobalAveragePool,
/// Flatten and a Gemm classifier with 10 classes, on input `x: f32[N,1,28,28]`.
Graph small_cnn();

/// A post-norm transformer encoder block on `x: f32[N,16,32]`: 4-head self-attention written as
/// torch.onnx exports it (MatMul+Add projections, Reshape/Transpose to heads, MatMul, Div by
/// sqrt(d), Softmax, MatMul, Transpose/Reshape back, output projection), a residual Add, a
/// decomposed LayerNorm (ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add), an MLP with GELU
/// in Erf form, a residual Add and a second decomposed LayerNorm.
Graph transformer_encoder_block();

/// A Conv classifier wrapped in exporter noise: Identity, Dropout, Constant nodes, a
/// Shape->Gather->Unsqueeze->Concat->Reshape chain for the flatten, a Cast to the same type
/// and an identity Transpose. The input is `x: f32[2,4,8,8]` when `static_batch`, otherwise
/// `x: f32[N,4,8,8]`.
Graph noisy_graph(bool static_batch = true);

/// Random inputs for every graph input, uniform in [-1, 1), with symbolic or unknown
/// dimensions set to `batch`.
std::vector<Tensor> random_inputs(const Graph& graph, int64_t batch, uint64_t seed);

/// Number of nodes with op `op`.
int count_ops(const Graph& graph, const std::string& op);

/// Runs `a` and `b` with the reference executor on the same random inputs (batch `batch`) and
/// returns the largest `max_relative_error` over their outputs, which must match in number and
/// shape.
double max_output_error(const Graph& a, const Graph& b, int64_t batch = 2, uint64_t seed = 7);

} // namespace shrink::testing
