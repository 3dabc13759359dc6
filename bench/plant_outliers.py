#!/usr/bin/python3
"""Plants activation outliers in a transformer without changing what it computes.

For every LayerNormalization whose output feeds MatMuls, channels CHANNELS of its scale and bias
are multiplied by FACTOR and the same rows of every reading MatMul's weight are divided by
FACTOR. The float model computes the same function (up to rounding), but its LayerNorm outputs
get a few channels FACTOR times wider than the rest, like the outlier features of large
transformers. bench/run-smoothquant-outliers uses it to show what `smooth-quant` is for.

Usage:
    /usr/bin/python3 bench/plant_outliers.py IN.onnx OUT.onnx [--factor 20] [--channels 3,40,77,101]
"""

import argparse

import numpy as np
import onnx
from onnx import numpy_helper


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--factor", type=float, default=20.0)
    parser.add_argument("--channels", default="3,40,77,101")
    args = parser.parse_args()
    channels = [int(c) for c in args.channels.split(",")]
    model = onnx.load(args.src)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}

    def get(name):
        return numpy_helper.to_array(inits[name]).copy()

    def put(name, array):
        inits[name].CopyFrom(numpy_helper.from_array(array.astype(np.float32), name))

    planted = 0
    for node in graph.node:
        if node.op_type != "LayerNormalization":
            continue
        readers = [r for r in graph.node if r.op_type == "MatMul" and r.input[0] == node.output[0]]
        if not readers:
            continue
        gamma, beta = get(node.input[1]), get(node.input[2])
        gamma[channels] *= args.factor
        beta[channels] *= args.factor
        put(node.input[1], gamma)
        put(node.input[2], beta)
        for r in readers:
            w = get(r.input[1])
            w[channels, :] /= args.factor
            put(r.input[1], w)
        planted += 1
        print(f"{node.name}: channels {channels} x{args.factor:g} -> {[r.name for r in readers]}")
    if planted == 0:
        raise SystemExit(f"{args.src}: no LayerNormalization feeds a MatMul; nothing planted")
    onnx.save(model, args.dst)


if __name__ == "__main__":
    main()
