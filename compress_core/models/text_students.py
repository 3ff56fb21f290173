"""Students for a transformer teacher: fewer layers and/or narrower layers.

Two kinds, chosen by the distillation spec:

- **Layer dropping** (`student_layers` alone): `models.text.keep_layers`, every k-th teacher
  layer copied with its weights (DistilBERT style).
- **Narrower** (`student_hidden_size`, `student_intermediate_size`, `student_heads`, optionally
  with `student_layers`): the teacher's own config (architecture, vocabulary, position
  embeddings, pad id, class count) with the new widths, built by the same model class and
  **randomly initialised** under the run's seed. Not initialised by slicing the teacher: a
  narrower hidden size changes every residual connection and LayerNorm, so sliced teacher
  weights would not compute a meaningful function anyway (TinyBERT, Jiao et al. 2020, also
  starts its narrow student from scratch and leans on the hidden-state loss). The scratch
  control starts from the same random weights, so the gain of distillation is measured.

`teacher_layer_map(n_teacher, n_student)` names, for each student layer, the teacher layer it
was initialised from (layer dropping) or is matched to (narrow students): evenly spaced, the
last always kept. The hidden-state loss (`methods/distill_hidden.py`) pairs layers by it.
"""
from __future__ import annotations

import copy
from typing import Optional

from torch import nn

from compress_core.errors import CompressError
from compress_core.models.text import TextClassifier, keep_layers, layer_indices

NARROW_FIELDS = ("student_hidden_size", "student_intermediate_size", "student_heads")


def is_narrow(spec) -> bool:
    """Whether a distillation spec asks for a narrower transformer student."""
    return any(getattr(spec, f, None) is not None for f in NARROW_FIELDS)


def check_widths(hidden_size: int, heads: int) -> None:
    """One line when the hidden size does not split into the heads (BERT needs equal head sizes)."""
    if hidden_size % heads:
        raise CompressError(f"student hidden size {hidden_size} is not a multiple of its {heads} attention heads; "
                            f"choose a hidden size divisible by the head count (e.g. {heads * max(1, hidden_size // heads)})")


def teacher_layer_map(n_teacher: int, n_student: int) -> list[int]:
    """For each student layer i, the teacher layer it comes from / is matched to."""
    if not 1 <= n_student <= n_teacher:
        raise CompressError(f"student_layers must be in [1, {n_teacher}] for a teacher with {n_teacher} layers; "
                            f"got {n_student}")
    return layer_indices(n_teacher, n_student)


def narrow_student(teacher: TextClassifier, *, layers: Optional[int] = None, hidden_size: Optional[int] = None,
                   intermediate_size: Optional[int] = None, heads: Optional[int] = None) -> TextClassifier:
    """A randomly initialised student of the teacher's architecture with the given widths (None: the
    teacher's). Seed the global generator around the call for a reproducible student."""
    config = copy.deepcopy(teacher.hf.config)
    n = int(config.num_hidden_layers)
    layers = n if layers is None else int(layers)
    teacher_layer_map(n, layers)  # range check, one line
    hidden_size = int(config.hidden_size if hidden_size is None else hidden_size)
    heads = int(config.num_attention_heads if heads is None else heads)
    if hidden_size < 1 or heads < 1:
        raise CompressError(f"student hidden size and heads must be >= 1; got {hidden_size} and {heads}")
    check_widths(hidden_size, heads)
    config.hidden_size, config.num_attention_heads, config.num_hidden_layers = hidden_size, heads, layers
    if intermediate_size is not None:
        config.intermediate_size = int(intermediate_size)
    if getattr(config, "embedding_size", None) is not None:  # ELECTRA: embeddings projected to hidden
        config.embedding_size = hidden_size
    hf = type(teacher.hf)(config)
    return TextClassifier(hf, pad_id=teacher.pad_id)


def build_text_student(spec, teacher: TextClassifier) -> nn.Module:
    """The untrained student a distillation spec describes (narrow, layer-dropping, or both)."""
    if is_narrow(spec):
        return narrow_student(teacher, layers=spec.student_layers, hidden_size=spec.student_hidden_size,
                              intermediate_size=spec.student_intermediate_size, heads=spec.student_heads)
    return keep_layers(teacher, spec.student_layers)


def rebuild_student(spec, model: nn.Module) -> nn.Module:
    """For loading a finished distillation run: its narrow student's architecture around the freshly
    built teacher `model` (weights load afterwards); anything else unchanged."""
    if getattr(spec, "KIND", "") == "distill" and is_narrow(spec) and isinstance(model, TextClassifier):
        return build_text_student(spec, model)
    return model
