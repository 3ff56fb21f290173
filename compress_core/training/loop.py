"""Training and evaluation loops.

The loop is deliberately minimal (pre-batched tensors, no DataLoader) so that the
engine costs no more than a hand-written PyTorch loop doing the same work
(`benchmarks/bench_engine_overhead.py` measures the ratio).
"""
from __future__ import annotations

import math
import os
import random
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import numpy as np
import torch
from torch import nn

from compress_core.data.datasets import Dataset
from compress_core.progress import ProgressCallback, emit
from compress_core.training.precision import autocast, choose_precision, grad_scaler, resident

EVAL_BATCH = 1024


def pick_device() -> torch.device:
    """CUDA when present (unless COMPRESS_LAB_DEVICE says otherwise), else CPU."""
    wanted = os.environ.get("COMPRESS_LAB_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Same seed, same weights, same batches, same result."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block under a seed without disturbing the global generator afterwards."""
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(state)


@dataclass(frozen=True)
class FitConfig:
    """Optimiser settings of one training phase (Adam, as in the reference figures)."""

    epochs: int
    lr: float = 1e-3
    batch_size: int = 128
    seed: int = 0
    weight_decay: float = 0.0
    cosine: bool = False  # decay the learning rate to zero along a cosine (used for fine-tuning)
    precision: str = "fp32"  # fp32 | bf16 | fp16 (CUDA) autocast with fp32 master weights | auto (measured)


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, device: torch.device | None = None) -> torch.Tensor:
    """Logits for all of `x`, in eval mode, in large batches."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = [model(x[i:i + EVAL_BATCH].to(device)).float().cpu() for i in range(0, len(x), EVAL_BATCH)]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device | None = None) -> tuple[float, float]:
    """(top-1 accuracy in [0, 1], mean cross-entropy loss) on (x, y).

    Batch by batch: only one batch of logits exists at a time, so 50,000 classes times
    the test rows never have to fit in memory together.
    """
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    try:
        for i in range(0, len(x), EVAL_BATCH):
            logits = model(x[i:i + EVAL_BATCH].to(device)).float()
            yb = y[i:i + EVAL_BATCH].to(logits.device)
            loss_sum += nn.functional.cross_entropy(logits, yb, reduction="sum").item()
            correct += int((logits.argmax(1) == yb).sum().item())
    finally:
        model.train(was_training)
    n = len(x)
    if n == 0:
        return float("nan"), float("nan")
    return correct / n, loss_sum / n


LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy_loss(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(model(xb), yb)


def fit(model: nn.Module, data: Dataset, config: FitConfig, *, on_progress: ProgressCallback = None,
        stage: str = "train", device: torch.device | None = None,
        x_train: Optional[torch.Tensor] = None, y_train: Optional[torch.Tensor] = None,
        loss_fn: LossFn = cross_entropy_loss,
        before_step: Optional[Callable[[int, int], None]] = None) -> list[dict]:
    """Train `model` in place with Adam and return the per-epoch history.

    `x_train`/`y_train` override the data set's training split (distillation uses a
    labelled fraction). `loss_fn(model, xb, yb, idx)` gets the batch indices so a loss
    can look up per-example targets. `before_step(step, total_steps)` runs before every
    optimiser step (gradual pruning hooks in there). Each epoch ends with a test-set
    evaluation, reported through `on_progress` and in the history.
    """
    device = device or pick_device()
    x = data.x_train if x_train is None else x_train
    y = data.y_train if y_train is None else y_train
    model.to(device)
    # Moved to the device once when the data fits there (no per-batch host copies); else batch by batch.
    x_dev, y_dev = resident(x, device), resident(y, device)
    x_test, y_test = resident(data.x_test, device), resident(data.y_test, device)
    n = len(x_dev)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(config.seed)
    steps_per_epoch = max(1, -(-n // config.batch_size))
    total_steps = steps_per_epoch * config.epochs
    history: list[dict] = []
    step = 0
    precision, measured = config.precision, None
    if precision == "auto" and n:  # a few timed steps of this model on its first batch decide
        first = torch.arange(min(n, config.batch_size), device=x_dev.device)
        precision, measured = choose_precision(model, x_dev[first].to(device), y_dev[first].to(device), loss_fn,
                                               first.to(device))
    scaler = grad_scaler(precision, device)
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=gen).to(x_dev.device)
        loss_sum = 0.0
        for start in range(0, n, config.batch_size):
            idx = order[start:start + config.batch_size]
            if before_step is not None:
                before_step(step, total_steps)
            xb, yb = x_dev[idx].to(device, non_blocking=True), y_dev[idx].to(device, non_blocking=True)
            if config.cosine:
                for group in opt.param_groups:
                    group["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
            opt.zero_grad(set_to_none=True)
            with autocast(precision, device):
                loss = loss_fn(model, xb, yb, idx)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            loss_sum += loss.item() * len(idx)
            step += 1
        test_acc, test_loss = evaluate(model, x_test, y_test, device)
        row = {"epoch": epoch, "stage": stage, "train_loss": loss_sum / max(n, 1),
               "test_loss": test_loss, "test_accuracy": test_acc}
        if config.precision != "fp32":  # what `auto` chose (and why) stays with the history
            row["precision"] = precision
            if measured:
                row["precision_measured"] = measured
        history.append(row)
        emit(on_progress, stage, epoch, config.epochs, f"{stage}: epoch {epoch}/{config.epochs}",
             test_accuracy=test_acc, train_loss=row["train_loss"])
    return history
