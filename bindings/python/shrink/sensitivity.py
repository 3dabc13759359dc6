"""Per-layer quantization sensitivity (the `analyze-sensitivity` pass) as a table and a plot."""

import html

from . import _shrink


class Sensitivity:
    """Per layer: SQNR of the output (dB) with only that layer quantized, and, with eval data,
    the metric and its drop. ``layers`` is sorted most sensitive (lowest SQNR) first."""

    def __init__(self, stats):
        layers = {}
        for key, value in stats.items():
            if not key.startswith("layer:"):
                continue
            node, field = key[len("layer:"):].rsplit(":", 1)
            layers.setdefault(node, {"node": node})[field] = value
        self.layers = sorted(layers.values(), key=lambda r: r.get("sqnr_db", 0.0))
        self.metric_float = stats.get("metric_float")

    def __repr__(self):
        lines = ["%-40s %9s %9s %9s" % ("layer", "SQNR dB", "metric", "drop")]
        for r in self.layers:
            lines.append("%-40s %9.2f %9s %9s" % (
                r["node"][:40], r.get("sqnr_db", float("nan")),
                "%.4f" % r["metric"] if "metric" in r else "-",
                "%.4f" % r["drop"] if "drop" in r else "-"))
        return "\n".join(lines)

    def _repr_html_(self):
        rows = "".join(
            "<tr><td>%s</td><td>%.2f</td><td>%s</td><td>%s</td></tr>" % (
                html.escape(r["node"]), r.get("sqnr_db", float("nan")),
                "%.4f" % r["metric"] if "metric" in r else "-",
                "%.4f" % r["drop"] if "drop" in r else "-") for r in self.layers)
        return ("<div><b>quantization sensitivity</b><table><tr><th>layer</th><th>SQNR dB</th>"
                "<th>metric</th><th>drop</th></tr>%s</table></div>" % rows)

    def plot(self, ax=None, value="sqnr_db"):
        """A horizontal bar chart of `value` ("sqnr_db" or "drop") per layer; returns the Axes."""
        if ax is None:
            import matplotlib.pyplot as plt
            _, ax = plt.subplots(figsize=(7, max(2.0, 0.3 * len(self.layers) + 1)))
        rows = [r for r in self.layers if value in r]
        if not rows:
            raise _shrink.Error("no '%s' values to plot (drop needs eval data)" % value)
        ax.barh([r["node"] for r in rows], [r[value] for r in rows])
        ax.invert_yaxis()
        ax.set_xlabel({"sqnr_db": "output SQNR (dB), only this layer quantized",
                       "drop": "metric drop, only this layer quantized"}.get(value, value))
        ax.set_title("per-layer quantization sensitivity")
        ax.grid(True, axis="x", alpha=0.3)
        return ax


def sensitivity(graph, context=None, **options):
    """Runs `analyze-sensitivity` (graph unchanged) and returns a Sensitivity.

    `context` needs calibration data (and eval data for the metric); options are those of the
    pass (every `quantize` option plus metric, eval_samples, sqnr_samples).
    """
    from .passes import run_pass

    report = run_pass(graph, "analyze-sensitivity", context, **options)
    record = [p for p in report["passes"] if p["name"] == "analyze-sensitivity"][0]
    return Sensitivity(record["stats"])
