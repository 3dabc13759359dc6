#pragma once
// Graphs built with the Graph API for the ONNX export tests.

#include "shrink/ir/graph.h"

namespace shrink::test {

/// A residual CNN on f32[N,3,8,8]: Conv/Relu, Conv/BatchNormalization, Add, MaxPool,
/// GlobalAveragePool, Flatten, Gemm and Softmax; output f32[N,10].
Graph residual_cnn();

/// A transformer encoder block on f32[N,5,16] with two heads: fused QKV MatMul, Split
/// (num_outputs), Reshape/Transpose, scaled attention with Softmax, LayerNormalization, a Gelu
/// feed-forward, then ReduceMean/Unsqueeze/Squeeze with attribute axes and an attribute Clip;
/// output f32[N,16]. It uses the attribute forms that export must turn into inputs.
Graph transformer_block();

/// A QDQ-quantized convolution on f32[1,3,8,8]: per-tensor QuantizeLinear/DequantizeLinear of
/// the input, an i8 weight with per-axis DequantizeLinear (axis 0), Conv and Relu. Outputs the
/// f32 result and the u8 quantized input.
Graph qdq_conv();

} // namespace shrink::test
