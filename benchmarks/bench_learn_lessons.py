"""How long the Learn page's lottery-ticket and per-class damage lessons take to measure (issue 21: "seconds,
not minutes, on 2 cores"), and what they measure, for one or more seeds of the lottery lesson.

Times `teach_lottery.lottery_curves` (the lesson's settings, `LESSON`) and `teach_damage.class_damage`
(without and with the lesson's fine-tuning) on the cached teaching baseline. Prints one JSON line per
measurement with the load average, since the machine is shared.

    python -u benchmarks/bench_learn_lessons.py [--seeds 0] [--threads 1] [--home DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from compress_core.context import RunContext  # noqa: E402
from compress_core.present import teach, teach_damage, teach_lottery  # noqa: E402
from compress_core.training.baseline import get_baseline  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0", help="seeds of the lottery lesson (the page uses 0)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1, as the Learn page: on a loaded 2-core machine two threads "
                             "spin against each other; measured: seed 1 did not finish in 300 s at load 12)")
    parser.add_argument("--home", help="lab home with the cached teaching baseline (default: a temp folder)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    home = args.home or tempfile.mkdtemp(prefix="bench_learn_lessons_")
    base = get_baseline(teach.TEACHING_SPEC, RunContext.create(home=home))
    for seed in (int(s) for s in args.seeds.split(",")):
        began = time.perf_counter()
        curves = teach_lottery.lottery_curves(base.model, base.data, replace(teach_lottery.LESSON, seed=seed))
        s = teach_lottery.summary(curves)
        print(json.dumps({"lesson": "lottery", "seed": seed, "seconds": round(time.perf_counter() - began, 2),
                          "threads": args.threads, "load_average": os.getloadavg()[0], "dense": s["dense"],
                          "last": s["last"], "rounds_beyond_noise": s["rounds_beyond"]}))
    for epochs in (0, teach_damage.FINETUNE_EPOCHS):
        began = time.perf_counter()
        levels = teach_damage.class_damage(base.model, base.data, teach_damage.SPARSITIES, epochs)
        print(json.dumps({"lesson": "damage", "finetune_epochs": epochs,
                          "seconds": round(time.perf_counter() - began, 2), "threads": args.threads,
                          "load_average": os.getloadavg()[0],
                          "levels": [{"sparsity": e["sparsity"], "change": round(e["change"], 4),
                                      "worst": e["worst"]["label"], "worst_change": round(e["worst"]["difference"], 4),
                                      "flagged": [r["label"] for r in e["classes"] if r["flagged"]]}
                                     for e in levels]}))


if __name__ == "__main__":
    main()
