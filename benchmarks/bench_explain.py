"""Wall time of `explain` for a finished LeNet-300-100 prune run on digits, on 2 threads.

Target (issue 15): explain for a finished run on digits returns in under 5 s on 2 threads.

The run is `python -m compress_core prune --model lenet300 --dataset digits --amount 0.9` (the CLI's
defaults: 30 baseline epochs, 3 fine-tuning epochs), recorded in a scratch home (or `--home`).
Timed: `explore.explain.explain_run` (per-class table, confusion difference, flips, per-layer
attribution): the first call in this process and `--repeats` warm calls; with two more seeds' runs of
the same spec in the store, so the seed exemplars are computed too; cold, in a fresh process after
imports (the data set, the cached baseline and the run's weights read from disk: the figure held
against the target); and `python -m compress_core explain` end to end, imports included.

    python benchmarks/bench_explain.py [--threads 2] [--repeats 3] [--home DIR]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_S = 5.0
SPEC = {"kind": "prune", "model": "lenet300", "dataset": "digits", "amount": 0.9}


def fresh_process(run_id: str, home: Path, threads: int) -> tuple[float, float]:
    """(wall s, CPU s) of one explain_run in a new Python process, imports excluded."""
    code = ("import sys, time, torch; torch.set_num_threads(int(sys.argv[3]));"
            "from compress_core.explore.explain import explain_run;"
            "w, c = time.perf_counter(), time.process_time(); explain_run(sys.argv[1], sys.argv[2], seeds=False);"
            "print(time.perf_counter() - w, time.process_time() - c)")
    out = subprocess.run([sys.executable, "-c", code, run_id, str(home), str(threads)], check=True,
                         capture_output=True, text=True, cwd=ROOT).stdout.split()
    return float(out[-2]), float(out[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--home", help="home folder (default: a new temporary folder)")
    args = parser.parse_args()
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="bench_explain_"))

    import torch

    torch.set_num_threads(args.threads)
    from compress_core.explore.explain import explain_run
    from compress_core.runs import jobs

    began = time.perf_counter()
    runs = {seed: jobs.record_foreground({**SPEC, "seed": seed}, home=home)["id"] for seed in (0,)}
    print(f"prune run recorded in {time.perf_counter() - began:.1f} s (baseline trained and cached)")

    def timed(**options) -> tuple[float, dict]:
        start = time.perf_counter()
        result = explain_run(runs[0], home, **options)
        return time.perf_counter() - start, result

    cold, result = timed()
    warm = [timed()[0] for _ in range(args.repeats)]
    attr = result["attribution"]
    print(f"\nexplain {runs[0]} ({result['examples']} test examples, {len(attr.get('rows', []))} layers attributed, "
          f"{args.threads} threads):")
    print(f"  first call in this process {cold:.2f} s, warm median {statistics.median(warm):.2f} s over {args.repeats} "
          f"(min {min(warm):.2f}, max {max(warm):.2f})")
    print(f"  accuracy baseline {result['accuracy']['baseline']:.2%}, run {result['accuracy']['run']:.2%}; "
          f"forgotten {result['flips']['counts']['forgotten']}, learnt {result['flips']['counts']['learnt']}")

    for seed in (1, 2):
        runs[seed] = jobs.record_foreground({**SPEC, "seed": seed}, home=home)["id"]
    with_seeds = [timed()[0] for _ in range(args.repeats)]
    seeds = timed()[1]["seeds"]
    print(f"  with 3 seeds' runs in the store (seed exemplars: {len(seeds['exemplars'])}): warm median "
          f"{statistics.median(with_seeds):.2f} s")

    cold_wall, cold_cpu = fresh_process(runs[0], home, args.threads)
    print(f"  in a fresh process (after imports; data set, cached baseline and weights read from disk): "
          f"{cold_wall:.2f} s wall, {cold_cpu:.2f} s CPU; target < {TARGET_S:.0f} s: "
          f"{'met' if cold_wall < TARGET_S else 'NOT met'}")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "compress_core", "explain", runs[0], "--json", "--no-seeds",
                    "--home", str(home)], check=True, capture_output=True, cwd=ROOT)
    print(f"  `python -m compress_core explain {runs[0]} --json --no-seeds` end to end (imports included): "
          f"{time.perf_counter() - start:.2f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

if __name__ == "__main__":
    main()
