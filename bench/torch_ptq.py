#!/usr/bin/python3
"""PyTorch's own post-training static quantization of fmnist-resnet, the baseline for
docs/benchmarks.md "Quantization": torch.ao.quantization FX mode with the `onednn` backend,
calibrated on the first N Fashion-MNIST training images (the same images shrink's bench uses).

Prints one JSON object: fp32 and int8 top-1 on the 10k test set, the time of
prepare_fx + calibration + convert_fx, the median batch-64 latency of the fp32 and int8 models,
and the size of the int8 model saved as TorchScript.

Usage: /usr/bin/python3 bench/torch_ptq.py [--calib 512] [--threads 2] [--repeats 30]
"""

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts", "models"))
from train_fmnist_resnet import DEFAULT_DATA, FmnistResNet, load_split  # noqa: E402


def accuracy(model, images_u8, labels, batch_size=256):
    correct = 0
    with torch.no_grad():
        for s in range(0, images_u8.shape[0], batch_size):
            x = images_u8[s : s + batch_size].float().div_(255.0)
            correct += (model(x).argmax(1) == labels[s : s + batch_size]).sum().item()
    return correct / images_u8.shape[0]


def median_ms(model, x, repeats):
    with torch.no_grad():
        for _ in range(3):
            model(x)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(HERE, "..", "examples", "models", "fmnist-resnet.pt"))
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--calib", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.backends.quantized.engine = "onednn"
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    model = FmnistResNet()
    model.load_state_dict(torch.load(args.model, map_location="cpu"))
    model.eval()
    train_x, _ = load_split(args.data, "train")
    test_x, test_y = load_split(args.data, "t10k")
    calib = train_x[: args.calib].float().div_(255.0)
    example = calib[:1]

    t0 = time.perf_counter()
    prepared = prepare_fx(copy.deepcopy(model), get_default_qconfig_mapping("onednn"), (example,))
    with torch.no_grad():
        for s in range(0, calib.shape[0], 64):
            prepared(calib[s : s + 64])
    qmodel = convert_fx(prepared)
    quant_s = time.perf_counter() - t0

    fp32_acc = accuracy(model, test_x, test_y)
    int8_acc = accuracy(qmodel, test_x, test_y)
    x = test_x[:64].float().div_(255.0)
    fp32_ms = median_ms(model, x, args.repeats)
    int8_ms = median_ms(qmodel, x, args.repeats)
    with tempfile.TemporaryDirectory() as d:
        traced = torch.jit.trace(qmodel, example)
        path = os.path.join(d, "int8.pt")
        torch.jit.save(traced, path)
        int8_bytes = os.path.getsize(path)
        fpath = os.path.join(d, "fp32.pt")
        torch.jit.save(torch.jit.trace(model, example), fpath)
        fp32_bytes = os.path.getsize(fpath)
    print(json.dumps({
        "torch": torch.__version__, "engine": torch.backends.quantized.engine,
        "threads": args.threads, "calibration_images": args.calib,
        "fp32_top1": fp32_acc, "int8_top1": int8_acc, "quantize_seconds": quant_s,
        "fp32_batch64_ms": fp32_ms, "int8_batch64_ms": int8_ms,
        "fp32_torchscript_bytes": fp32_bytes, "int8_torchscript_bytes": int8_bytes,
    }, indent=1))


if __name__ == "__main__":
    main()
