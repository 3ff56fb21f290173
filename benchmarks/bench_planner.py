"""Plan to a budget vs uniform global L1 at the same size, and predicted vs realized accuracy (issue 15).

For each data set and seed, in one run store (so later seeds see earlier plans, as a user's lab would):

1. a `plan` run (LeNet-300-100, `--target` bytes, prune+quantize allowed, the lab's default
   3 fine-tuning epochs), recorded in the store like a CLI run;
2. a `prune` run, L1 magnitude with one global threshold, at the amount whose deployed size (the
   sparse encoding, measured on a masked copy) is the largest that does not exceed the plan's
   realized size, with the same fine-tuning: the uniform baseline "at the same size".

Reported per seed: the plan's realized accuracy, size and form, its predicted accuracy (corrected by
the earlier plans of this store, and uncorrected), the gap, and the L1 run's amount, size and accuracy.
Checks: every plan meets the budget; plan accuracy >= L1 accuracy; |realized - predicted| <= 1 point.

Data: digits (built in, 8x8 images: LeNet-300-100 has 50,200 weights, 201 kB in fp32), and MNIST when
`--data-dir` holds its IDX files (784 inputs: 266,200 weights; a bitmap alone is 33 kB, so a 25 kB budget is
out of reach of the lab's size forms and the planner says so in one line).

    python benchmarks/bench_planner.py [--datasets digits,mnist] [--data-dir DIR] [--seeds 3]
        [--target 25000] [--finetune-epochs 3] [--home DIR] [--json out.json]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compress_core.context import RunContext  # noqa: E402
from compress_core.data.datasets import load_dataset  # noqa: E402
from compress_core.errors import CompressError  # noqa: E402
from compress_core.measure.metrics import clean_state_dict, serialized_size, sparse_encode  # noqa: E402
from compress_core.methods.prune import make_permanent, prune_to  # noqa: E402
from compress_core.runs.jobs import record_foreground  # noqa: E402
from compress_core.specs import TrainSpec  # noqa: E402
from compress_core.training.baseline import get_baseline  # noqa: E402


def l1_amount_at_size(base_model, size: float) -> float:
    """The largest-size global L1 amount (to 0.0001) whose deployed size (sparse encoding or fp32) is <= `size`."""
    def deployed(amount: float) -> int:
        model = copy.deepcopy(base_model)
        prune_to(model, "l1", "global", amount)
        state = clean_state_dict(make_permanent(model))
        return min(len(sparse_encode(state)), serialized_size(state))

    low, high = 0.0, 0.9999
    if deployed(high) > size:
        return high
    for _ in range(20):  # bisection: size falls as the amount grows
        mid = (low + high) / 2
        low, high = (low, mid) if deployed(mid) <= size else (mid, high)
    return round(high, 4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="digits,mnist")
    parser.add_argument("--data-dir", help="folder with mnist/ IDX files (default: <home>/data)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--target", type=int, default=25_000)
    parser.add_argument("--finetune-epochs", type=int, default=3)
    parser.add_argument("--home", help="run store folder (default: a fresh temporary folder)")
    parser.add_argument("--json", help="write the rows as JSON here")
    args = parser.parse_args()
    home = Path(args.home or tempfile.mkdtemp(prefix="bench_planner_"))
    os.environ.setdefault("COMPRESS_LAB_LATENCY_REPEATS", "10")
    print(f"home {home}; {torch.get_num_threads()} torch threads; target {args.target:,} bytes; "
          f"fine-tuning {args.finetune_epochs} epochs")
    rows, ok = [], True
    for dataset in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        ctx = RunContext.create(home=home, data_dir=args.data_dir)
        try:
            load_dataset(dataset, ctx.data_dir)
        except CompressError as exc:
            print(f"{dataset}: skipped ({exc})")
            continue
        for seed in range(args.seeds):
            common = {"model": "lenet300", "dataset": dataset, "seed": seed}
            began = time.perf_counter()
            try:
                plan = record_foreground({"kind": "plan", **common, "target_size": args.target,
                                          "finetune_epochs": args.finetune_epochs}, home=home, data_dir=args.data_dir)
            except CompressError as exc:
                print(f"{dataset} seed {seed}: {exc}")
                rows.append({"dataset": dataset, "seed": seed, "error": str(exc)})
                break  # the same budget is out of reach for every seed
            plan_s = time.perf_counter() - began
            m = plan["metrics"]
            base = get_baseline(TrainSpec(**common), ctx)
            amount = l1_amount_at_size(base.model, m["size_bytes"])
            l1 = record_foreground({"kind": "prune", **common, "method": "l1", "scope": "global", "amount": amount,
                                    "finetune_epochs": args.finetune_epochs}, home=home, data_dir=args.data_dir)
            lm = l1["metrics"]
            row = {"dataset": dataset, "seed": seed, "baseline_accuracy": m["baseline_accuracy"],
                   "plan_accuracy": m["accuracy"], "predicted_accuracy": m["predicted_accuracy"],
                   "predicted_uncorrected": m["predicted_accuracy_uncorrected"],
                   "correction_runs": m["prediction_history_runs"], "gap_pp": 100 * m["prediction_gap"],
                   "plan_size": m["size_bytes"], "plan_form": m["size_form"], "predicted_size": m["predicted_size"],
                   "meets_budget": m["meets_budget"], "plan": m["plan"], "plan_s": plan_s,
                   "l1_amount": amount, "l1_size": lm["size_bytes"], "l1_form": lm["size_form"],
                   "l1_accuracy": lm["accuracy"]}
            rows.append(row)
            print(f"{dataset} seed {seed}: plan {100 * row['plan_accuracy']:.2f}% at {row['plan_size']:,.0f} B "
                  f"({row['plan_form']}; predicted {row['predicted_size']:,.0f} B) | predicted "
                  f"{100 * row['predicted_accuracy']:.2f}% (uncorrected {100 * row['predicted_uncorrected']:.2f}%, "
                  f"{row['correction_runs']} earlier plans), gap {row['gap_pp']:+.2f} pp | global L1 {amount:.4f}: "
                  f"{100 * row['l1_accuracy']:.2f}% at {row['l1_size']:,.0f} B | baseline "
                  f"{100 * row['baseline_accuracy']:.2f}% | plan run {plan_s:.0f} s")
            print("   plan: " + ", ".join(f"{r['layer']} {r['sparsity']:.0%} {r['bits'] if r['bits'] < 32 else 'fp32'}"
                                         f"{'-bit' if r['bits'] < 32 else ''}" for r in row["plan"]))
            checks = {"meets budget": row["meets_budget"] and row["plan_size"] <= args.target,
                      ">= global L1": row["plan_accuracy"] >= row["l1_accuracy"],
                      "|gap| <= 1 pp": abs(row["gap_pp"]) <= 1.0}
            row["checks"] = checks
            ok &= all(checks.values())
            print("   " + ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in checks.items()))
        done = [r for r in rows if r["dataset"] == dataset and "error" not in r]
        if done:
            mean = lambda key: statistics.mean(r[key] for r in done)  # noqa: E731
            print(f"{dataset} mean over {len(done)} seeds: plan {100 * mean('plan_accuracy'):.2f}% vs global L1 "
                  f"{100 * mean('l1_accuracy'):.2f}%; size {mean('plan_size'):,.0f} B vs {mean('l1_size'):,.0f} B; "
                  f"mean |gap| {statistics.mean(abs(r['gap_pp']) for r in done):.2f} pp")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, default=str))
    print("all checks passed" if ok else "some checks failed")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
