"""Every registered pass as a Python function with typed keyword options.

``shrink.passes.prune_channels(graph, ratio=0.5, criterion="l1")`` is the same as
``shrink.run_pass(graph, "prune-channels", ratio=0.5, criterion="l1")`` and as the pipeline text
``prune-channels{criterion=l1,ratio=0.5}``. Functions are made from the C++ registry when the
module is imported, so every pass registered in C++ appears here with its options, their types
and defaults (``help(shrink.passes.lowrank)``).
"""

import inspect
import keyword
import types

from . import _shrink
from .progress import progress_callback


class Context:
    """What passes may use besides the graph: data, teacher, executor, seed, progress.

    ``calibration``, ``train`` and ``eval`` are DataSources (``shrink.data(...)``,
    ``shrink.array_data(...)``, ``shrink.iterable_data(...)``); ``teacher`` a Graph (default: a
    copy of the pipeline input); ``executor`` one of ``shrink.onednn()`` / ``shrink.reference()``
    (default oneDNN); ``progress`` True for a tqdm bar, False, or a callable (done, total,
    status). A trainer (LibTorch) is supplied automatically to passes that need one.
    """

    def __init__(self, calibration=None, train=None, eval=None, teacher=None, executor=None,
                 seed=0, progress=True):
        self.calibration = calibration
        self.train = train
        self.eval = eval
        self.teacher = teacher
        self.executor = executor
        self.seed = seed
        self.progress = progress


_TYPE_NAMES = {"number": "float", "integer": "int", "bool": "bool", "string": "str",
               "list": "list of str"}


def _option_text(pass_name, key, value, kind):
    """Python value -> option text, checked against the option's declared type."""
    def bad(expected):
        raise TypeError("pass '%s': option '%s' must be %s, got %r" % (pass_name, key, expected,
                                                                         value))
    if kind == "bool":
        if not isinstance(value, bool):
            bad("a bool")
        return "true" if value else "false"
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return str(int(value))
            bad("an int")
        return str(value)
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            bad("a number")
        return repr(float(value)) if isinstance(value, float) else str(value)
    if kind == "list":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            bad("a list")
        return "[" + ",".join(_shrink.quote_option_value(str(v)) for v in value) + "]"
    if isinstance(value, (list, tuple, dict)):
        bad("a str")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _entries():
    return {name: (summary, options) for name, summary, options in _shrink.pass_entries()}


def pass_names():
    """Every registered pass name, sorted."""
    return sorted(_entries())


def pass_info(name):
    """{'name', 'summary', 'options': [{'key', 'type', 'default', 'allowed'}]} of a pass."""
    entries = _entries()
    if name not in entries:
        _shrink.validate_pipeline(name)  # raises RecipeError with the closest name
    summary, options = entries[name]
    return {"name": name, "summary": summary, "options": options}


def python_name(key):
    """The keyword-argument name of an option: '-' becomes '_', Python keywords get a '_'."""
    name = key.replace("-", "_")
    return name + "_" if keyword.iskeyword(name) else name


_PY_TYPES = {"number": float, "integer": int, "bool": bool, "string": str, "list": list}


def _spec_text(name, options):
    """Pipeline text of one pass with Python-valued options."""
    entries = _entries()
    declared = {o["key"]: o["type"] for o in entries[name][1]} if name in entries else {}
    parts = []
    for key, value in sorted(options.items()):
        if value is None:
            continue
        if key not in declared:
            key = {python_name(k): k for k in declared}.get(key, key)
        kind = declared.get(key, "string")  # unknown keys: the C++ side names the closest
        text = _option_text(name, key, value, kind)
        parts.append("%s=%s" % (key, text if kind == "list" else _shrink.quote_option_value(text)))
    return name + ("{" + ",".join(parts) + "}" if parts else "")


def run(graph, pipeline, context=None):
    """Runs pipeline text (or a PassManager) on `graph` in place; returns the pipeline report.

    The report is a dict: passes (one record per pipeline item: name, options, seconds,
    changed, stats, warnings, params_after, bytes_after, nodes_after, children), seconds,
    params/bytes/nodes before and after, warnings.
    """
    if isinstance(pipeline, PassManager):
        pipeline = pipeline.text
    c = context or Context()
    with progress_callback(c.progress, "passes") as cb:
        return _shrink.run_pipeline(graph, pipeline, c.calibration, c.train, c.eval, c.teacher,
                                    c.executor, c.seed, cb)


def run_pass(graph, name, context=None, **options):
    """Runs the registered pass `name` with keyword options on `graph` in place."""
    return run(graph, _spec_text(name, options), context)


class PassManager:
    """A pipeline built step by step; ``text`` is its pipeline text.

    >>> pm = PassManager().add("fold-batchnorm").add("prune-channels", ratio=0.5)
    >>> pm.text
    'fold-batchnorm,prune-channels{ratio=0.5}'
    """

    def __init__(self, pipeline=""):
        self._items = [pipeline] if pipeline else []

    def add(self, name, **options):
        """Appends a pass with keyword options; returns self."""
        self._items.append(_spec_text(name, options))
        return self

    def fixpoint(self, *names, max_rounds=None):
        """Appends fixpoint(names...), repeated until nothing changes; returns self."""
        opts = "{max_rounds=%d}" % max_rounds if max_rounds else ""
        self._items.append("fixpoint%s(%s)" % (opts, ",".join(names)))
        return self

    @property
    def text(self):
        """The canonical pipeline text."""
        return _shrink.canonical_pipeline(",".join(self._items))

    def validate(self, context=None):
        """Checks names, options and needs against `context`; raises RecipeError."""
        c = context or Context()
        _shrink.validate_pipeline(self.text, c.calibration is not None, c.train is not None,
                                  c.eval is not None)

    def run(self, graph, context=None):
        """Runs the pipeline on `graph` in place; returns the report (see ``shrink.run``)."""
        return run(graph, self.text, context)

    def __repr__(self):
        return "PassManager(%r)" % self.text


def _make_function(name, summary, options):
    def fn(graph, context=None, **kwargs):
        return run_pass(graph, name, context, **kwargs)

    fn.__name__ = name.replace("-", "_")
    fn.__qualname__ = fn.__name__
    lines = ["%s\n\nRuns the '%s' pass on `graph` in place and returns the pipeline report."
             % (summary, name), "", "Options:"]
    for o in options:
        extra = " (one of %s)" % ", ".join(o["allowed"]) if o["allowed"] else ""
        lines.append("    %s: %s, default %s%s" % (python_name(o["key"]),
                                                   _TYPE_NAMES.get(o["type"], o["type"]),
                                                   o["default"] if o["default"] != "" else "''",
                                                   extra))
    if not options:
        lines.append("    (none)")
    lines.append("")
    lines.append("context: a shrink.Context with data, teacher, executor, seed, progress.")
    fn.__doc__ = "\n".join(lines)
    kind = inspect.Parameter
    params = [kind("graph", kind.POSITIONAL_OR_KEYWORD),
              kind("context", kind.POSITIONAL_OR_KEYWORD, default=None)]
    params += [kind(python_name(o["key"]), kind.KEYWORD_ONLY, default=None,
                    annotation=_PY_TYPES.get(o["type"], str)) for o in options]
    fn.__signature__ = inspect.Signature(params)
    return fn


def _build_namespace():
    ns = types.SimpleNamespace()
    for name, (summary, options) in sorted(_entries().items()):
        setattr(ns, name.replace("-", "_"), _make_function(name, summary, options))
    ns.__doc__ = __doc__
    return ns


passes = _build_namespace()
