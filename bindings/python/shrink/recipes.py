"""Recipes and their reports from Python: run, inspect, show in a notebook, plot."""

import html
import json

from . import _shrink
from .progress import progress_callback

Recipe = _shrink.Recipe


def _recipe_repr(r):
    return "<shrink.Recipe %s: %s -> %s>" % (r.source, r.pipeline, r.output or "(no output)")


Recipe.__repr__ = _recipe_repr


class Report:
    """The report of a recipe run: ``report.json`` as a dict (``report.data``), plus Markdown.

    Fields (docs/recipes.md): recipe {path, sha256}; input {path, sha256, params, bytes, flops,
    metric}; data {role: {spec, description, samples, metric, files}}; steps [{pass, options,
    seconds, params, bytes, flops, metric}]; output {path, sha256}; versions; seed.
    """

    def __init__(self, data, markdown=""):
        self.data = data
        self.markdown = markdown

    @classmethod
    def load(cls, path):
        """Reads a report.json file."""
        with open(path) as f:
            return cls(json.load(f))

    @property
    def steps(self):
        """The step records."""
        return self.data["steps"]

    @property
    def metric_name(self):
        """The eval metric's name, or None without eval data."""
        return self.data.get("data", {}).get("eval", {}).get("metric")

    def rows(self):
        """(step, pass, params, bytes, flops, metric, seconds) for the input and every step."""
        i = self.data["input"]
        out = [(0, "input", i["params"], i["bytes"], i["flops"], i["metric"], None)]
        for n, s in enumerate(self.steps, 1):
            out.append((n, s["pass"], s["params"], s["bytes"], s["flops"], s["metric"],
                        s["seconds"]))
        return out

    def to_json(self):
        """The report as JSON text."""
        return json.dumps(self.data, indent=2)

    def __getitem__(self, key):
        return self.data[key]

    def __repr__(self):
        lines = ["%-4s %-24s %10s %11s %10s %9s %9s" % ("step", "pass", "params", "size", "FLOPs",
                                                      (self.metric_name or "metric")[:9],
                                                      "seconds")]
        for n, name, p, b, f, m, s in self.rows():
            lines.append("%-4s %-24s %10s %11s %10s %9s %9s" % (
                n, name, _shrink.human_count(p), _shrink.human_bytes(b), _shrink.human_count(f),
                "-" if m is None else "%.4f" % m, "-" if s is None else "%.2f" % s))
        return "\n".join(lines)

    def _repr_html_(self):
        esc = html.escape
        head = "".join("<th>%s</th>" % h for h in ("step", "pass", "params", "size", "FLOPs",
                                                    esc(self.metric_name or "metric"), "seconds"))
        body = ""
        for n, name, p, b, f, m, s in self.rows():
            body += "<tr>%s</tr>" % "".join("<td>%s</td>" % esc(str(c)) for c in (
                n, name, _shrink.human_count(p), _shrink.human_bytes(b), _shrink.human_count(f),
                "-" if m is None else "%.4f" % m, "-" if s is None else "%.2f" % s))
        out = self.data.get("output", {})
        foot = ""
        if out.get("path"):
            foot = "<p>output <code>%s</code> sha256 <code>%s</code></p>" % (
                esc(out["path"]), esc(out.get("sha256", "")[:16]))
        return "<div><b>shrink report</b><table><tr>%s</tr>%s</table>%s</div>" % (head, body,
                                                                               foot)

    def plot(self, x="bytes", ax=None):
        """Plots the metric against model size (x="bytes", "params" or "flops") across steps.

        Returns the matplotlib Axes. Each point is labelled with its step.
        """
        if ax is None:
            import matplotlib.pyplot as plt
            _, ax = plt.subplots(figsize=(6, 4))
        rows = [r for r in self.rows() if r[5] is not None]
        if not rows:
            raise _shrink.Error("the report has no metric to plot: the recipe has no eval data")
        column = {"params": 2, "bytes": 3, "flops": 4}[x]
        xs = [r[column] for r in rows]
        ys = [r[5] for r in rows]
        ax.plot(xs, ys, marker="o")
        for r, xv, yv in zip(rows, xs, ys):
            ax.annotate("%d %s" % (r[0], r[1]), (xv, yv), textcoords="offset points",
                        xytext=(4, 4), fontsize=8)
        ax.set_xlabel({"bytes": "size (bytes)", "params": "parameters",
                       "flops": "FLOPs per sample"}[x])
        ax.set_ylabel(self.metric_name or "metric")
        ax.set_title("%s vs %s across recipe steps" % (self.metric_name or "metric", x))
        ax.grid(True, alpha=0.3)
        return ax


def run_recipe(recipe, overrides=(), progress=True, on_step=None, write_files=True):
    """Runs a recipe (a path, YAML text with a newline, or a Recipe); returns a Report.

    `overrides` are ``"key=value"`` strings as for ``shrink run --set``. `on_step` is called
    with (index, pass, params, bytes, flops, metric, seconds) after the input (index -1) and
    after each step. The GIL is released while C++ works.
    """
    if isinstance(recipe, str):
        recipe = (Recipe.parse(recipe, "", list(overrides)) if "\n" in recipe
                  else Recipe.load(recipe, list(overrides)))
    elif overrides:
        raise TypeError("overrides apply when the recipe is given as a path or YAML text")
    with progress_callback(progress, "recipe") as cb:
        text, markdown = _shrink.run_recipe(recipe, cb, on_step, write_files)
    return Report(json.loads(text), markdown)
