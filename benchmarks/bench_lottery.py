"""Lottery tickets on LeNet-300-100 over seeds: tickets at 10-20 % of the weights vs dense, vs random re-init.

Target (issue 14): on MNIST, winning tickets at 10-20 % of the weights within 0.3 point of the dense
network, and the same masks with random re-initialisation at least 1 point worse, over 3 seeds with
the spread. MNIST is used when `--data-dir` holds its files (`<dir>/mnist/*-ubyte[.gz]`); otherwise
scikit-learn's digits (offline). Every run is the `lottery-ticket` classic's spec (rate 20 % per
layer, rewind to initialisation, both controls), optionally shortened with --rounds/--rate/--epochs,
through `compress_core.run`, so the printed command reproduces each one:

    python benchmarks/bench_lottery.py [--data-dir DIR] [--seeds 0,1,2] [--rounds N] [--rate P] [--epochs E]
                                       [--threads 1] [--home DIR] [--figure lottery.html]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import compress_core  # noqa: E402
from compress_core.classics.registry import classic_spec  # noqa: E402
from compress_core.present.classics import lottery_figure  # noqa: E402

BAND = (0.10, 0.20)  # the share of weights the target speaks of


def has_mnist(data_dir: str | None) -> bool:
    folder = Path(data_dir or "") / "mnist"
    return bool(data_dir) and folder.is_dir() and any(folder.glob("*ubyte*"))


def spread(values: list[float]) -> str:
    """Mean ± sample standard deviation, in points (values are shares)."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):6.2f} ± {100 * sd:4.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder with mnist/ (IDX files); digits without it")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--rounds", type=int, help="pruning rounds (default: the classic's, 15)")
    parser.add_argument("--rate", type=float, help="share of the remaining weights per round (default: 0.2)")
    parser.add_argument("--epochs", type=int, help="epochs of the dense network and each round (default: the data "
                                                   "set's: 30 digits, 10 MNIST)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--home", help="lab home (default: a fresh temporary folder)")
    parser.add_argument("--figure", help="write the accuracy-vs-weights figure as HTML here")
    parser.add_argument("--json-out", help="write the per-seed rounds as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dataset = "mnist" if has_mnist(args.data_dir) else "digits"
    home = Path(args.home or tempfile.mkdtemp(prefix="bench_lottery_"))
    seeds = [int(s) for s in args.seeds.split(",")]
    changes = {k: v for k, v in (("rounds", args.rounds), ("rate", args.rate), ("epochs", args.epochs)) if v is not None}
    print(f"data set {dataset}; torch {torch.__version__}, {args.threads} thread(s); home {home}")
    settings = {"rounds": 15, "rate": 0.2, **changes}
    print(f"each run: python -m compress_core lottery --model lenet300 --dataset {dataset} "
          + " ".join(f"--{k} {v}" for k, v in settings.items())
          + f" --seed S   (the lottery-ticket classic{', shortened' if changes else ''})")
    results = []
    for seed in seeds:
        spec = classic_spec("lottery-ticket", dataset=dataset, seed=seed).replace(**changes)
        began = time.perf_counter()
        result = compress_core.run(spec, home=home, data_dir=args.data_dir)
        m = result.metrics
        print(f"seed {seed}: dense {100 * m['baseline_accuracy']:.2f} %, {len(m['rounds'])} rounds in "
              f"{time.perf_counter() - began:.0f} s", flush=True)
        for row in m["rounds"]:
            print(f"    {100 * row['remaining_fraction']:6.2f} % of weights: ticket {100 * row['accuracy']:.2f}, "
                  f"re-init {100 * row['reinit_accuracy']:.2f}, random mask {100 * row['random_mask_accuracy']:.2f}")
        results.append(result.to_dict())
    dense = [r["metrics"]["baseline_accuracy"] for r in results]
    print(f"\ndense (100 % of weights): {spread(dense)} %  over seeds {seeds}")
    print(f"{'weights left':>12} {'ticket':>14} {'re-init':>14} {'random mask':>14} {'ticket - dense':>15} "
          f"{'re-init - dense':>16}")
    rounds = len(results[0]["metrics"]["rounds"])
    in_band = []
    for i in range(rounds):
        rows = [r["metrics"]["rounds"][i] for r in results]
        left = rows[0]["remaining_fraction"]
        col = {k: [row[k] for row in rows] for k in ("accuracy", "reinit_accuracy", "random_mask_accuracy")}
        gap = [a - d for a, d in zip(col["accuracy"], dense)]
        gap_reinit = [a - d for a, d in zip(col["reinit_accuracy"], dense)]
        mark = " *" if BAND[0] <= left <= BAND[1] else ""
        print(f"{100 * left:11.1f}% {spread(col['accuracy']):>14} {spread(col['reinit_accuracy']):>14} "
              f"{spread(col['random_mask_accuracy']):>14} {spread(gap):>15} {spread(gap_reinit):>16}{mark}")
        if mark:
            in_band.append((left, statistics.mean(gap), statistics.mean(gap_reinit)))
    print("(* = 10-20 % of the weights; values in %, mean ± sample standard deviation over the seeds)")
    for left, gap, gap_reinit in in_band:
        print(f"at {100 * left:.1f} %: ticket {100 * gap:+.2f} pt vs dense (target >= -0.3: "
              f"{'met' if gap >= -0.003 else 'missed'}); re-init {100 * (gap_reinit - gap):+.2f} pt vs the ticket "
              f"(target <= -1: {'met' if gap_reinit - gap <= -0.01 else 'missed'})")
    if not in_band:
        print("no round ended between 10 and 20 % of the weights: use more rounds")
    if args.figure:
        lottery_figure(results).write_html(args.figure)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps([{"seed": r["spec"]["seed"], "dense": r["metrics"]["baseline_accuracy"],
                                                    "rounds": r["metrics"]["rounds"]} for r in results], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
