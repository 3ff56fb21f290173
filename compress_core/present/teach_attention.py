"""The Learn page's lesson on compressing attention, computed on the built-in tinybert.

Pure functions (no Streamlit): the page caches their results and draws the figures. Each one
edits a copy of the trained model with the engine's own code and measures test accuracy, with
no fine-tuning, so the numbers show what the edit itself costs (a run then fine-tunes or distils):

- `head_ablation`: every attention head removed alone (`models.text.remove_heads`): how much
  accuracy each one carries, beside its weight norm (the importance a structured run uses).
- `heads_curve`: the k weakest heads of every layer removed together, k = 0 .. heads-1.
- `layer_drop`: k of the n encoder layers kept (`keep_layers`, the distillation student's start).
- `int8_linear`: every Linear weight rounded to int8 (one scale per tensor, as dynamic int8 stores
  it; compute stays fp32 here), with each layer's error and bytes.
Small by design (tinybert: 2 layers x 4 heads, 240 test texts): the whole lesson is a few dozen
forward passes over the test set.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from compress_core.measure.metrics import count_params
from compress_core.methods.quantize import fake_quantize, quantization_error
from compress_core.models.text import head_scores, keep_layers, remove_heads
from compress_core.present.preview_text import fp32_rest_bytes, int8_layer_sizes
from compress_core.specs import TrainSpec
from compress_core.training.loop import evaluate

ATTENTION_SPEC = TrainSpec(model="tinybert", dataset="text-demo")  # the data set's default epochs (4)


def head_ablation(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Accuracy with each head removed alone (layers x heads), the drop from the full model, and
    each head's L1 norm (what structured pruning ranks by)."""
    base, _ = evaluate(model, x, y)
    layers = model.encoder_layers()
    accuracy, norms = [], []
    for i, layer in enumerate(layers):
        norms.append(head_scores(layer, 1).tolist())
        row = []
        for h in range(len(norms[-1])):
            edited = copy.deepcopy(model)
            remove_heads(edited.encoder_layers()[i], [h])
            row.append(evaluate(edited, x, y)[0])
        accuracy.append(row)
    return {"accuracy": base, "ablated": accuracy, "drop": [[base - a for a in row] for row in accuracy],
            "norms": norms}


def heads_curve(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[dict]:
    """Accuracy and parameters with the k lowest-norm heads of every layer removed, k = 0 .. heads - 1."""
    heads = len(head_scores(model.encoder_layers()[0], 1))
    rows = []
    for k in range(heads):
        edited = copy.deepcopy(model)
        for layer in edited.encoder_layers():
            if k:
                remove_heads(layer, torch.argsort(head_scores(layer, 1))[:k].tolist())
        rows.append({"heads_removed": k, "heads_kept": heads - k, "accuracy": evaluate(edited, x, y)[0],
                     "params": count_params(edited)[0]})
    return rows


def layer_drop(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[dict]:
    """Accuracy and parameters of the model cut to k of its n layers (every (n/k)-th kept), no training."""
    n = len(model.encoder_layers())
    return [{"layers": k, "accuracy": evaluate(keep_layers(model, k), x, y)[0],
             "params": count_params(keep_layers(model, k))[0]} for k in range(1, n + 1)]


def int8_linear(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Every Linear weight on the int8 grid (per tensor): accuracy, per-layer SQNR and bytes (counted)."""
    edited = copy.deepcopy(model)
    errors = {}
    with torch.no_grad():
        for name, m in edited.named_modules():
            if isinstance(m, nn.Linear):
                errors[name] = quantization_error(m.weight, 8, "tensor")["sqnr_db"]
                m.weight.copy_(fake_quantize(m.weight, 8, "tensor"))
    rows = int8_layer_sizes(model, "tensor")
    for row in rows:
        row["sqnr_db"] = errors[row["name"]]
    return {"accuracy_fp32": evaluate(model, x, y)[0], "accuracy_int8": evaluate(edited, x, y)[0], "rows": rows,
            "rest_bytes": fp32_rest_bytes(model)}
