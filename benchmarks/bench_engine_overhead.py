"""Engine overhead: the same train + prune + fine-tune work through `compress_core` and
through a minimal hand-written PyTorch loop, timed in one process, alternating.

Target (issue 2): engine time / hand-loop time <= 1.10. The engine's run also measures
sizes, FLOPs and latency of both models (its reporting); that is timed separately and
shown, since the hand loop does none of it.

    python benchmarks/bench_engine_overhead.py [--dataset digits] [--repeats 3]
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.utils import prune  # noqa: E402

import compress_core  # noqa: E402
from compress_core.data.datasets import load_dataset  # noqa: E402

AMOUNT, FINETUNE_EPOCHS = 0.9, 3


def hand_loop(data, epochs: int, batch: int, lr: float, ft_lr: float, seed: int) -> float:
    """The textbook loop: Adam, shuffled mini-batches, test evaluation each epoch."""
    torch.manual_seed(seed)
    d = data.x_train[0].numel()
    model = nn.Sequential(nn.Flatten(), nn.Linear(d, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(),
                          nn.Linear(100, data.num_classes))

    def train(n_epochs, learning_rate, cosine=False):
        opt = torch.optim.Adam(model.parameters(), lr=learning_rate)
        gen = torch.Generator().manual_seed(seed)
        total, step = n_epochs * -(-len(data.x_train) // batch), 0
        for _ in range(n_epochs):
            model.train()
            order = torch.randperm(len(data.x_train), generator=gen)
            for i in range(0, len(order), batch):
                idx = order[i:i + batch]
                if cosine:  # fine-tuning decays the learning rate along a cosine, as the engine does
                    opt.param_groups[0]["lr"] = learning_rate * 0.5 * (1 + math.cos(math.pi * step / total))
                step += 1
                opt.zero_grad()
                nn.functional.cross_entropy(model(data.x_train[idx]), data.y_train[idx]).backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                (model(data.x_test).argmax(1) == data.y_test).float().mean().item()

    train(epochs, lr)
    layers = [(m, "weight") for m in model.modules() if isinstance(m, nn.Linear)]
    prune.global_unstructured(layers, pruning_method=prune.L1Unstructured, amount=AMOUNT)
    train(FINETUNE_EPOCHS, ft_lr, cosine=True)
    for m, name in layers:
        prune.remove(m, name)
    with torch.no_grad():
        return (model(data.x_test).argmax(1) == data.y_test).float().mean().item()


def engine(dataset: str, epochs: int, seed: int) -> tuple[float, float, float]:
    """(seconds for the training + pruning + fine-tuning, seconds of measurement, accuracy)."""
    with tempfile.TemporaryDirectory() as home:
        began = time.perf_counter()
        marks = {}

        def on_progress(event):
            if event.stage == "measure" and "measure" not in marks:
                marks["measure"] = time.perf_counter()

        result = compress_core.run({"kind": "prune", "model": "lenet300", "dataset": dataset, "amount": AMOUNT,
                                    "finetune_epochs": FINETUNE_EPOCHS, "baseline_epochs": epochs, "seed": seed},
                                   on_progress, home=home)
        ended = time.perf_counter()
    work = marks["measure"] - began
    return work, ended - marks["measure"], result.metrics["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    data = load_dataset(args.dataset)
    batch = 32 if len(data.x_train) < 5000 else 128
    ft_lr = 7e-3 if len(data.x_train) < 5000 else 2e-3
    engine(args.dataset, 1, 0)  # warm-up: imports, first-call allocations
    hand_times, engine_times, measure_times = [], [], []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        hand_acc = hand_loop(data, args.epochs, batch, 1e-3, ft_lr, r)
        hand_times.append(time.perf_counter() - t0)
        work, measure, engine_acc = engine(args.dataset, args.epochs, r)
        engine_times.append(work)
        measure_times.append(measure)
        print(f"repeat {r}: hand {hand_times[-1]:.2f} s (acc {hand_acc:.4f}), engine {work:.2f} s "
              f"(acc {engine_acc:.4f}) + measurement {measure:.2f} s", flush=True)
    hand, eng = statistics.median(hand_times), statistics.median(engine_times)
    ratios = [e / h for e, h in zip(engine_times, hand_times)]
    print(f"threads: {torch.get_num_threads()}, data set: {args.dataset}, {args.epochs}+{FINETUNE_EPOCHS} epochs")
    print(f"median hand loop: {hand:.2f} s; median engine (train + prune + fine-tune): {eng:.2f} s")
    print(f"ratio engine / hand: {eng / hand:.3f} (target <= 1.10); per-repeat ratios: "
          f"{', '.join(f'{r:.2f}' for r in ratios)}")
    print(f"engine measurement (sizes, FLOPs, latency of both models): {statistics.median(measure_times):.2f} s extra")


if __name__ == "__main__":
    main()
