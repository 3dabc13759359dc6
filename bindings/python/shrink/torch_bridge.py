"""Moving between PyTorch and shrink: ``from_torch`` and ``to_torch``."""

import os
import tempfile

from . import _shrink


def from_torch(module, example_inputs, opset=17, dynamic_batch=True, input_names=None,
               output_names=None):
    """A shrink Graph of a torch.nn.Module, through ``torch.onnx.export`` and the ONNX importer.

    `example_inputs` is a tensor or a tuple of tensors. With `dynamic_batch` the first dimension
    of every input and output is symbolic (``N``). The module is exported in eval mode.
    """
    import torch

    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    example_inputs = tuple(example_inputs)
    input_names = input_names or ["input%d" % i if len(example_inputs) > 1 else "input"
                                  for i in range(len(example_inputs))]
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            outputs = module(*example_inputs)
        n_out = len(outputs) if isinstance(outputs, (tuple, list)) else 1
        output_names = output_names or (["output"] if n_out == 1 else
                                        ["output%d" % i for i in range(n_out)])
        dynamic_axes = None
        if dynamic_batch:
            dynamic_axes = {n: {0: "N"} for n in list(input_names) + list(output_names)}
        fd, path = tempfile.mkstemp(suffix=".onnx")
        os.close(fd)
        try:
            torch.onnx.export(module, example_inputs, path, opset_version=opset,
                              input_names=list(input_names), output_names=list(output_names),
                              dynamic_axes=dynamic_axes, do_constant_folding=True)
            return _shrink.Graph.load(path)
        finally:
            os.unlink(path)
    finally:
        module.train(was_training)


def to_torch(graph):
    """A torch.nn.Module whose outputs equal the graph's (the LibTorch GraphModule).

    Float weights are trainable parameters (``module.parameters()`` works with any torch
    optimizer); ``module.write_back(graph)`` copies trained weights back into a Graph. A graph
    with one output returns a tensor, otherwise a tuple.
    """
    import torch

    class GraphModule(torch.nn.Module):
        def __init__(self, g):
            super().__init__()
            self._impl = _shrink._GraphModule(g)
            # The very tensors the C++ forward uses, so that gradients and optimizers reach them.
            for name, tensor in self._impl.named_parameters():
                self._parameters[name] = tensor
            for name, tensor in self._impl.named_buffers():
                self._buffers[name] = tensor

        def forward(self, *inputs):
            outputs = self._impl.forward(list(inputs))
            return outputs[0] if len(outputs) == 1 else tuple(outputs)

        def train(self, mode=True):
            super().train(mode)
            self._impl.set_training(mode)
            return self

        def write_back(self, g):
            """Writes the current weights into `g`'s initializers."""
            self._impl.write_back(g)

    return GraphModule(graph)
