#!/usr/bin/env python3
"""Turns the outputs of bench/run-runtime-bench into Markdown tables and checks the bars.

    python3 runtime_report.py OUT_DIR

Reads OUT_DIR/shrink.txt, ort.txt, torch.txt (lines `result <engine> <model> <batch> <threads>
<median ms> <min ms> <max ms>` and `peak <model> <type> <threads> <fraction>`) and
rss_shrink.txt / rss_ort.txt (`/usr/bin/time -v` output); prints the tables for docs/benchmarks.md.
"""
import os
import re
import sys

ENGINES = ["shrink fp32", "shrink int8", "ort fp32", "ort int8", "torch fp32", "torch fp32 mkldnn",
           "torch int8 fx"]


def read_results(out_dir):
    results, peaks, cpus = {}, {}, {}
    for name in ("shrink.txt", "ort.txt", "torch.txt"):
        path = os.path.join(out_dir, name)
        if not os.path.exists(path):
            continue
        for line in open(path):
            f = line.rstrip("\n").split("\t")
            if f[0] == "result" and len(f) == 8:
                results[(f[1], f[2], int(f[3]), int(f[4]))] = tuple(float(v) for v in f[5:8])
            elif f[0] == "cpu" and len(f) == 6:
                cpus[(f[1], f[2], int(f[3]), int(f[4]))] = float(f[5])
            elif f[0] == "peak" and len(f) == 6:
                peaks[(f[1], f[2], f[3], int(f[4]))] = float(f[5])
    return results, peaks, cpus


def max_rss_mb(path):
    if not os.path.exists(path):
        return None
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(path).read())
    return int(m.group(1)) / 1024.0 if m else None


def fmt(v):
    return "-" if v is None else (f"{v:.2f}" if v < 100 else f"{v:.0f}")


def main():
    out_dir = sys.argv[1]
    results, peaks, cpus = read_results(out_dir)
    bars = []
    for model in ("cnn", "transformer"):
        print(f"\n**{model}** — median ms per batch (min–max over the repeats)\n")
        print("| engine | " + " | ".join(f"b{b} t{t}" for b in (1, 64) for t in (1, 2)) + " |")
        print("|---|" + "---:|" * 4)
        for engine in ENGINES:
            cells = []
            for b in (1, 64):
                for t in (1, 2):
                    r = results.get((engine, model, b, t))
                    cells.append("-" if r is None else f"{fmt(r[0])} ({fmt(r[1])}–{fmt(r[2])})")
            if any(c != "-" for c in cells):
                print(f"| {engine} | " + " | ".join(cells) + " |")
        print(f"\n{model}: speed ratios (other engine's median / shrink's; > 1 means shrink is faster)\n")
        print("| ratio | " + " | ".join(f"b{b} t{t}" for b in (1, 64) for t in (1, 2)) + " |")
        print("|---|" + "---:|" * 4)
        for label, num, den in [("ORT fp32 / shrink fp32", "ort fp32", "shrink fp32"),
                                ("ORT int8 / shrink int8", "ort int8", "shrink int8"),
                                ("torch int8 / shrink int8", "torch int8 fx", "shrink int8"),
                                ("torch fp32 mkldnn / shrink fp32", "torch fp32 mkldnn", "shrink fp32"),
                                ("shrink fp32 / shrink int8", "shrink fp32", "shrink int8")]:
            cells = []
            for b in (1, 64):
                for t in (1, 2):
                    a, c = results.get((num, model, b, t)), results.get((den, model, b, t))
                    if a is None or c is None:
                        cells.append("-")
                        continue
                    ratio = a[0] / c[0]
                    cells.append(f"{ratio:.2f}x")
                    if label != "torch fp32 mkldnn / shrink fp32":
                        need = 2.5 if label == "shrink fp32 / shrink int8" else 1.0
                        if label != "shrink fp32 / shrink int8" or (model == "cnn" and b == 64):
                            bars.append((f"{model} b{b} t{t}: {label} >= {need}", ratio >= need, ratio))
            print(f"| {label} | " + " | ".join(cells) + " |")
        print(f"\n{model}, 1 thread: median process CPU ms per run (what the run cost the core, "
              "whatever else the machine ran), and ratios to shrink\n")
        print("| engine | b1 | b64 | b1 ratio | b64 ratio |")
        print("|---|---:|---:|---:|---:|")
        for engine in ENGINES:
            base = "shrink int8" if "int8" in engine else "shrink fp32"
            vals = [cpus.get((engine, model, b, 1)) for b in (1, 64)]
            if all(v is None for v in vals):
                continue
            ratios = []
            for b, v in zip((1, 64), vals):
                c = cpus.get((base, model, b, 1))
                ratios.append("-" if v is None or c is None or engine == base else f"{v / c:.2f}x")
                if v is not None and c is not None and engine in ("ort fp32", "ort int8", "torch int8 fx"):
                    bars.append((f"{model} b{b} t1 CPU time: {engine} / {base} >= 1.0", v / c >= 1.0, v / c))
            print(f"| {engine} | {fmt(vals[0])} | {fmt(vals[1])} | {ratios[0]} | {ratios[1]} |")
    print("\nlargest conv/GEMM inside the model at batch 64: its FLOPs per CPU-second it used, as a "
          "fraction of one core's peak (64 flop/cycle fp32, 256 op/cycle int8, clock from the FMA loop)\n")
    print("| model | layer | fp32 t1 | fp32 t2 | int8 t1 | int8 t2 |")
    print("|---|---|---:|---:|---:|---:|")
    layers = sorted({(m, l) for (m, l, _, _) in peaks})
    for model, layer in layers:
        cells = []
        for typ in ("fp32", "int8"):
            for t in (1, 2):
                p = peaks.get((model, layer, typ, t))
                cells.append("-" if p is None else f"{100 * p:.0f}%")
                if p is not None and t == 1:
                    bars.append((f"{model} {layer} {typ} t1 >= 70% of peak", p >= 0.70, p))
        print(f"| {model} | `{layer}` | " + " | ".join(cells) + " |")
    rs, ro = max_rss_mb(os.path.join(out_dir, "rss_shrink.txt")), max_rss_mb(os.path.join(out_dir, "rss_ort.txt"))
    print("\npeak resident memory, int8 CNN, batch 64, 1 thread (`/usr/bin/time -v`)\n")
    print("| shrink | ONNX Runtime |")
    print("|---:|---:|")
    print(f"| {fmt(rs)} MB | {fmt(ro)} MB |")
    if rs is not None and ro is not None:
        bars.append(("peak RSS shrink <= ORT (int8 cnn b64)", rs <= ro, rs / ro))
    print("\nbars\n")
    for name, ok, value in bars:
        print(f"- {'met' if ok else 'MISSED'}: {name} ({value:.2f})")


if __name__ == "__main__":
    main()
