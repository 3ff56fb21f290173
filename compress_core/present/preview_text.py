"""Instant previews for transformer models (tinybert, hf:DIR) on the method pages.

Cheap what-ifs on the cached baseline, no training, each reusing the engine's own edit so a
preview shows what a run does before fine-tuning:

- `head_plan`: which attention heads (and how many FFN channels) a structured run would remove,
  with every head's importance, and the accuracy right after the removal (Prune page).
- `int8_layer_sizes`: bytes of each Linear layer in fp32 and with int8 weights (Quantize page):
  counted, not serialized.
- `student_plan`: the transformer student a distillation spec would build: its layers, the
  teacher layer each comes from / is matched to, parameters beside the teacher's (Distill page).
"""
from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import nn

from compress_core.measure.metrics import clean_state_dict, count_params, serialized_size
from compress_core.models.text import _parts, head_scores, keep_layers, prune_structure, structure
from compress_core.models.text_students import narrow_student, teacher_layer_map
from compress_core.training.loop import evaluate, seeded


def head_plan(model: nn.Module, x_test: torch.Tensor, y_test: torch.Tensor, amount: float,
              importance: str = "l1") -> dict:
    """What `prune --method structured --amount A` removes from a text model, before fine-tuning.

    Returns `scores` (layers x heads, the Lp norm of each head's Q/K/V rows and output columns),
    `removed` (per layer, the head indices that go), `rows` (prune_structure's per-layer table),
    accuracy and loss after removal, parameters and fp32 size before and after.
    """
    p = {"l1": 1, "l2": 2}[importance]
    scores = [head_scores(layer, p).tolist() for layer in model.encoder_layers()]
    pruned = copy.deepcopy(model)
    rows = prune_structure(pruned, amount, importance)
    accuracy, loss = evaluate(pruned, x_test, y_test)
    before, _ = count_params(model)
    after, _ = count_params(pruned)
    return {"scores": scores, "removed": [row["heads_removed"] for row in rows], "rows": rows,
            "accuracy": accuracy, "loss": loss, "params_before": before, "params_total": after,
            "size_fp32_bytes": serialized_size(clean_state_dict(pruned)),
            "size_fp32_before": serialized_size(clean_state_dict(model))}


def int8_layer_sizes(model: nn.Module, granularity: str = "tensor") -> list[dict]:
    """One row per Linear layer: weights, fp32 bytes, and bytes with int8 weights (1 byte each, plus a
    4-byte scale per tensor or per output channel; the bias stays fp32). Counted, not serialized:
    the int8 run measures the real file. Embeddings and LayerNorms are not Linear and stay fp32."""
    rows = []
    for name, m in model.named_modules():
        if not isinstance(m, nn.Linear):
            continue
        w, bias = m.weight.numel(), (m.bias.numel() if m.bias is not None else 0)
        scales = m.out_features if granularity == "channel" else 1
        rows.append({"name": name, "params": w + bias, "fp32_bytes": 4 * (w + bias),
                     "int8_bytes": w + 4 * scales + 4 * bias})
    return rows


def fp32_rest_bytes(model: nn.Module) -> int:
    """fp32 bytes of every parameter outside the Linear layers (embeddings, LayerNorms): what int8 of
    Linear layers leaves as it is."""
    linear = {id(p) for m in model.modules() if isinstance(m, nn.Linear) for p in m.parameters(recurse=False)}
    return sum(4 * p.numel() for p in model.parameters() if id(p) not in linear)


def student_plan(teacher: nn.Module, *, layers: Optional[int] = None, hidden_size: Optional[int] = None,
                 intermediate_size: Optional[int] = None, heads: Optional[int] = None, seed: int = 0) -> dict:
    """The distillation student of a transformer teacher (built exactly as the run builds it): its
    structure, the teacher layer each student layer comes from, parameters of both."""
    narrow = any(v is not None for v in (hidden_size, intermediate_size, heads))
    with seeded(seed):
        student = (narrow_student(teacher, layers=layers, hidden_size=hidden_size,
                                  intermediate_size=intermediate_size, heads=heads) if narrow
                   else keep_layers(teacher, layers if layers is not None else len(teacher.encoder_layers())))
    t, s = structure(teacher), structure(student)
    cfg, tcfg = student.hf.config, teacher.hf.config
    return {"teacher_layers": t["encoder_layers"], "student_layers": s["encoder_layers"],
            "layer_map": teacher_layer_map(t["encoder_layers"], s["encoder_layers"]),
            "params_teacher": count_params(teacher)[0], "params_student": count_params(student)[0],
            "init": "random (narrower)" if narrow else "copied teacher layers",
            "widths": {"hidden": (int(cfg.hidden_size), int(tcfg.hidden_size)),
                       "ffn": (int(cfg.intermediate_size), int(tcfg.intermediate_size)),
                       "heads": (int(cfg.num_attention_heads), int(tcfg.num_attention_heads))}}


def scoped(model: nn.Module, embeddings: bool = False, head: bool = False) -> nn.Module:
    """A shallow copy of a text model (same weights) whose prunable layers also hold its embeddings and/or
    head, as a prune run with `include_embeddings` / `include_head` sees it."""
    extra = tuple(part for part, on in (("embeddings", embeddings), ("head", head)) if on)
    if not extra:
        return model
    view = copy.copy(model)
    view.prune_extra = extra
    return view


def teacher_shape(name: str) -> dict:
    """Layers, hidden size, heads and FFN width of a transformer model name, read without loading weights
    (tinybert's built-in config, an hf:DIR folder's config.json): the Distill page's widget ranges."""
    from compress_core.models.hf import _read_config, check_folder, is_hf
    from compress_core.models.text import TINY

    config = _read_config(check_folder(name)) if is_hf(name) else TINY
    return {"layers": int(config.get("num_hidden_layers", 1)), "hidden": int(config.get("hidden_size", 64)),
            "heads": int(config.get("num_attention_heads", 1)), "ffn": int(config.get("intermediate_size", 128))}


def head_count(model: nn.Module) -> int:
    """Attention heads of the first encoder layer (the default of a narrower student's head count)."""
    return int(_parts(model.encoder_layers()[0])[0].num_attention_heads)
