"""Where one instant-preview rerun spends its time (engine side), and what cold-start imports cost.

Times each step of `prune_preview` (model copy, prune_to, evaluate, counting, fp32
serialisation, sparse encoding, histogram), the quantize and distill previews, and the
Plotly figure build + JSON serialisation, on the digits lenet300 baseline with one torch
thread (as the dashboard runs). Medians of `--repeats` runs. The numbers behind docs/performance.md.

    python benchmarks/profile_preview.py [--repeats 7] [--home DIR]
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - began))
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--home")
    args = parser.parse_args(argv)
    import numpy as np
    import torch

    from compress_core.context import RunContext
    from compress_core.measure.metrics import clean_state_dict, count_params, serialized_size, sparse_encode
    from compress_core.methods.prune import prune_to
    from compress_core.present import preview
    from compress_core.specs import PruneSpec
    from compress_core.training.baseline import get_baseline
    from compress_core.training.loop import evaluate

    torch.set_num_threads(1)
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="profile_preview_"))
    base = get_baseline(PruneSpec().baseline_spec(), RunContext.create(home=home))
    model, x, y = base.model, base.data.x_test, base.data.y_test
    weights = np.concatenate(list(preview.prunable_weights(model).values()))
    edges = preview.histogram_edges(weights)
    pruned = copy.deepcopy(model)
    prune_to(pruned, "l1", "global", 0.6)
    state = clean_state_dict(pruned)
    lookup = preview.MagnitudeLookup(model)
    rows = {
        "prune_preview total (l1, global, 60 %)":
            lambda: preview.prune_preview(model, x, y, "l1", "global", 0.6, 0, edges),
        "  copy.deepcopy(model)": lambda: copy.deepcopy(model),
        "  prune_to (copy + masks)": lambda: prune_to(copy.deepcopy(model), "l1", "global", 0.6),
        "  evaluate on the test split": lambda: evaluate(pruned, x, y),
        "  count_params": lambda: count_params(pruned),
        "  clean_state_dict": lambda: clean_state_dict(pruned),
        "  serialized_size (torch.save fp32)": lambda: serialized_size(state),
        "  sparse_encode": lambda: len(sparse_encode(state)),
        "  histogram of kept weights": lambda: preview.histogram(weights, edges, skip_zeros=True),
        "threshold lookup (precomputed sorted |w|)": lambda: lookup.threshold(0.6),
        "quantize_preview (net.1, 4 bit, channel)": lambda: preview.quantize_preview(model, x, y, "net.1", 4, "channel"),
        "softened_outputs (200 rows, T=4)": lambda: preview.softened_outputs(model, x[:200], 4.0),
    }
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()}, torch threads 1, "
          f"median of {args.repeats}")
    for name, fn in rows.items():
        print(f"{name:48s} {timed(fn, args.repeats):8.1f} ms")
    shown = preview.prune_preview(model, x, y, "l1", "global", 0.6, 0, edges)
    import plotly.graph_objects as go

    def figure():
        fig = go.Figure(go.Bar(x=edges[:-1], y=shown["kept_counts"]))
        return fig.to_json()
    print(f"{'plotly Bar(80 bins) build + to_json':48s} {timed(figure, args.repeats):8.1f} ms")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
