"""A small GPT compiled from specs/sequence/gpt.arch, trained on archspec's own documentation.

    python examples/train_gpt.py                  # about 1,500 steps: a few minutes on a laptop CPU
    python examples/train_gpt.py --steps 200      # a short run (make demo's)

The text is the repository's README.md and docs/*.md, read byte by byte (a vocabulary of 256, so
nothing needs a tokenizer or a download); nine tenths train, the last tenth validates. The model
predicts each next byte from the 64 before it (the spec's block_size); its output layer shares
the byte embedding's weight (`tie` in the spec). GPT-2's initialisation, and AdamW as in nanoGPT's
character-level recipe, with a short warm-up and a cosine decay. It prints the training and
validation loss (nats per byte; 5.55 is a uniform guess), saves both curves as a PNG, and prints
a sample of text it writes.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
from plotting import save_curves
from torch.nn import functional as F

import archspec

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "sequence" / "gpt.arch"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--eval-every", type=int, default=100, help="steps between validations")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's choice)")
    parser.add_argument("--sample", type=int, default=300, help="bytes of text to write at the end")
    parser.add_argument("--plot", default="build/gpt_loss.png", help="where to save the curves")
    return parser.parse_args(argv)


def corpus() -> bytes:
    """The documentation shipped in the repository, as one byte string."""
    paths = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return b"\n\n".join(path.read_bytes() for path in paths)


def split(data: bytes) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.tensor(list(data), dtype=torch.long)
    cut = int(len(ids) * 0.9)
    return ids[:cut], ids[cut:]


def batch(ids: torch.Tensor, size: int, length: int, generator: torch.Generator):
    """`size` windows of `length` bytes, and the same windows one byte later (the targets)."""
    starts = torch.randint(len(ids) - length - 1, (size,), generator=generator)
    x = torch.stack([ids[s : s + length] for s in starts.tolist()])
    y = torch.stack([ids[s + 1 : s + length + 1] for s in starts.tolist()])
    return x, y


def loss_of(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = model(x)  # [N, L, 256]
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))


@torch.no_grad()
def validate(model, ids: torch.Tensor, length: int, batches: int = 8) -> float:
    model.eval()
    generator = torch.Generator().manual_seed(0)  # the same windows every time
    total = sum(loss_of(model, *batch(ids, 32, length, generator)).item() for _ in range(batches))
    model.train()
    return total / batches


def learning_rate(step: int, steps: int, peak: float) -> float:
    warmup = max(1, steps // 20)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def generate(model, prompt: bytes, count: int, length: int, temperature: float = 0.8) -> bytes:
    """`count` more bytes after `prompt`, sampled one at a time from the model's predictions."""
    model.eval()
    generator = torch.Generator().manual_seed(0)
    ids = torch.tensor([list(prompt)], dtype=torch.long)
    for _ in range(count):
        logits = model(ids[:, -length:])[:, -1, :] / temperature
        following = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)
        ids = torch.cat([ids, following], dim=1)
    return bytes(ids[0, len(prompt) :].tolist())


def init_weights(model: torch.nn.Module, n_layer: int) -> None:
    """GPT-2's initialisation, as nanoGPT writes it: weights N(0, 0.02), biases 0, and the
    projections back into the residual stream scaled down by √(2·n_layer). (torch's defaults
    give the tied embedding N(0, 1) rows, and the first logits a spread of ±10.)"""
    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
            std = 0.02 / math.sqrt(2 * n_layer) if name.endswith(".proj") else 0.02
            torch.nn.init.normal_(module.weight, mean=0.0, std=std)
        if isinstance(module, torch.nn.Linear) and module.bias is not None:
            torch.nn.init.zeros_(module.bias)


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    checked = archspec.check(SPEC).model()
    length = checked.graph.root.params["block_size"]
    model = archspec.build(SPEC)  # the module `archspec compile` writes for the spec
    init_weights(model, checked.graph.root.params["n_layer"])
    print(f"{SPEC.relative_to(ROOT)}: {checked.parameter_count:,} parameters (the head's are tied)")
    train_ids, val_ids = split(corpus())
    print(f"text: {len(train_ids):,} bytes to train on, {len(val_ids):,} to validate")
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.99),
                                  weight_decay=0.1)  # fmt: skip
    generator = torch.Generator().manual_seed(args.seed)
    history: dict[str, list] = {"step": [], "train": [], "val": []}
    running, started = 0.0, time.perf_counter()
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr)
        loss = loss_of(model, *batch(train_ids, args.batch_size, length, generator))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        running += loss.item()
        done = step + 1
        if done % args.eval_every == 0 or done == args.steps:
            seen = done - (history["step"][-1] if history["step"] else 0)
            history["step"].append(done)
            history["train"].append(running / seen)
            history["val"].append(validate(model, val_ids, length))
            running = 0.0
            elapsed = time.perf_counter() - started
            print(f"step {done:>5}: train {history['train'][-1]:.3f}, "
                  f"val {history['val'][-1]:.3f} ({elapsed:.0f} s)")  # fmt: skip
    save_history(history, args.plot)
    text = generate(model, b"archspec ", args.sample, length) if args.sample else b""
    if text:
        print("sample:\n" + text.decode("utf-8", errors="replace"))
    return {**history, "sample": text, "model": model}


def save_history(history: dict[str, list], path: str) -> None:
    steps = history["step"]
    save_curves(
        {"training": (steps, history["train"]), "validation": (steps, history["val"])},
        path,
        xlabel="step",
        ylabel="loss (nats per byte)",
        title="gpt.arch on archspec's docs",
        baseline=("uniform guess", math.log(256)),
    )


def main(argv: list[str] | None = None) -> int:
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
