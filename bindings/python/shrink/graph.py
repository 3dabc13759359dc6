"""Notebook summaries of graphs."""

import html

from . import _shrink


def graph_html(graph):
    """An HTML table of a graph's inputs, outputs, size, cost and ops (for Jupyter)."""
    info = graph.info()
    esc = html.escape
    rows = [
        ("inputs", ", ".join("%s: %s" % (n, t) for n, t in info["inputs"])),
        ("outputs", ", ".join("%s: %s" % (n, t) for n, t in info["outputs"])),
        ("nodes", str(info["nodes"])),
        ("parameters", "%s (%d)" % (_shrink.human_count(info["parameters"]), info["parameters"])),
        ("size", _shrink.human_bytes(info["bytes"])),
        ("FLOPs per sample", _shrink.human_count(info["flops"])
         + ("" if info["flops_complete"] else " (lower bound)")),
        ("ops", ", ".join("%s x%d" % (op, n) for op, n in sorted(info["ops"].items()))),
    ]
    body = "".join("<tr><th style='text-align:left'>%s</th><td style='text-align:left'>%s</td></tr>"
                   % (esc(k), esc(v)) for k, v in rows)
    return "<div><b>shrink.Graph %s</b><table>%s</table></div>" % (esc(info["name"]), body)
