"""Where one instant-preview rerun spends its time (engine side), and what cold-start imports cost.

Times each step of `prune_preview` (model copy, prune_to, evaluate, counting, fp32
serialisation, sparse encoding, histogram), the quantize and distill previews, and the
Plotly figure build + JSON serialisation, on the digits lenet300 baseline with one torch
thread (as the dashboard runs). Medians of `--repeats` runs. The numbers behind docs/performance.md.

    python benchmarks/profile_preview.py [--repeats 7] [--home DIR] [--text-model DIR|minilm]

`--text-model` profiles a text model instead (an `hf:DIR` save_pretrained folder on the bundled
text-demo set, loaded through the lab's model source; `minilm` builds the MiniLM-sized one of
`benchmarks/minilm_folder.py` under the home folder): the full preview's steps, and the parts a
progressive preview draws apart (`PruneNumbers.numbers`, `pruned_accuracy`, `quantize_numbers`,
`quantized_accuracy`, the teacher's logits once and a softmax per temperature).
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
    parser.add_argument("--text-model", help="an hf save_pretrained folder (or 'minilm') on text-demo")
    args = parser.parse_args(argv)
    if args.text_model:
        return text_model(args)
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


def text_model(args) -> int:
    """The steps of one Prune / Quantize / Distill preview move for a text model (see the module docstring)."""
    import numpy as np
    import torch

    from compress_core.context import RunContext
    from compress_core.measure.metrics import clean_state_dict, count_params, serialized_size, sparse_encode
    from compress_core.models.zoo import prunable_layers
    from compress_core.present import preview
    from compress_core.specs import PruneSpec
    from compress_core.training.baseline import get_baseline
    from compress_core.training.loop import evaluate, predict_logits

    torch.set_num_threads(1)
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="profile_preview_"))
    folder = args.text_model
    if folder == "minilm":
        from minilm_folder import ensure_folder

        folder = ensure_folder(home / "minilm-sized")
    began = time.perf_counter()
    base = get_baseline(PruneSpec(model=f"hf:{Path(folder).resolve()}", dataset="text-demo").baseline_spec(),
                        RunContext.create(home=home))
    print(f"baseline ready in {time.perf_counter() - began:.1f} s: {count_params(base.model)[0] / 1e6:.1f} M "
          f"parameters, test ids {tuple(base.data.x_test.shape)}, accuracy {base.info['accuracy']:.3f}")
    model, x, y = base.model, base.data.x_test, base.data.y_test
    once = {}
    for name, build in (("MagnitudeLookup (sorted |w|, once per baseline)", lambda: preview.MagnitudeLookup(model)),
                        ("PruneNumbers (per-layer sorted w, file layout; once)",
                         lambda: preview.PruneNumbers(model, once["MagnitudeLookup (sorted |w|, once per baseline)"]))):
        b = time.perf_counter()
        once[name] = build()
        print(f"{name:52s} {1000 * (time.perf_counter() - b):8.1f} ms")
    lookup, numbers = once.values()
    weights = np.concatenate(list(preview.prunable_weights(model).values()))
    edges = preview.histogram_edges(weights)
    pruned = copy.deepcopy(model)
    lookup.apply(pruned, 0.6)
    state = clean_state_dict(pruned)
    layer = prunable_layers(model)[0][0]
    logits = predict_logits(model, x[:4])
    rows = {
        "prune_preview total (l1, global, 60 %, lookup)":
            lambda: preview.prune_preview(model, x, y, "l1", "global", 0.6, 0, edges, lookup=lookup),
        "  copy.deepcopy(model)": lambda: copy.deepcopy(model),
        "  lookup.apply (masks on a copy)": lambda: lookup.apply(copy.deepcopy(model), 0.6),
        "  evaluate on the test split": lambda: evaluate(pruned, x, y),
        "  count_params": lambda: count_params(pruned),
        "  serialized_size (torch.save fp32)": lambda: serialized_size(state),
        "  sparse_encode": lambda: len(sparse_encode(state)),
        "  histogram of kept weights": lambda: preview.histogram(weights, edges, skip_zeros=True),
        "progressive: PruneNumbers.numbers (no evaluation)": lambda: numbers.numbers(0.6, edges),
        "progressive: pruned_accuracy": lambda: preview.pruned_accuracy(model, x, y, 0.6, lookup),
        "quantize_preview total (4 bits, channel)": lambda: preview.quantize_preview(model, x, y, layer, 4, "channel"),
        "  serialized_size(model.state_dict())": lambda: serialized_size(model.state_dict()),
        "progressive: quantize_numbers (fp32 size given)":
            lambda: preview.quantize_numbers(model, layer, 4, "channel", 0, 1),
        "progressive: quantized_accuracy": lambda: preview.quantized_accuracy(model, x, y, 4, "channel"),
        "softened_outputs (4 rows, T=4: a forward each T)": lambda: preview.softened_outputs(model, x[:4], 4.0),
        "soften (cached logits, per T)": lambda: preview.soften(logits, 4.0),
    }
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()}, torch threads 1, "
          f"median of {args.repeats}")
    for name, fn in rows.items():
        print(f"{name:52s} {timed(fn, args.repeats):8.1f} ms", flush=True)
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
