"""shrink: model compression (distillation, pruning, quantization, low-rank) on one IR.

A thin layer over the C++ extension ``shrink._shrink``::

    import shrink
    g = shrink.load("examples/models/fmnist-resnet.onnx")
    shrink.passes.prune_channels(g, ratio=0.25)          # typed keyword options, in place
    shrink.run_pass(g, "lowrank", ratio=0.5)             # the same by name
    report = shrink.run(g, "fold-batchnorm,dce")         # pipeline text
    acc = shrink.evaluate(g, shrink.data("fashion-mnist{split=test}"))
    out = shrink.onednn().run(g, [images])[0]            # numpy in, numpy out

See docs/python.md.
"""

from . import _shrink
from ._shrink import (  # noqa: F401  (re-exported)
    DataSource,
    Error,
    Executor,
    Graph,
    ParseError,
    RecipeError,
    UnsupportedError,
    VerifyError,
    array_data,
    fashion_mnist,
    npy_data,
    random_subset,
)
from .graph import graph_html as _graph_html
from .passes import Context, PassManager, pass_info, pass_names, passes, run, run_pass  # noqa: F401
from .progress import progress_callback as _progress_callback
from .recipes import Recipe, Report, run_recipe  # noqa: F401
from .sensitivity import Sensitivity, sensitivity  # noqa: F401
from .torch_bridge import from_torch, to_torch  # noqa: F401

__all__ = [
    "Graph", "DataSource", "Executor", "Context", "PassManager", "Recipe", "Report",
    "Error", "ParseError", "VerifyError", "RecipeError", "UnsupportedError",
    "load", "parse", "passes", "run_pass", "run", "pass_names", "pass_info",
    "reference", "onednn", "evaluate", "data", "fashion_mnist", "npy_data", "array_data",
    "iterable_data", "random_subset", "run_recipe", "from_torch", "to_torch",
    "Sensitivity", "sensitivity",
]

Graph._repr_html_ = _graph_html
Graph.__repr__ = lambda g: "<shrink.Graph %r: %d nodes, %s parameters>" % (
    g.name, g.num_nodes, _shrink.human_count(g.num_parameters))


def load(path):
    """Loads a model file (.onnx or .mir) as a Graph."""
    return Graph.load(str(path))


def parse(text):
    """Parses a graph in the IR text form."""
    return Graph.parse(text)


def reference():
    """The reference executor: every op in plain C++, the ground truth."""
    return _shrink.reference_executor()


def onednn(threads=0, int8=True, winograd="auto"):
    """The oneDNN runtime executor (fp32 and int8; `threads` 0 uses every core). `winograd`:
    "auto" times direct and Winograd 3x3 convolutions in a plan's first runs and keeps the
    faster, "on" / "off" decide without a trial (docs/runtime.md)."""
    return _shrink.onednn_executor(threads, int8, winograd)


def data(spec, role="eval", seed=0):
    """Opens a data set from its one-line recipe form.

    Examples: ``"fashion-mnist{split=test}"``, ``"npy{inputs=x.npy,labels=y.npy}"``,
    ``"fortunes{window=128,vocab=examples/models/fortunes-gpt.vocab.json}"``.
    """
    return _shrink.data_spec(spec, role, seed)


def iterable_data(batches, name="iterable"):
    """A DataSource from a Python iterable of batches.

    Each batch is ``inputs`` or a tuple ``(inputs, labels)``, where ``inputs`` is an array (or a
    list of arrays, one per graph input) and arrays may be numpy arrays or torch tensors. The batches
    are concatenated once into memory.
    """
    import numpy as np

    inputs, labels = [], []
    for batch in batches:
        if isinstance(batch, tuple) and len(batch) == 2:
            x, y = batch
        else:
            x, y = batch, None
        xs = [_to_numpy(a) for a in (x if isinstance(x, (list, tuple)) else [x])]
        inputs.append(xs)
        if y is not None:
            labels.append(_to_numpy(y))
    if not inputs:
        raise Error("iterable_data: the iterable gave no batches")
    columns = [np.concatenate([b[i] for b in inputs]) for i in range(len(inputs[0]))]
    label_array = np.concatenate(labels) if labels else None
    if labels and len(labels) != len(inputs):
        raise Error("iterable_data: some batches have labels and some do not")
    return array_data(columns, label_array, name)


def _to_numpy(a):
    if hasattr(a, "detach") and hasattr(a, "cpu"):  # a torch tensor
        return a.detach().cpu().numpy()
    import numpy as np

    return np.asarray(a)


def evaluate(graph, data, metric="accuracy", executor=None, batch_size=64, limit=-1,
             progress=True):
    """Scores `graph` on `data` (a DataSource) with `metric`.

    Returns a dict: metric, value, samples, predictions, seconds, samples_per_second, data,
    executor, text. `progress=True` shows a tqdm bar when tqdm is installed.
    """
    with _progress_callback(progress, "eval") as cb:
        return _shrink.evaluate(graph, data, metric, executor, batch_size, limit, cb)
