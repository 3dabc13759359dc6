#!/usr/bin/env python3
"""PyTorch side of the runtime benchmark (bench/run-runtime-bench runs it).

    /usr/bin/python3 runtime_torch.py export OUT_DIR
        Writes OUT_DIR/transformer.onnx (a 4-layer pre-LN transformer encoder, sequence 128,
        hidden 256, 4 heads, FFN 1024, seeded random weights, dynamic batch) and its state dict
        OUT_DIR/transformer.pt. The CNN is the bundled examples/models/fmnist-resnet.onnx.

    /usr/bin/python3 runtime_torch.py time OUT_DIR [--repeats N] [--threads 1,2]
        Times PyTorch fp32 (eager), fp32 through oneDNN (`torch.utils.mkldnn.to_mkldnn`) and int8
        (torch.ao FX static quantization, onednn engine) on both models at batch 1 and 64. Prints
        one tab-separated line per measurement:
        result <engine> <model> <batch> <threads> <median ms> <min ms> <max ms>
        cpu <engine> <model> <batch> <threads> <median process CPU ms per run>

Inputs are seeded uniform [0, 1) tensors of the models' shapes; int8 calibration uses 256
Fashion-MNIST training images for the CNN and two uniform random batches of 8 for the
transformer, as the shrink side does.
"""
import argparse
import copy
import importlib.util
import math
import os
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEQ, HIDDEN, HEADS, FFN, LAYERS = 128, 256, 4, 1024, 4


class EncoderLayer(nn.Module):
    """Pre-LN encoder layer with explicit attention (traces cleanly in FX and ONNX export)."""

    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(HIDDEN)
        self.q = nn.Linear(HIDDEN, HIDDEN)
        self.k = nn.Linear(HIDDEN, HIDDEN)
        self.v = nn.Linear(HIDDEN, HIDDEN)
        self.proj = nn.Linear(HIDDEN, HIDDEN)
        self.ln2 = nn.LayerNorm(HIDDEN)
        self.fc1 = nn.Linear(HIDDEN, FFN)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(FFN, HIDDEN)

    def heads(self, t):
        return t.reshape(-1, SEQ, HEADS, HIDDEN // HEADS).transpose(1, 2)

    def forward(self, x):
        h = self.ln1(x)
        q = self.heads(self.q(h)) * (1.0 / math.sqrt(HIDDEN // HEADS))
        k = self.heads(self.k(h))
        v = self.heads(self.v(h))
        a = torch.softmax(torch.matmul(q, k.transpose(2, 3)), dim=-1)
        o = torch.matmul(a, v).transpose(1, 2).reshape(-1, SEQ, HIDDEN)
        x = x + self.proj(o)
        return x + self.fc2(self.act(self.fc1(self.ln2(x))))


class Encoder(nn.Module):
    """LAYERS encoder layers and a final LayerNorm: f32 [N, 128, 256] -> f32 [N, 128, 256]."""

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(*[EncoderLayer() for _ in range(LAYERS)])
        self.ln = nn.LayerNorm(HIDDEN)

    def forward(self, x):
        return self.ln(self.layers(x))


def fmnist_module():
    path = os.path.join(ROOT, "scripts", "models", "train_fmnist_resnet.py")
    spec = importlib.util.spec_from_file_location("train_fmnist_resnet", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_cnn():
    mod = fmnist_module()
    model = mod.FmnistResNet()
    model.load_state_dict(torch.load(os.path.join(ROOT, "examples", "models", "fmnist-resnet.pt")))
    return model.eval(), mod


def load_transformer(out_dir):
    model = Encoder()
    model.load_state_dict(torch.load(os.path.join(out_dir, "transformer.pt")))
    return model.eval()


def export(out_dir):
    torch.manual_seed(0)
    model = Encoder().eval()
    torch.save(model.state_dict(), os.path.join(out_dir, "transformer.pt"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(2, SEQ, HIDDEN), os.path.join(out_dir, "transformer.onnx"),
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, opset_version=17)
    print("transformer.onnx")


def timed(fn, x, repeats):
    with torch.no_grad():
        t0 = time.perf_counter()
        fn(x)  # warm-up
        first = time.perf_counter() - t0
        # Eager fp32 Linear runs on Debian's reference BLAS (~100 s for the transformer at batch
        # 64): runs slower than 2 s get fewer repeats, at least 3, and runs slower than 10 s
        # only one after the warm-up.
        if first > 10.0:
            repeats = 1
        elif first > 2.0:
            repeats = max(3, min(repeats, int(30.0 / first)))
        ms, cpu = [], []
        for _ in range(repeats):
            c0 = time.process_time()
            t0 = time.perf_counter()
            fn(x)
            ms.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
    ms.sort()
    cpu.sort()
    return ms[len(ms) // 2], ms[0], ms[-1], cpu[len(cpu) // 2]


class MkldnnCnn(nn.Module):
    """FmnistResNet with its conv trunk on mkldnn tensors (to_mkldnn converts Conv2d, BatchNorm2d
    and Linear; the Normalize step and the flatten stay dense because mkldnn tensors lack them)."""

    def __init__(self, model):
        super().__init__()
        from torch.utils import mkldnn as mkldnn_utils
        model = copy.deepcopy(model)  # to_mkldnn converts the children in place
        self.normalize = model.normalize
        self.body = mkldnn_utils.to_mkldnn(
            nn.Sequential(model.stem, model.layer1, model.layer2, model.layer3, model.pool))
        self.fc = mkldnn_utils.to_mkldnn(model.fc)

    def forward(self, x):
        y = self.body(self.normalize(x).to_mkldnn()).to_dense()
        return self.fc(torch.flatten(y, 1))


def int8_fx(model, batches):
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    torch.backends.quantized.engine = "onednn"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare_fx(model, get_default_qconfig_mapping("onednn"), example_inputs=(batches[0],))
        with torch.no_grad():
            for b in batches:
                prepared(b)
        return convert_fx(prepared)


def time_all(out_dir, repeats, threads):
    cnn, mod = load_cnn()
    tr = load_transformer(out_dir)
    gen = torch.Generator().manual_seed(7)
    images, _ = mod.load_split(mod.DEFAULT_DATA, "train")
    calib_cnn = [images[i * 64:(i + 1) * 64].float() / 255.0 for i in range(4)]
    calib_tr = [torch.rand(8, SEQ, HIDDEN, generator=gen) for _ in range(2)]
    from torch.utils import mkldnn as mkldnn_utils
    engines = {
        "cnn": [("torch fp32", cnn), ("torch fp32 mkldnn", MkldnnCnn(cnn).eval()),
                ("torch int8 fx", int8_fx(cnn, calib_cnn))],
        "transformer": [("torch fp32", tr),
                        ("torch fp32 mkldnn", mkldnn_utils.to_mkldnn(load_transformer(out_dir))),
                        ("torch int8 fx", int8_fx(load_transformer(out_dir), calib_tr))],
    }
    shapes = {"cnn": (1, 28, 28), "transformer": (SEQ, HIDDEN)}
    for model_name, runs in engines.items():
        for batch in (1, 64):
            x = torch.rand((batch,) + shapes[model_name], generator=gen)
            for n in threads:
                torch.set_num_threads(n)
                for engine, fn in runs:
                    med, lo, hi, cpu = timed(fn, x, repeats)
                    print(f"result\t{engine}\t{model_name}\t{batch}\t{n}\t{med:.3f}\t{lo:.3f}\t{hi:.3f}")
                    print(f"cpu\t{engine}\t{model_name}\t{batch}\t{n}\t{cpu:.3f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["export", "time"])
    parser.add_argument("out_dir")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args()
    if args.command == "export":
        export(args.out_dir)
    else:
        time_all(args.out_dir, args.repeats, [int(t) for t in args.threads.split(",")])


if __name__ == "__main__":
    sys.exit(main())
