"""The control behind the Learn page's "soft targets without labels" lesson.

With 10 % of the digits labels: an mlp-16 student trained on the labelled share alone, distilled
on every input from the cached LeNet-300-100 teacher (trained on ALL labels), and distilled from a
LeNet-300-100 teacher trained on the SAME labelled share only (`present/teach_controls.py`).
Prints one JSON line per seed and the mean, which `present/teach.DOC_LABEL_SHARE` holds.

    python benchmarks/bench_label_share.py [--seeds 0,1,2] [--home DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from compress_core.context import RunContext  # noqa: E402
from compress_core.present import teach  # noqa: E402
from compress_core.present.teach_controls import label_share_control, summarize  # noqa: E402
from compress_core.training.baseline import get_baseline  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--home", help="lab home with the cached teaching baseline (default: a temp folder)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    home = args.home or tempfile.mkdtemp(prefix="bench_label_share_")
    base = get_baseline(teach.TEACHING_SPEC, RunContext.create(home=home))
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        began = time.time()
        row = label_share_control(base.model, base.data, seed=seed)
        row["seconds"] = time.time() - began
        print(json.dumps(row))
        rows.append(row)
    print(json.dumps({"mean": summarize(rows)}))


if __name__ == "__main__":
    main()
