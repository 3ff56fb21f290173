"""The field names of each built-in run kind's spec, without torch.

`report.full_spec` fills in the defaults of a stored spec by rebuilding it from its spec class
(`registry.spec_from_dict(spec).to_dict()`), and finding the spec classes imports every method
module and so torch (about 1 s on a cold server). A spec stored by this version already has every
field (the store keeps `spec.to_dict()`), and rebuilding it gives it back unchanged, so a page that
only shows stored runs (Report, Compare) needs nothing more than the field names to know that.

`tests/test_spec_fields.py` checks these names against the spec classes for every built-in kind
(adding a field without its name here fails a test, not a page) and that rebuilding a stored spec
gives it back. A kind not listed here (a plugin, a test's "echo") takes the registry's path.
"""
from __future__ import annotations

from typing import Mapping

# `specs.BaseSpec`'s fields, which every spec has, in declaration order.
BASE = ("model", "dataset", "hidden", "seed", "label_column", "lr", "batch_size", "weights", "normalize", "resize",
        "text_column", "max_length", "precision", "device")

# Each kind's own fields after the base ones, in declaration order (its spec class's `dataclasses.fields`).
OWN = {
    "train": ("epochs",),
    "prune": ("method", "scope", "amount", "schedule", "steps", "finetune_epochs", "finetune_lr", "baseline_epochs",
              "importance", "layer_amounts", "layers", "pattern", "include_embeddings", "include_head"),
    "distill": ("teacher", "teacher_hidden", "teacher_epochs", "temperature", "alpha", "epochs", "train_fraction",
                "transfer", "scratch", "student_layers", "student_hidden_size", "student_intermediate_size",
                "student_heads", "hidden_weight"),
    "quantize": ("scheme", "bits", "granularity", "baseline_epochs"),
    "pipeline": ("steps", "baseline_epochs"),
    "deep-compression": ("amount", "method", "scope", "layer_amounts", "finetune_epochs", "finetune_lr", "conv_bits",
                         "fc_bits", "centroid_epochs", "centroid_lr", "conv_index_bits", "fc_index_bits",
                         "baseline_epochs"),
    "lottery": ("rounds", "rate", "rewind_iteration", "scope", "epochs", "controls"),
    "plan": ("target_size", "target_flops", "target_latency_ms", "batch", "allow", "amounts", "bit_widths", "criterion",
             "finetune_epochs", "finetune_lr", "baseline_epochs", "correct"),
}


def field_names(kind: str) -> tuple[str, ...] | None:
    """Every field of a built-in kind's spec (as `to_dict` lists them, without "kind"); None if not built in."""
    own = OWN.get(kind)
    return None if own is None else BASE + own


def is_complete(spec: Mapping) -> bool:
    """True when `spec` names a built-in kind and has exactly that kind's fields (plus "kind"), as a spec
    stored by this version has; defaults then have nothing to fill in."""
    names = field_names(spec.get("kind")) if isinstance(spec.get("kind"), str) else None
    return names is not None and set(spec) == {"kind", *names}
