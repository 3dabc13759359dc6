#!/usr/bin/python3
"""Write small reference input/output pairs (.npy) for the bundled teacher models.

For each model the PyTorch state dict (<out>/<name>.pt) is loaded into the class defined in the
training script, run in eval mode on a few fixed inputs, and the inputs and logits are saved as
.npy files next to the ONNX file.  `check_onnxruntime.js` (or any C++ test) runs the ONNX file
on the same inputs and compares.

  fmnist-resnet.ref_input.npy    float32 8 x 1 x 28 x 28, the first 8 test images / 255
  fmnist-resnet.ref_logits.npy   float32 8 x 10
  fortunes-gpt.ref_input.npy     int64 2 x 128, two validation windows
  fortunes-gpt.ref_logits.npy    float32 2 x 128 x 98
  fortunes-gpt.ref_input_short.npy / .ref_logits_short.npy: 3 x 37, to exercise a dynamic T

Usage:
    /usr/bin/python3 scripts/models/export_reference.py --out examples/models
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_fmnist_resnet as fm  # noqa: E402
import train_fortunes_gpt as gpt  # noqa: E402


def fmnist_reference(out, data_dir):
    """Saves the first 8 test images and the PyTorch logits of fmnist-resnet."""
    model = fm.FmnistResNet()
    model.load_state_dict(torch.load(os.path.join(out, "fmnist-resnet.pt")))
    model.eval()
    images, labels = fm.load_split(data_dir, "t10k")
    x = images[:8].float() / 255.0
    with torch.no_grad():
        logits = model(x)
    np.save(os.path.join(out, "fmnist-resnet.ref_input.npy"), x.numpy())
    np.save(os.path.join(out, "fmnist-resnet.ref_logits.npy"), logits.numpy())
    print("fmnist-resnet: labels", labels[:8].tolist(), "argmax", logits.argmax(1).tolist())


def gpt_reference(out, data_dir):
    """Saves validation windows (T = context and T = 37) and the PyTorch logits of fortunes-gpt."""
    with open(os.path.join(out, "fortunes-gpt.metrics.json")) as f:
        config = json.load(f)["config"]
    model = gpt.FortunesGPT(len(gpt.VOCAB), config["dim"], config["layers"], config["heads"], config["context"])
    model.load_state_dict(torch.load(os.path.join(out, "fortunes-gpt.pt")))
    model.eval()
    _, val_text, _ = gpt.load_corpus(data_dir)
    val = torch.from_numpy(gpt.encode(val_text))
    t = config["context"]
    cases = {
        "": torch.stack([val[0:t], val[1000 : 1000 + t]]),
        "_short": torch.stack([val[2000:2037], val[3000:3037], val[4000:4037]]),
    }
    for suffix, ids in cases.items():
        with torch.no_grad():
            logits = model(ids)
        np.save(os.path.join(out, f"fortunes-gpt.ref_input{suffix}.npy"), ids.numpy())
        np.save(os.path.join(out, f"fortunes-gpt.ref_logits{suffix}.npy"), logits.numpy())
        print(f"fortunes-gpt{suffix}: input {tuple(ids.shape)} logits {tuple(logits.shape)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="examples/models")
    parser.add_argument("--fmnist-data", default=fm.DEFAULT_DATA)
    parser.add_argument("--fortunes-data", default=gpt.DEFAULT_DATA)
    parser.add_argument("--models", default="fmnist-resnet,fortunes-gpt")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = args.models.split(",")
    if "fmnist-resnet" in names:
        fmnist_reference(args.out, args.fmnist_data)
    if "fortunes-gpt" in names:
        gpt_reference(args.out, args.fortunes_data)


if __name__ == "__main__":
    main()
