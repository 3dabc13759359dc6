#!/usr/bin/env python3
"""Compress the bundled Fashion-MNIST ResNet step by step from Python.

The same steps as examples/recipes/fmnist-compress.yaml, written as Python calls, with the
model measured after each step; then the recipe itself is run and its report plotted.

    PYTHONPATH=build/bindings/python /usr/bin/python3 examples/python/compress_fmnist.py
    ... --eval-samples 500 --calibration-samples 64 --out /tmp/fmnist   # quicker
"""

import argparse
import os

import shrink

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def measure(name, graph, test):
    info = graph.info()
    acc = shrink.evaluate(graph, test, "accuracy", batch_size=250, progress=False)["value"]
    print("%-16s %10s %11s %10s  accuracy %.4f" % (
        name, shrink._shrink.human_count(info["parameters"]),
        shrink._shrink.human_bytes(info["bytes"]), shrink._shrink.human_count(info["flops"]), acc))
    return acc


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-samples", type=int, default=2000)
    parser.add_argument("--calibration-samples", type=int, default=512)
    parser.add_argument("--out", default=os.path.join(ROOT, "out", "fmnist-python"))
    parser.add_argument("--no-recipe", action="store_true", help="skip running the YAML recipe")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    teacher = shrink.load(os.path.join(ROOT, "examples", "models", "fmnist-resnet.onnx"))
    test = shrink.random_subset(shrink.fashion_mnist("test"), args.eval_samples, seed=0)
    calib = shrink.random_subset(shrink.fashion_mnist("train"), args.calibration_samples, seed=0)
    ctx = shrink.Context(calibration=calib, progress=False)

    model = teacher.clone()
    measure("input", model, test)
    shrink.passes.fold_batchnorm(model)
    measure("fold-batchnorm", model, test)
    shrink.passes.prune_channels(model, ratio=0.25, criterion="l1")
    measure("prune-channels", model, test)
    shrink.passes.lowrank(model, context=ctx, energy=0.95, whiten=True)
    measure("lowrank", model, test)
    shrink.passes.quantize(model, context=ctx, mode="static", method="minmax")
    measure("quantize", model, test)
    path = os.path.join(args.out, "model.onnx")
    model.save(path)
    print("wrote", path)

    if args.no_recipe:
        return
    recipe = os.path.join(ROOT, "examples", "recipes", "fmnist-compress.yaml")
    report = shrink.run_recipe(recipe, [
        "output=%s" % os.path.join(args.out, "recipe-model.onnx"),
        "report=%s" % os.path.join(args.out, "report.json"),
        "data.eval.samples=%d" % args.eval_samples,
        "data.calibration.samples=%d" % args.calibration_samples,
    ], progress=False)
    print(report)
    import matplotlib
    matplotlib.use("Agg")
    ax = report.plot("bytes")
    ax.figure.savefig(os.path.join(args.out, "accuracy-vs-size.png"), dpi=100)
    print("wrote", os.path.join(args.out, "accuracy-vs-size.png"))


if __name__ == "__main__":
    main()
