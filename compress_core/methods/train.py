"""The `train` run kind: train (or fetch) a baseline and measure it."""
from __future__ import annotations

from compress_core.measure.assess import assess
from compress_core.training.baseline import get_baseline
from compress_core.context import RunContext
from compress_core.measure.metrics import layer_rows
from compress_core.results import RunResult
from compress_core.specs import TrainSpec


def run_train(spec: TrainSpec, ctx: RunContext) -> RunResult:
    base = get_baseline(spec, ctx)
    metrics = assess(base.model, base.data, ctx)
    metrics["cached"] = base.cached
    metrics["baseline_accuracy"] = metrics["accuracy"]
    artifacts = ctx.save_weights(base.model)
    notes = ["loaded from the baseline cache (trained earlier with the same settings)"] if base.cached else []
    return RunResult(id="", kind="train", status="finished", spec=base.spec.to_dict(), metrics=metrics,
                     layers=layer_rows(base.model), history=base.info["history"], artifacts=artifacts, notes=notes)
