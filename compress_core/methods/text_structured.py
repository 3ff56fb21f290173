"""Structured pruning of transformer encoders: attention heads and FFN channels removed physically.

Reached through the `prune` run kind with `method="structured"` when the model is a text
transformer (tinybert, hf:DIR); `amount` is the share of heads *and* of feed-forward
channels removed from every layer, lowest L1 (or L2) norm first (`models/text.py`). The
tensors shrink, so the dense kernels do less work: the latency is measured against the
baseline in alternating calls, at the data set's sequence length.

This module registers no run kind of its own.
"""
from __future__ import annotations

import copy

from compress_core.models.text import prune_structure, structure

NOTE = ("physical removal of attention heads and feed-forward channels: smaller dense tensors, "
        "real speed-up possible (measured below at the stated seq_len)")


def run_text_structured(spec, ctx):
    """Remove heads and FFN channels from the cached baseline per `spec` (a PruneSpec), fine-tune, measure."""
    from compress_core.measure.assess import assess_against
    from compress_core.measure.metrics import count_params
    from compress_core.progress import emit
    from compress_core.results import RunResult
    from compress_core.training.baseline import finetune_config, get_baseline
    from compress_core.training.loop import evaluate, fit

    base = get_baseline(spec.baseline_spec(), ctx)
    data = base.data
    model = copy.deepcopy(base.model)
    params_before, _ = count_params(model)
    emit(ctx.on_progress, "prune", 0, 1,
         f"removing {spec.amount:.0%} of the attention heads and FFN channels of every layer ({spec.importance})")
    rows = prune_structure(model, spec.amount, spec.importance)
    accuracy_before_finetune, _ = evaluate(model, data.x_test, data.y_test, ctx.device)
    config = finetune_config(spec.finetune_epochs, spec.finetune_lr, data, base.spec.batch_size, spec.seed,
                             base.spec.precision)
    history = fit(model, data, config, on_progress=ctx.on_progress, stage="finetune", device=ctx.device) \
        if spec.finetune_epochs else []
    emit(ctx.on_progress, "measure", 0, 1, "measuring accuracy, size, FLOPs and latency")
    metrics, base_metrics, layers = assess_against(model, base.model, data, ctx)
    shape = structure(model)
    metrics.update(channel_ratio=spec.amount, param_ratio=metrics["params_total"] / params_before,
                   accuracy_before_finetune=accuracy_before_finetune,
                   heads_kept=sum(shape["heads"]), heads_before=sum(r["heads_before"] for r in rows),
                   ffn_channels_kept=sum(shape["ffn_channels"]), ffn_channels_before=sum(r["ffn_before"] for r in rows))
    heads = "; ".join(f"layer {r['layer']}: heads {r['heads_removed']} removed" for r in rows)
    return RunResult(id="", kind="prune", status="finished", spec=spec.to_dict(), metrics=metrics, layers=layers,
                     history=base.info["history"] + history, baseline=base_metrics,
                     artifacts=ctx.save_weights(model), notes=[NOTE, heads])
