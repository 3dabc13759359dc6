#!/usr/bin/python3
"""PyTorch baseline for shrink_bench_distill throughput: the same student network written directly
in PyTorch, the same batches, optimizer, loss and thread count.

    /usr/bin/python3 bench/distill_torch_baseline.py [student|kd] [steps=60] [batch=128] [threads=2]

Prints samples/s and the process's peak RSS, in the same format as the C++ benchmark.
"""
import gzip
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts", "models"))


def read_idx(path):
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    _, _, ndim = struct.unpack(">HBB", data[:4])
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(stem):
    d = "/usr/share/datasets/fashion-mnist"
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    raise FileNotFoundError(stem)


class Student(nn.Module):
    """Five 3x3 conv+BN+ReLU (16-32-64-64-128), max pools after the 1st and 3rd, GAP, linear."""

    def __init__(self):
        super().__init__()
        ch = [1, 16, 32, 64, 64, 128]
        layers = []
        for i in range(1, 6):
            layers += [nn.Conv2d(ch[i - 1], ch[i], 3, 1, 1, bias=False), nn.BatchNorm2d(ch[i]), nn.ReLU()]
            if i in (1, 3):
                layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "student"
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 128
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    images = read_idx(find("train-images-idx3-ubyte"))
    labels = read_idx(find("train-labels-idx1-ubyte")).astype(np.int64)
    s = Student().train()
    teacher = None
    if mode == "kd":
        from train_fmnist_resnet import FmnistResNet

        teacher = FmnistResNet()
        teacher.load_state_dict(torch.load("examples/models/fmnist-resnet.pt", map_location="cpu"))
        teacher.eval()
    opt = torch.optim.SGD(s.parameters(), lr=0.05, momentum=0.9)
    warm = 5
    n = images.shape[0]
    start = 0.0
    for i in range(warm + steps):
        if i == warm:
            start = time.perf_counter()
        lo = (i * batch) % (n - batch)
        x = torch.from_numpy(images[lo : lo + batch].astype(np.float32) / 255.0).unsqueeze(1)
        y = torch.from_numpy(labels[lo : lo + batch])
        out = s(x)
        loss = F.cross_entropy(out, y)
        if teacher is not None:
            with torch.no_grad():
                tl = teacher(x)
            kd = F.kl_div(F.log_softmax(out / 4, 1), F.log_softmax(tl / 4, 1), reduction="sum", log_target=True)
            loss = 0.1 * loss + 0.9 * 16.0 * kd / batch
        opt.zero_grad()
        loss.backward()
        opt.step()
    secs = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"pytorch {mode}: {steps * batch / secs:.1f} samples/s ({steps} steps of {batch}, {threads} threads), peak RSS {rss:.1f} MB")


if __name__ == "__main__":
    main()
