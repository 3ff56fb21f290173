"""Sweep and sensitivity timings (issue 6 figures).

1. A 6-level pruning sweep (1 fine-tune epoch, 3 seeds) of lenet300 on digits through the
   background workers, wall time from submission to the last result. Timed cold (the
   three seeds' baselines are trained inside the sweep) and warm (baselines cached), with
   each worker count asked for. Target: under 60 s on 2 cores.
2. The per-layer sensitivity scan of lenet5 on digits at 5 amounts, baseline cached.
   Target: under 10 s.

    python benchmarks/bench_sweep.py [--workers 1,2] [--seeds 3] [--levels 0.5,0.7,0.8,0.9,0.95,0.98]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compress_core import jobs, sweep  # noqa: E402
from compress_core.context import RunContext  # noqa: E402
from compress_core.specs import PruneSpec, TrainSpec  # noqa: E402


def timed_sweep(home: Path, levels: list[float], seeds: int, workers: int, model: str) -> dict:
    """Submit, wait, and report the wall time, the runs' own durations and the parallelism reached."""
    base = PruneSpec(model=model, dataset="digits", finetune_epochs=1).to_dict()
    began = time.perf_counter()
    record = sweep.submit_sweep("prune", base, levels, seeds, home=home, max_workers=workers)
    results = sweep.wait_sweep(record, home, max_workers=workers, interval=0.2)
    wall = time.perf_counter() - began
    runs = [jobs.get(p["run_id"], home) for p in results]
    busy = sum(r["finished_at"] - r["started_at"] for r in runs)
    return {"runs": len(runs), "workers": workers, "wall_s": round(wall, 2),
            "finished": sum(r["status"] == "finished" for r in runs),
            "run_seconds_total": round(busy, 2), "mean_run_s": round(busy / len(runs), 2),
            "parallelism": round(busy / wall, 2)}


def sensitivity_timing(home: Path) -> dict:
    from compress_core.training.baseline import get_baseline
    from compress_core.explore.sensitivity import run_sensitivity

    ctx = RunContext.create(home=home)
    spec = TrainSpec(model="lenet5", dataset="digits")
    began = time.perf_counter()
    get_baseline(spec, ctx)
    baseline_s = time.perf_counter() - began
    began = time.perf_counter()
    table = run_sensitivity(spec, [0.3, 0.5, 0.7, 0.9, 0.95], ctx)
    return {"scan_s": round(time.perf_counter() - began, 2), "baseline_train_or_load_s": round(baseline_s, 2),
            "evaluations": len(table), "layers": table["layer"].nunique()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="0.5,0.7,0.8,0.9,0.95,0.98")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="worker counts to time, e.g. 1,2")
    parser.add_argument("--model", default="lenet300")
    args = parser.parse_args()
    levels = sweep.parse_levels(args.levels, "amount")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(json.dumps({"cpu_count": os.cpu_count(), "load_avg_1m_at_start": load}))
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        try:
            counts = [int(w) for w in args.workers.split(",")]
            cold = timed_sweep(home, levels, args.seeds, counts[-1], args.model)
            print(json.dumps({"sweep": "cold (baselines trained in the sweep)", **cold}), flush=True)
            for workers in counts:
                jobs.stop_workers(home)  # every timing starts its workers afresh (process start included)
                warm = timed_sweep(home, levels, args.seeds, workers, args.model)
                print(json.dumps({"sweep": "warm (baselines cached)", **warm}), flush=True)
        finally:
            jobs.stop_workers(home)
        print(json.dumps({"sensitivity": "lenet5 on digits, 5 amounts", **sensitivity_timing(home)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
