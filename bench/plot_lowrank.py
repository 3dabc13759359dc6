#!/usr/bin/python3
"""Plots metric versus kept parameters for `lowrank` runs of shrink_bench_compress.

Reads the Markdown tables the benchmark prints (one file per model; concatenate the tables of
several runs on one model into its file), splits the rows into plain and whitened (`whiten=true`)
factorization, each with and without a following `distill` (KD fine-tuning), and draws one panel
per model.

Usage:
    /usr/bin/python3 bench/plot_lowrank.py --out docs/img/lowrank.png fmnist.md gpt.md
"""

import argparse
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_table(path):
    """Returns (metric name, rows) with rows as (pipeline, params %, metric value)."""
    metric, rows = None, []
    with open(path) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) < 4:
                continue
            if cells[0] == "pipeline":
                metric = cells[3]
                continue
            m = re.search(r"\(([0-9.]+)%\)", cells[1])
            if not m or cells[0].startswith("---"):
                continue
            value = float(cells[3].rstrip("%"))
            rows.append((cells[0].strip("`"), float(m.group(1)), value))
    return metric, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("tables", nargs="+")
    args = parser.parse_args()
    fig, axes = plt.subplots(1, len(args.tables), figsize=(5.5 * len(args.tables), 4))
    if len(args.tables) == 1:
        axes = [axes]
    for ax, path in zip(axes, args.tables):
        metric, rows = read_table(path)
        base = [r for r in rows if not r[0].startswith("lowrank")]
        series = (
            ("plain SVD", False, False, "C0", "-"),
            ("whitened", True, False, "C1", "-"),
            ("plain SVD + KD", False, True, "C0", ":"),
            ("whitened + KD", True, True, "C1", ":"),
        )
        for label, whiten, kd, color, style in series:
            pts = sorted(
                (pct, v)
                for p, pct, v in rows
                if p.startswith("lowrank") and ("whiten=true" in p) == whiten and ("distill" in p) == kd
            )
            if pts:
                ax.plot([p for p, _ in pts], [v for _, v in pts], marker="o", color=color, linestyle=style, label=label)
        for _, pct, v in base[:1]:
            ax.axhline(v, color="gray", linestyle="--", linewidth=1, label="unfactorized")
        ax.set_xlabel("parameters kept (% of the model)")
        ax.set_ylabel(metric)
        ax.set_title(path.split("/")[-1].rsplit(".", 1)[0])
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
