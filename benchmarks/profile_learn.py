"""Server-side cost of one slider move of the Learn page's pruning lesson (issue 19), without a browser.

What `pages/learn.py`'s pruning fragment computes per move: an uncached move prunes a copy
(`teach.pruned_copy`, the engine's `prune_to`), evaluates it, counts parameters, encodes the
sparse file and builds the two figures; a cached move (the value was seen before, by any
session: `pruning_numbers` is an `st.cache_data`) only builds the figures. Each figure is also
serialised the way `st.plotly_chart` does (`to_dict`, then `plotly.io.to_json`). Median over
`--moves` amounts, one torch thread as the dashboard uses; the load average is printed.

    python benchmarks/profile_learn.py [--moves 20] [--home DIR]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--home", help="home folder with the cached lesson baseline (default: the lab's)")
    args = parser.parse_args(argv)

    import plotly.io
    import torch

    from compress_core.context import RunContext
    from compress_core.measure.metrics import count_params
    from compress_core.present import teach
    from compress_core.training.baseline import get_baseline
    from compress_core.training.loop import evaluate

    torch.set_num_threads(1)
    base = get_baseline(teach.TEACHING_SPEC, RunContext.create(home=args.home))
    model, data = base.model, base.data
    before = teach.first_layer(model)
    units = teach.strongest_units(before, 6)
    dense = before[units].numpy()

    def numbers(amount: int, scope: str) -> dict:
        pruned = teach.pruned_copy(model, amount / 100, scope)
        evaluate(pruned, data.x_test, data.y_test)
        count_params(pruned)
        teach.file_sizes(model, pruned)
        return {"hist": teach.histogram_parts(model, pruned, scope),
                "first_layer": teach.first_layer(pruned)[units].numpy()}

    def figures(shown: dict, scope: str) -> int:
        figs = [teach.histogram_figure(shown["hist"], scope),
                teach.unit_images(dense, shown["first_layer"], range(len(units)), (8, 8), labels=units)]
        return sum(len(plotly.io.to_json(f.to_dict(), validate=False)) for f in figs)

    figures(numbers(50, "global"), "global")  # warm-up: lazy imports, plotly's templates
    amounts = [60 + i % 39 for i in range(args.moves)]
    uncached, cached, size = [], [], 0
    for amount in amounts:
        began = time.perf_counter()
        shown = numbers(amount, "global")
        size = figures(shown, "global")
        uncached.append(time.perf_counter() - began)
        began = time.perf_counter()
        figures(shown, "global")
        cached.append(time.perf_counter() - began)
    print(f"uncached move: median {1000 * statistics.median(uncached):.1f} ms; cached move (figures only): median "
          f"{1000 * statistics.median(cached):.1f} ms; figures JSON {size / 1000:.0f} kB; "
          f"{args.moves} moves, load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
