// The LibTorch side of the bindings: the trainer for passes that need one, and the graph as a
// differentiable module for `shrink.to_torch`. Kept in its own file because LibTorch's Python
// headers are slow to compile.

#include "shrink/core/error.h"
#include "shrink/torch/graph_module.h"
#include "shrink/torch/trainer.h"

#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/csrc/autograd/python_variable.h>
#include <torch/csrc/utils/pybind.h>

namespace py = pybind11;
using namespace shrink;

void register_torch_bridge(py::module_& m, std::function<Trainer*()>& trainer_factory) {
  // One trainer for the process: it holds no state between runs.
  trainer_factory = [] {
    static TorchTrainer trainer;
    return static_cast<Trainer*>(&trainer);
  };

  py::class_<GraphModuleImpl, std::shared_ptr<GraphModuleImpl>>(
      m, "_GraphModule", "The LibTorch module of a graph; wrapped by shrink.to_torch.")
      .def(py::init([](const Graph& g) { return std::make_shared<GraphModuleImpl>(g); }))
      .def(
          "forward",
          [](GraphModuleImpl& mod, const std::vector<torch::Tensor>& inputs) {
            return mod.forward(inputs);
          },
          py::arg("inputs"))
      .def(
          "named_parameters",
          [](GraphModuleImpl& mod) {
            std::vector<std::pair<std::string, torch::Tensor>> out;
            for (const auto& item : mod.named_parameters(true))
              out.emplace_back(item.key(), item.value());
            return out;
          },
          "(name, tensor) of every trainable parameter; the tensors forward() uses.")
      .def("named_buffers",
           [](GraphModuleImpl& mod) {
             std::vector<std::pair<std::string, torch::Tensor>> out;
             for (const auto& item : mod.named_buffers(true))
               out.emplace_back(item.key(), item.value());
             return out;
           })
      .def("set_training", [](GraphModuleImpl& mod, bool on) { mod.train(on); })
      .def(
          "write_back", [](const GraphModuleImpl& mod, Graph& g) { mod.write_back(g); },
          "Writes the current weights into the graph's initializers.")
      .def("initializer_of", &GraphModuleImpl::initializer_of);
}
