#!/usr/bin/python3
"""Train the `fortunes-gpt` reference teacher: a small character-level GPT on the fortunes text.

Data: a fixed list of plain-text fortune files (FORTUNE_FILES, read in that order from
/usr/share/games/fortunes; the .dat/.u8 index files are not used).  Text is normalized by
`normalize_text` (UTF-8 decode, overstrike "X<backspace>" pairs removed, CRLF -> LF), split into
fortunes at lines holding a single "%", and every 10th fortune (global index i with i % 10 == 9)
goes to validation, the rest to training.  Each split is the "\n%\n"-joined fortunes.

Tokenizer: character level, 98 ids: 0 = <unk> (any character outside the table), 1 = TAB,
2 = LF, 3..97 = printable ASCII 32..126 in code order.  The table is written to
<out>/fortunes-gpt.vocab.json.

Model: token embedding + learned positions, N pre-LayerNorm blocks (explicit causal multi-head
self-attention: Linear q/k/v, MatMul, scale, a constant upper-triangular bool buffer applied with
masked_fill(-1e9), Softmax; then a GELU MLP), final LayerNorm, untied linear output head.
Attention is written out by hand so the ONNX export contains only plain ops (MatMul, Softmax,
Where, Transpose, Reshape, LayerNormalization, Erf...).  Input int64 token ids N x T with
dynamic N and T <= context; output logits N x T x vocab.

Training: AdamW, linear warm-up then cosine decay, random windows of the training text.  A
checkpoint is written at every evaluation; `--resume` continues from it.  The final metric is the
cross-entropy over the whole validation text cut into non-overlapping windows of `--context`
characters (every character predicted once, from 0..context-1 preceding characters of its
window), reported in nats, as perplexity and as bits per character.

Speed: Debian's torch 1.13 is built against the generic libblas.so.3, which on a machine with
only the netlib reference BLAS runs Linear/MatMul at ~4 GFLOPS per core.  Pointing the dynamic
loader at OpenBLAS (process-local, nothing installed system-wide) makes training ~8x faster:
    mkdir -p /tmp/openblas && cd /tmp/openblas && apt-get download libopenblas0-pthread \
        && dpkg -x libopenblas0-pthread_*.deb root
    export LD_LIBRARY_PATH=/tmp/openblas/root/usr/lib/x86_64-linux-gnu/openblas-pthread OPENBLAS_NUM_THREADS=1

Usage:
    /usr/bin/python3 scripts/models/train_fortunes_gpt.py --out examples/models
"""

import argparse
import json
import math
import os
import random
import re
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_DATA = "/usr/share/games/fortunes"

# Fixed corpus: every plain-text fortune file of the Debian fortunes-min/fortunes packages except
# `ascii-art` (pictures, not language) and `translate-me` (a stub).
FORTUNE_FILES = [
    "art", "computers", "cookie", "debian", "definitions", "disclaimer", "drugs", "education",
    "ethnic", "food", "fortunes", "goedel", "humorists", "kids", "knghtbrd", "law", "linux",
    "linuxcookie", "literature", "love", "magic", "medicine", "men-women", "miscellaneous", "news",
    "paradoxum", "people", "perl", "pets", "platitudes", "politics", "pratchett", "riddles",
    "science", "songs-poems", "sports", "startrek", "tao", "wisdom", "work", "zippy",
]  # fmt: skip

UNK_ID = 0
VOCAB = ["<unk>", "\t", "\n"] + [chr(c) for c in range(32, 127)]
CHAR_TO_ID = {ch: i for i, ch in enumerate(VOCAB) if i != UNK_ID}


def normalize_text(raw):
    """Decodes a fortune file and strips terminal overstrike sequences and carriage returns."""
    text = raw.decode("utf-8", errors="replace")
    # "X\bY" overstrikes (underline/bold for terminals): keep only what is finally shown.
    text = re.sub(r".\x08", "", text, flags=re.DOTALL)
    text = text.replace("\x08", "").replace("\r\n", "\n").replace("\r", "\n")
    return text


def encode(text):
    """Maps text to int64 ids with the fixed character table (unknown characters -> <unk>)."""
    return np.array([CHAR_TO_ID.get(ch, UNK_ID) for ch in text], dtype=np.int64)


def decode(ids):
    """Maps ids back to text; <unk> becomes U+FFFD."""
    return "".join("\ufffd" if i == UNK_ID else VOCAB[i] for i in ids)


def load_corpus(data_dir):
    """Returns (train_text, val_text) using the fixed file list and every-10th-fortune split."""
    fortunes = []
    for name in FORTUNE_FILES:
        with open(os.path.join(data_dir, name), "rb") as f:
            text = normalize_text(f.read())
        for chunk in re.split(r"^%\n", text, flags=re.MULTILINE):
            chunk = chunk.strip("\n")
            if chunk:
                fortunes.append(chunk)
    train = [t for i, t in enumerate(fortunes) if i % 10 != 9]
    val = [t for i, t in enumerate(fortunes) if i % 10 == 9]
    return "\n%\n".join(train) + "\n%\n", "\n%\n".join(val) + "\n%\n", len(fortunes)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention written with plain matmuls so it exports to basic ONNX ops."""

    def __init__(self, dim, heads, context):
        super().__init__()
        assert dim % heads == 0
        self.heads = heads
        self.head_dim = dim // heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        # True above the diagonal: position t must not see positions > t.
        future = torch.triu(torch.ones(context, context, dtype=torch.bool), diagonal=1)
        self.register_buffer("future", future.view(1, 1, context, context), persistent=False)

    def forward(self, x):
        n, t, c = x.shape
        q = self.q(x).view(n, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k(x).view(n, t, self.heads, self.head_dim).transpose(1, 2)
        v = self.v(x).view(n, t, self.heads, self.head_dim).transpose(1, 2)
        att = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
        att = att.masked_fill(self.future[:, :, :t, :t], -1e9)
        att = torch.softmax(att, dim=-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(n, t, c)
        return self.proj(y)


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, dim, heads, context, mlp_ratio):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, context)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp_ratio * dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(mlp_ratio * dim, dim)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(self.act(self.fc1(self.ln2(x))))


class FortunesGPT(nn.Module):
    """Decoder-only character language model: ids N x T -> logits N x T x vocab."""

    def __init__(self, vocab, dim, layers, heads, context, mlp_ratio=4):
        super().__init__()
        self.context = context
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.zeros(1, context, dim))
        self.blocks = nn.Sequential(*[Block(dim, heads, context, mlp_ratio) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)
        self.apply(self._init)
        nn.init.normal_(self.pos, std=0.02)
        # GPT-2 style scaled init of the residual output projections.
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("fc2.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * layers))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, ids):
        t = ids.shape[1]
        x = self.tok(ids) + self.pos[:, :t]
        x = self.blocks(x)
        return self.head(self.ln_f(x))


def seed_everything(seed):
    """Seeds Python, numpy and torch RNGs."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def evaluate(model, data, context, batch_size, max_windows=0):
    """Mean cross-entropy (nats/char) over non-overlapping windows of `data` (all of it by default)."""
    model.eval()
    n_windows = (len(data) - 1) // context
    if max_windows:
        n_windows = min(n_windows, max_windows)
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, n_windows, batch_size):
            rows = range(start, min(start + batch_size, n_windows))
            x = torch.stack([data[r * context : r * context + context] for r in rows])
            y = torch.stack([data[r * context + 1 : r * context + context + 1] for r in rows])
            logits = model(x)
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
            count += y.numel()
        # The tail that does not fill a window is scored once too, so every character counts.
        tail_start = n_windows * context
        if not max_windows and len(data) - 1 - tail_start > 0:
            x = data[tail_start:-1].unsqueeze(0)
            y = data[tail_start + 1 :].unsqueeze(0)
            logits = model(x)
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    model.train()
    return total / count


def lr_at(step, args):
    """Linear warm-up to --lr, then cosine decay to --lr * --min-lr-ratio at --steps."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
    return args.lr * (args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def export_onnx(model, path, opset, context):
    """Exports with dynamic batch N and sequence length T (T must stay <= context at run time)."""
    model.eval()
    dummy = torch.zeros(2, context, dtype=torch.int64)
    torch.onnx.export(
        model,
        dummy,
        path,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "N", 1: "T"}, "logits": {0: "N", 1: "T"}},
        opset_version=opset,
        do_constant_folding=True,
    )


def write_vocab(path, context):
    """Writes the tokenizer table and the text-to-ids recipe as JSON."""
    table = {
        "name": "fortunes-gpt character tokenizer",
        "vocab_size": len(VOCAB),
        "unk_id": UNK_ID,
        "context": context,
        "tokens": VOCAB,
        "encoding": (
            "Decode the text as UTF-8 (invalid bytes -> U+FFFD), delete every 'X<BS>' overstrike pair "
            "(regex '.\\x08') and any stray backspace, turn CRLF/CR into LF, then map each character c "
            "to tokens.index(c); characters not in the table (other than the '<unk>' entry itself) map "
            "to unk_id. Ids: 0 <unk>, 1 TAB, 2 LF, 3..97 ASCII 32..126 (id = code - 29)."
        ),
        "corpus": {
            "dir": DEFAULT_DATA,
            "files": FORTUNE_FILES,
            "split": "fortunes split at lines '%'; global fortune index i % 10 == 9 -> validation; "
            "each split joined with '\\n%\\n'",
        },
    }
    with open(path, "w") as f:
        json.dump(table, f, indent=2, ensure_ascii=True)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA, help="folder with the plain-text fortune files")
    parser.add_argument("--out", default="examples/models", help="output folder for .onnx/.pt/.json")
    parser.add_argument("--steps", type=int, default=1500, help="optimizer steps")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--min-lr-ratio", type=float, default=0.1)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--checkpoint", default=None, help="checkpoint path (default: <out>/fortunes-gpt.ckpt)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint if it exists")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = args.checkpoint or os.path.join(args.out, "fortunes-gpt.ckpt")

    train_text, val_text, n_fortunes = load_corpus(args.data)
    train = torch.from_numpy(encode(train_text))
    val = torch.from_numpy(encode(val_text))
    unk_rate = float((train == UNK_ID).float().mean())
    print(
        f"fortunes {n_fortunes}: train {len(train)} chars, val {len(val)} chars, unk rate {unk_rate:.2e}",
        flush=True,
    )

    model = FortunesGPT(len(VOCAB), args.dim, args.layers, args.heads, args.context)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"parameters: {n_params}", flush=True)

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and n != "pos"]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or n == "pos"]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.99),
    )
    generator = torch.Generator().manual_seed(args.seed)
    step, elapsed, cpu_elapsed, history = 0, 0.0, 0.0, []
    if args.resume and os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        generator.set_state(ckpt["generator"])
        torch.set_rng_state(ckpt["torch_rng"])
        step, elapsed, history = ckpt["step"], ckpt["elapsed"], ckpt["history"]
        cpu_elapsed = ckpt.get("cpu_elapsed", 0.0)
        print(f"resumed from {ckpt_path} at step {step}", flush=True)

    offsets = torch.arange(args.context + 1)
    t0, c0 = time.time(), time.process_time()
    model.train()
    while step < args.steps:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, args)
        starts = torch.randint(0, len(train) - args.context - 1, (args.batch_size,), generator=generator)
        window = train[starts.view(-1, 1) + offsets.view(1, -1)]
        x, y = window[:, :-1], window[:, 1:]
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        if step % 50 == 0:
            print(f"step {step}/{args.steps} loss {loss.item():.4f} lr {lr_at(step, args):.2e} "
                  f"{elapsed + time.time() - t0:.0f}s", flush=True)
        if step % args.eval_every == 0 or step == args.steps:
            # A quick estimate on 200 windows; the full validation pass runs once at the end.
            val_loss = evaluate(model, val, args.context, 64, max_windows=200)
            now, cpu_now = time.time(), time.process_time()
            elapsed += now - t0
            cpu_elapsed += cpu_now - c0
            t0, c0 = now, cpu_now
            history.append({"step": step, "train_loss": loss.item(), "val_loss_200w": val_loss,
                            "elapsed_s": round(elapsed, 1), "cpu_s": round(cpu_elapsed, 1)})
            print(json.dumps(history[-1]), flush=True)
            torch.save(
                {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                 "step": step, "elapsed": elapsed, "cpu_elapsed": cpu_elapsed, "history": history},
                ckpt_path,
            )

    val_loss = evaluate(model, val, args.context, 64)
    metrics = {
        "val_cross_entropy_nats": val_loss,
        "val_perplexity": math.exp(val_loss),
        "val_bits_per_char": val_loss / math.log(2),
    }
    print(json.dumps(metrics), flush=True)

    onnx_path = os.path.join(args.out, "fortunes-gpt.onnx")
    export_onnx(model, onnx_path, args.opset, args.context)
    pt_path = os.path.join(args.out, "fortunes-gpt.pt")
    torch.save(model.state_dict(), pt_path)
    if os.path.getsize(pt_path) >= 10 * 1024 * 1024:
        os.remove(pt_path)
        pt_path = None
    write_vocab(os.path.join(args.out, "fortunes-gpt.vocab.json"), args.context)

    model.eval()
    with torch.no_grad():
        ids = torch.from_numpy(encode("Q: What is a computer?\nA:")).unsqueeze(0)
        gen = torch.Generator().manual_seed(args.seed)
        for _ in range(200):
            probs = torch.softmax(model(ids[:, -args.context :])[0, -1] / 0.8, dim=-1)
            ids = torch.cat([ids, torch.multinomial(probs, 1, generator=gen).view(1, 1)], dim=1)
    sample = decode(ids[0].tolist())
    print("sample:\n" + sample, flush=True)

    summary = {
        "model": "fortunes-gpt",
        "parameters": n_params,
        "config": {k: getattr(args, k) for k in ("dim", "layers", "heads", "context", "batch_size", "steps", "lr")},
        "seed": args.seed,
        "train_chars": len(train),
        "val_chars": len(val),
        **metrics,
        "train_wall_s": round(elapsed, 1),
        "train_cpu_s": round(cpu_elapsed, 1),
        "torch": torch.__version__,
        "blas_library_path": os.environ.get("LD_LIBRARY_PATH", ""),
        "threads": args.threads,
        "onnx": onnx_path,
        "onnx_bytes": os.path.getsize(onnx_path),
        "state_dict": pt_path,
        "sample_t0.8": sample,
        "history": history,
    }
    with open(os.path.join(args.out, "fortunes-gpt.metrics.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(json.dumps({k: v for k, v in summary.items() if k not in ("history", "sample_t0.8")}), flush=True)


if __name__ == "__main__":
    main()
