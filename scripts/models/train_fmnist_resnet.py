#!/usr/bin/python3
"""Train the `fmnist-resnet` reference teacher on Fashion-MNIST and export it to ONNX.

The network is a small ResNet whose parameters sit mostly at low resolution so that it is cheap
to train on a CPU: a 32-channel stem at 28x28, then one residual stage each at 14x14 (64 ch),
7x7 (128 ch, two blocks) and 4x4 (256 ch).  Every residual block is conv-BN-ReLU-conv-BN plus a
(projected where needed) shortcut.  Input normalization is the first op of the model, so the
exported graph takes float32 pixels in [0, 1] (byte / 255), shape N x 1 x 28 x 28, and returns
10 logits.

Training: SGD (momentum 0.9, Nesterov), OneCycle learning-rate schedule, label smoothing 0.1,
random crop with padding 2 and horizontal flip.  The whole 60k training set is used for training
and the 10k test set only for evaluation.  A checkpoint is written after every epoch;
`--resume` continues from it (the schedule and RNG states are restored too).

Usage:
    /usr/bin/python3 scripts/models/train_fmnist_resnet.py --out examples/models

`--resume` with a different `--epochs` than the checkpoint re-targets the OneCycle schedule to the
new length from the step already reached (used to shorten a run when the machine got too busy).
"""

import argparse
import gzip
import json
import os
import random
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# Mean and standard deviation of the Fashion-MNIST training pixels in [0, 1].
FMNIST_MEAN = 0.2860
FMNIST_STD = 0.3530

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    """Reads an IDX file (optionally gzip-compressed) into a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)):
        raise ValueError(f"{path}: expected {dims} elements, found {array.size}")
    return array.reshape(dims)


def find_idx(data_dir, stem):
    """Returns the path of `stem` in data_dir, preferring an uncompressed copy."""
    for name in (stem, stem + ".gz"):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{stem}[.gz] not found in {data_dir}")


def load_split(data_dir, prefix):
    """Loads one split as (uint8 N x 1 x 28 x 28 images, int64 labels)."""
    images = read_idx(find_idx(data_dir, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(find_idx(data_dir, f"{prefix}-labels-idx1-ubyte"))
    images = torch.from_numpy(images.copy()).unsqueeze(1)
    labels = torch.from_numpy(labels.astype(np.int64))
    return images, labels


class Normalize(nn.Module):
    """Maps [0, 1] pixels to zero mean, unit variance; the first op of the exported graph."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor([mean], dtype=torch.float32).view(1, 1, 1, 1))
        self.register_buffer("std", torch.tensor([std], dtype=torch.float32).view(1, 1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv+BN with a ReLU between, identity or 1x1 projection shortcut."""

    def __init__(self, in_ch, out_ch, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut = None
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, 0, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + identity)


class FmnistResNet(nn.Module):
    """Stem 32@28x28 -> 64@14x14 -> 2x128@7x7 -> 256@4x4 -> global average pool -> linear."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.normalize = Normalize(FMNIST_MEAN, FMNIST_STD)
        self.stem = nn.Sequential(nn.Conv2d(1, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        self.layer1 = BasicBlock(32, 64, 2)
        self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128, 1))
        self.layer3 = BasicBlock(128, 256, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(256, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        # Zero-init the last BN of each block so blocks start as identities (helps short schedules).
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x):
        x = self.normalize(x)
        x = self.stem(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = torch.flatten(self.pool(x), 1)
        return self.fc(x)


def augment(images_u8, generator):
    """Random crop (pad 2, zero fill) and horizontal flip of a uint8 N x 1 x 28 x 28 batch."""
    n = images_u8.shape[0]
    x = images_u8.float().div_(255.0)
    padded = F.pad(x, (2, 2, 2, 2))
    dx = torch.randint(0, 5, (n,), generator=generator)
    dy = torch.randint(0, 5, (n,), generator=generator)
    # Build per-sample gather indices so the crop is one vectorized op.
    rows = (dy.view(n, 1) + torch.arange(28).view(1, 28)).view(n, 1, 28, 1).expand(n, 1, 28, 32)
    cropped_rows = torch.gather(padded, 2, rows)
    cols = (dx.view(n, 1) + torch.arange(28).view(1, 28)).view(n, 1, 1, 28).expand(n, 1, 28, 28)
    out = torch.gather(cropped_rows, 3, cols)
    flip = torch.rand(n, generator=generator) < 0.5
    out = torch.where(flip.view(n, 1, 1, 1), out.flip(3), out)
    return out


def evaluate(model, images_u8, labels, batch_size, memory_format):
    """Returns (accuracy, mean cross-entropy) of the model on a uint8 image set."""
    model.eval()
    correct = 0
    loss_sum = 0.0
    with torch.no_grad():
        for start in range(0, images_u8.shape[0], batch_size):
            x = images_u8[start : start + batch_size].float().div_(255.0)
            x = x.contiguous(memory_format=memory_format)
            y = labels[start : start + batch_size]
            logits = model(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
    n = images_u8.shape[0]
    return correct / n, loss_sum / n


def seed_everything(seed):
    """Seeds Python, numpy and torch RNGs."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def export_onnx(model, path, opset):
    """Exports the eval-mode model with BatchNormalization nodes kept and a dynamic batch axis."""
    model = model.to(memory_format=torch.contiguous_format).eval()
    dummy = torch.zeros(2, 1, 28, 28)
    torch.onnx.export(
        model,
        dummy,
        path,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
        opset_version=opset,
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=False,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA, help="folder with the Fashion-MNIST IDX files (gz or not)")
    parser.add_argument("--out", default="examples/models", help="output folder for .onnx/.pt/.json")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.2, help="OneCycle peak learning rate")
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--opset", type=int, default=13)
    parser.add_argument("--channels-last", action="store_true", help="train in channels_last layout")
    parser.add_argument("--checkpoint", default=None, help="checkpoint path (default: <out>/fmnist-resnet.ckpt)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint if it exists")
    parser.add_argument("--limit-batches", type=int, default=0, help="stop each epoch after this many batches (smoke tests)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = args.checkpoint or os.path.join(args.out, "fmnist-resnet.ckpt")
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format

    train_x, train_y = load_split(args.data, "train")
    test_x, test_y = load_split(args.data, "t10k")
    print(f"train {tuple(train_x.shape)} test {tuple(test_x.shape)}", flush=True)

    model = FmnistResNet().to(memory_format=memory_format)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"parameters: {n_params}", flush=True)

    steps_per_epoch = (train_x.shape[0] + args.batch_size - 1) // args.batch_size
    if args.limit_batches:
        steps_per_epoch = min(steps_per_epoch, args.limit_batches)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    optimizer = torch.optim.SGD(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        momentum=0.9,
        nesterov=True,
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch, pct_start=0.25
    )
    generator = torch.Generator().manual_seed(args.seed)
    start_epoch = 0
    elapsed = 0.0
    history = []

    if args.resume and os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        done_steps = ckpt["scheduler"]["last_epoch"]
        if ckpt["scheduler"]["total_steps"] == scheduler.total_steps:
            scheduler.load_state_dict(ckpt["scheduler"])
        else:
            # --epochs changed on resume: continue on the OneCycle curve of the new length from the
            # step reached (initial_lr/max_lr/min_lr come back with the optimizer state).
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch,
                pct_start=0.25, last_epoch=done_steps - 1,
            )
            print(f"schedule re-targeted to {args.epochs} epochs at step {done_steps}", flush=True)
        generator.set_state(ckpt["generator"])
        torch.set_rng_state(ckpt["torch_rng"])
        start_epoch = ckpt["epoch"]
        elapsed = ckpt["elapsed"]
        history = ckpt["history"]
        print(f"resumed from {ckpt_path} at epoch {start_epoch}", flush=True)

    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    for epoch in range(start_epoch, args.epochs):
        t0 = time.time()
        model.train()
        perm = torch.randperm(train_x.shape[0], generator=generator)
        loss_sum, seen, correct = 0.0, 0, 0
        for step in range(steps_per_epoch):
            idx = perm[step * args.batch_size : (step + 1) * args.batch_size]
            x = augment(train_x[idx], generator).contiguous(memory_format=memory_format)
            y = train_y[idx]
            logits = model(x)
            loss = criterion(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.item() * y.shape[0]
            correct += (logits.argmax(1) == y).sum().item()
            seen += y.shape[0]
            if step % 100 == 0:
                print(
                    f"epoch {epoch + 1} step {step}/{steps_per_epoch} loss {loss.item():.4f} "
                    f"lr {scheduler.get_last_lr()[0]:.4f} {time.time() - t0:.0f}s",
                    flush=True,
                )
        test_acc, test_loss = evaluate(model, test_x, test_y, 500, memory_format)
        epoch_time = time.time() - t0
        elapsed += epoch_time
        record = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / seen,
            "train_acc": correct / seen,
            "test_acc": test_acc,
            "test_loss": test_loss,
            "epoch_s": round(epoch_time, 1),
        }
        history.append(record)
        print(json.dumps(record), flush=True)
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "generator": generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "epoch": epoch + 1,
                "elapsed": elapsed,
                "history": history,
            },
            ckpt_path,
        )

    model = model.to(memory_format=torch.contiguous_format).eval()
    test_acc, test_loss = evaluate(model, test_x, test_y, 500, torch.contiguous_format)
    onnx_path = os.path.join(args.out, "fmnist-resnet.onnx")
    export_onnx(model, onnx_path, args.opset)
    state_dict = {k: v.contiguous() for k, v in model.state_dict().items()}
    pt_path = os.path.join(args.out, "fmnist-resnet.pt")
    torch.save(state_dict, pt_path)
    if os.path.getsize(pt_path) >= 10 * 1024 * 1024:
        os.remove(pt_path)
        pt_path = None
    summary = {
        "model": "fmnist-resnet",
        "parameters": n_params,
        "seed": args.seed,
        "epochs": args.epochs,
        "test_accuracy": test_acc,
        "test_loss": test_loss,
        "train_wall_s": round(elapsed, 1),
        "torch": torch.__version__,
        "threads": args.threads,
        "onnx": onnx_path,
        "onnx_bytes": os.path.getsize(onnx_path),
        "state_dict": pt_path,
        "history": history,
    }
    with open(os.path.join(args.out, "fmnist-resnet.metrics.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}), flush=True)


if __name__ == "__main__":
    main()
