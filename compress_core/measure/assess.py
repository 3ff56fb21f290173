"""Measure a model the same way everywhere: accuracy, loss, sizes, FLOPs, latency."""
from __future__ import annotations

from torch import nn

from compress_core.context import RunContext
from compress_core.data.datasets import Dataset
from compress_core.measure.flops import nonzero_flops
from compress_core.measure.metrics import compare_to_baseline, layer_rows, model_measures, paired_latencies
from compress_core.training.loop import evaluate


def assess(model: nn.Module, data: Dataset, ctx: RunContext, *, latency: bool = True) -> dict:
    """Accuracy and loss on the test split plus every size/FLOPs (and latency) measure."""
    accuracy, loss = evaluate(model, data.x_test, data.y_test, ctx.device)
    measures = model_measures(model, data.input_shape, latency_repeats=ctx.latency_repeats, latency=latency)
    # Non-zero FLOPs (multiply-adds of non-zero weights, counted by hand in measure/flops.py) beside torch's dense count.
    measures["flops_nonzero"] = nonzero_flops(model, data.input_shape, measures["flops_dense"])
    return {"accuracy": accuracy, "loss": loss, "test_examples": len(data.y_test), **measures}


def assess_against(model: nn.Module, base_model: nn.Module, data: Dataset, ctx: RunContext, *,
                   latency: bool = True) -> tuple[dict, dict, list]:
    """(metrics of `model` with comparisons, metrics of the baseline, per-layer rows of `model`).

    Both models are timed in the same process with their calls alternating, so latency
    ratios compare like with like. `latency=False` skips timing for callers that time a
    different model (e.g. the int8 version of `model`) against the baseline themselves.
    """
    base = assess(base_model, data, ctx, latency=False)
    base.update(theoretical_speedup=1.0, speedup_b1=1.0, speedup_b64=1.0, size_ratio_fp32=1.0)
    metrics = assess(model, data, ctx, latency=False)
    if latency:
        base_timing, timing = paired_latencies(base_model, model, data.input_shape, ctx.latency_repeats)
        base.update(base_timing)
        metrics.update(timing)
    metrics.update(compare_to_baseline(metrics, base))
    metrics["baseline_accuracy"] = base["accuracy"]
    metrics["baseline_loss"] = base["loss"]
    metrics["accuracy_change"] = metrics["accuracy"] - base["accuracy"]
    return metrics, base, layer_rows(model)
