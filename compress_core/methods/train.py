"""The `train` run kind: train (or fetch) a baseline and measure it."""
from __future__ import annotations

from compress_core.context import RunContext
from compress_core.measure.assess import assess
from compress_core.measure.metrics import layer_rows
from compress_core.methods.labels import describe_train
from compress_core.methods.registry import Method, register_method
from compress_core.options import add_common, base_fields, integer
from compress_core.results import RunResult
from compress_core.specs import TrainSpec
from compress_core.training.baseline import get_baseline


def run_train(spec: TrainSpec, ctx: RunContext) -> RunResult:
    base = get_baseline(spec, ctx)
    metrics = assess(base.model, base.data, ctx)
    metrics["cached"] = base.cached
    metrics["baseline_accuracy"] = metrics["accuracy"]
    artifacts = ctx.save_weights(base.model)
    notes = ["loaded from the baseline cache (trained earlier with the same settings)"] if base.cached else []
    return RunResult(id="", kind="train", status="finished", spec=base.spec.to_dict(), metrics=metrics,
                     layers=layer_rows(base.model), history=base.info["history"], artifacts=artifacts, notes=notes)


# --- registration -------------------------------------------------------------------------

def _train_args(p) -> None:
    add_common(p)
    p.add_argument("--epochs", type=integer, help="training epochs (default: the data set's default)")


def _train_spec(args) -> TrainSpec:
    return TrainSpec(**base_fields(args), epochs=args.epochs)


_describe = describe_train  # torch-free, in methods/labels.py: run lists label runs without importing this module


register_method(Method(
    kind="train", spec=TrainSpec, run=run_train, label="baseline (dense)", colour="#6c757d",
    help="train (or fetch from the cache) a baseline model and measure it",
    add_arguments=_train_args, spec_from_args=_train_spec, report_settings=("epochs",), describe=_describe, order=0))
