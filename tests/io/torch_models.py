#!/usr/bin/env python3
"""Exports small PyTorch models to ONNX for shrink's round-trip tests.

    /usr/bin/python3 torch_models.py OUT_DIR

For each model NAME it writes OUT_DIR/NAME.onnx, OUT_DIR/NAME.input.npy (one input) and
OUT_DIR/NAME.expected.npy (PyTorch's output on that input), then prints NAME. The C++ test imports
each model into shrink, exports it again and checks ONNX Runtime against the expected output.
"""
import os
import sys
import warnings

import numpy as np
import torch
from torch import nn


class ResidualCNN(nn.Module):
    """Conv/BN/ReLU stem, one residual block, an optional nearest upsample, pooling and a head."""

    def __init__(self, upsample=False):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.block = nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8))
        self.up = nn.Upsample(scale_factor=2, mode="nearest") if upsample else nn.Identity()
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.block(x))
        x = self.pool(self.up(x))
        x = x.mean(dim=(2, 3))
        return torch.softmax(self.head(x), dim=1)


class Encoder(nn.Module):
    """One nn.TransformerEncoderLayer (batch first) and a mean-pooled linear head."""

    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(
            d_model=16, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        return self.head(self.layer(x))


def randomize_batchnorm(model, gen):
    # Fresh BatchNorm statistics are 0/1, which would hide a wrong import of mean or variance.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def export(out_dir, name, model, x, opset, dynamic_batch=True):
    model.eval()
    with torch.no_grad():
        expected = model(x)
    path = os.path.join(out_dir, name + ".onnx")
    axes = {"x": {0: "N"}, "y": {0: "N"}} if dynamic_batch else None
    torch.onnx.export(model, (x,), path, opset_version=opset, input_names=["x"],
                      output_names=["y"], dynamic_axes=axes, do_constant_folding=True)
    np.save(os.path.join(out_dir, name + ".input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(out_dir, name + ".expected.npy"), expected.numpy().astype(np.float32))
    print(name)


def main():
    # torch warns that opset 9 Upsample may differ from PyTorch; the test checks exactly that.
    warnings.filterwarnings("ignore")
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)

    cnn = ResidualCNN()
    randomize_batchnorm(cnn, gen)
    x = torch.randn(2, 3, 8, 8, generator=gen)
    export(out_dir, "cnn_opset13", cnn, x, 13)
    export(out_dir, "cnn_opset11", cnn, x, 11)

    # Opset 9 writes nn.Upsample as the Upsample op, which the importer turns into Resize.
    cnn_up = ResidualCNN(upsample=True)
    randomize_batchnorm(cnn_up, gen)
    export(out_dir, "cnn_upsample_opset9", cnn_up, x, 9)

    enc = Encoder()
    xs = torch.randn(2, 5, 16, generator=gen)
    export(out_dir, "encoder_opset17", enc, xs, 17)
    # Before opset 17 LayerNorm is written as ReduceMean/Sub/Pow/Sqrt/Div.
    export(out_dir, "encoder_opset14", enc, xs, 14)


if __name__ == "__main__":
    main()
