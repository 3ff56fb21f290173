"""The `train` run kind: train (or fetch) a baseline and measure it."""
from __future__ import annotations

from .assess import assess
from .baseline import get_baseline
from .context import RunContext
from .metrics import layer_rows
from .results import RunResult
from .specs import TrainSpec


def run_train(spec: TrainSpec, ctx: RunContext) -> RunResult:
    base = get_baseline(spec, ctx)
    metrics = assess(base.model, base.data, ctx)
    metrics["cached"] = base.cached
    metrics["baseline_accuracy"] = metrics["accuracy"]
    artifacts = ctx.save_weights(base.model)
    notes = ["loaded from the baseline cache (trained earlier with the same settings)"] if base.cached else []
    return RunResult(id="", kind="train", status="finished", spec=base.spec.to_dict(), metrics=metrics,
                     layers=layer_rows(base.model), history=base.info["history"], artifacts=artifacts, notes=notes)
