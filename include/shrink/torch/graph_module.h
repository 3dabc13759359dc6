#pragma once
/// \file
/// The LibTorch bridge: a shrink `Graph` as a differentiable `torch::nn::Module`.
///
/// ```cpp
/// shrink::Graph graph = shrink::load_model("examples/models/fmnist-resnet.onnx");
/// shrink::GraphModule module(graph);                 // float initializers become parameters
/// torch::optim::SGD opt(module->parameters(), 0.01);
/// torch::Tensor logits = module->forward({images})[0];
/// torch::nn::functional::cross_entropy(logits, labels).backward();
/// opt.step();
/// module->write_back(graph);                          // trained weights back into the Graph
/// ```
///
/// Every op of the op table (ir/ops.def) is lowered to ATen ops with ONNX semantics, matching the
/// reference kernels (tests/torch/graph_module_test.cpp checks each op against them). Nodes whose
/// inputs are all integer or boolean (shape arithmetic, index computations) carry no gradient
/// and run their reference kernel, so their semantics are the reference's by construction.
/// `QuantizeLinear` is fake quantization with a straight-through estimator: its output is kept
/// as float holding the integer codes, `DequantizeLinear` maps it back, and the rounding passes
/// gradients through unchanged inside the clamping range (so quantization-aware training works
/// on a QDQ graph). A quantized value used by anything other than `DequantizeLinear`, or
/// returned, is cast to its integer type. See docs/distill.md.

#include "shrink/ir/graph.h"

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace shrink {

/// Converts a shrink tensor to a new torch tensor (a copy; any dtype, f16/bf16 bit-exact).
torch::Tensor to_torch(const Tensor& tensor);

/// Converts a torch tensor (any device, contiguous or not) to a new shrink tensor (a copy).
/// Throws `UnsupportedError` for dtypes shrink has no equivalent for (f64, complex).
Tensor from_torch(const torch::Tensor& tensor);

/// A `Graph` as a `torch::nn::Module`.
///
/// Float initializers (f32, f16, bf16) become trainable parameters, except those used only as
/// operands that are not weights (BatchNormalization running statistics, quantization scales
/// and zero points, Resize/Pad/Clip operands), which become buffers together with every integer
/// initializer. Parameter names are the initializer names with `.` replaced by `_` (LibTorch
/// forbids dots); `initializer_of` maps them back.
///
/// `train()` / `eval()` work as in PyTorch: in training mode BatchNormalization uses batch
/// statistics and updates its running mean and variance (ONNX `momentum`), and Dropout drops;
/// in evaluation mode both follow ONNX inference semantics.
class GraphModuleImpl : public torch::nn::Module {
public:
  /// Lowers `graph` (verified first; `VerifyError` lists every problem). The module keeps its
  /// own copy of the graph and of every initializer, so `graph` may change or die afterwards.
  /// Throws `UnsupportedError` listing every node whose op or attributes cannot be lowered.
  explicit GraphModuleImpl(const Graph& graph);
  ~GraphModuleImpl() override;

  /// Runs the graph on `inputs` (one per graph input, in order; dtypes as the graph inputs) and
  /// returns the graph outputs, followed by the values named in `fetch` (intermediate values,
  /// e.g. for feature distillation). Throws `Error` for an unknown fetch name or a wrong input
  /// count, and rethrows kernel errors naming the node ("while running node 'conv3' (Conv)").
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& inputs,
                                     const std::vector<std::string>& fetch = {});

  /// Writes the current parameter and buffer values into the initializers of `graph` with the
  /// same names (new tensors; shared storage is never written). Throws `Error` naming the first
  /// initializer that is missing from `graph` or has another shape.
  void write_back(Graph& graph) const;

  /// The graph the module was built from (its own copy, with the original weights).
  const Graph& graph() const { return *graph_; }

  /// The initializer name behind a parameter or buffer name, or "" when there is none.
  std::string initializer_of(const std::string& param_name) const;

  /// Trainable parameters keyed by initializer name, in graph order.
  std::vector<std::pair<std::string, torch::Tensor>> named_initializer_parameters() const;

  /// True when a value named `name` exists in the graph (for fetch and hint checks).
  bool has_value(const std::string& name) const;

private:
  struct Plan;
  std::unique_ptr<Graph> graph_;
  std::unique_ptr<Plan> plan_;
  std::map<std::string, std::string> param_to_init_;
};

/// Holder of `GraphModuleImpl` (a shared pointer, as every LibTorch module holder):
/// `shrink::GraphModule m(graph); m->forward({x});`.
TORCH_MODULE(GraphModule);

} // namespace shrink
