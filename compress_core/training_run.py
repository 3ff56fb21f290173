"""The `train` run kind: train (or fetch) a baseline and measure it."""
from __future__ import annotations

import torch

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
    artifacts = {}
    if ctx.artifacts_dir is not None:
        ctx.artifacts_dir.mkdir(parents=True, exist_ok=True)
        path = ctx.artifacts_dir / "model.pt"
        torch.save({k: v.cpu() for k, v in base.model.state_dict().items()}, path)
        artifacts["weights"] = str(path)
    notes = ["loaded from the baseline cache (trained earlier with the same settings)"] if base.cached else []
    return RunResult(id="", kind="train", status="finished", spec=base.spec.to_dict(), metrics=metrics,
                     layers=layer_rows(base.model), history=base.info["history"], artifacts=artifacts, notes=notes)
