"""The optional hidden-state term of transformer distillation (`hidden_weight`, `--hidden-weight W`).

    loss = Hinton's loss (methods/distill.py) + W * (1/K) sum_i MSE(P h_s,i , h_t,m(i))

h_s,i is the output of student layer i, h_t,m(i) that of the teacher layer it was initialised from
(or, for a narrow student, matched to: `models.text_students.teacher_layer_map`), both over the
real (non-padding) tokens only. P is identity when the widths agree, else a learned linear map
from the student's width to the teacher's (TinyBERT's W_h, Jiao et al. 2020), trained with the
student and dropped afterwards: it belongs to the loss, not to the model that is measured, saved
or exported. The teacher's hidden states are computed per batch (no gradient); storing them for
every training row would cost rows x layers x length x width floats.
"""
from __future__ import annotations

import torch
from torch import nn

from compress_core.models.text import TextClassifier


def encode(classifier: TextClassifier, ids: torch.Tensor) -> tuple[torch.Tensor, tuple, torch.Tensor]:
    """(logits, per-layer hidden states without the embedding output, token mask) of a text model,
    trimmed to the longest real text exactly as `TextClassifier.forward` does."""
    mask = ids != classifier.pad_id
    length = max(int(mask.sum(1).max()) if ids.numel() else 1, 1)
    out = classifier.hf(input_ids=ids[:, :length], attention_mask=mask[:, :length].long(), output_hidden_states=True)
    return out.logits, tuple(out.hidden_states[1:]), mask[:, :length]


def masked_mse(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared difference over the real tokens' features."""
    m = mask.unsqueeze(-1).to(a.dtype)
    return ((a - b).pow(2) * m).sum() / (m.sum() * a.shape[-1]).clamp(min=1)


class HiddenDistiller(nn.Module):
    """The student plus the projection of the hidden-state loss, trained together; calls are the student's."""

    def __init__(self, student: TextClassifier, teacher_width: int):
        super().__init__()
        self.student = student
        width = int(student.hf.config.hidden_size)
        self.proj = nn.Identity() if width == int(teacher_width) else nn.Linear(width, int(teacher_width), bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.student(ids)


def hidden_loss_fn(teacher: TextClassifier, teacher_logits: torch.Tensor, layer_map: list[int], weight: float,
                   soft_loss):
    """A `fit` loss for a `HiddenDistiller`: `soft_loss(student_logits, teacher_logits, labels)` (Hinton's)
    plus `weight` x the mean hidden-state MSE over the student's layers."""
    def loss_fn(model: HiddenDistiller, xb: torch.Tensor, yb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        logits, s_hidden, mask = encode(model.student, xb)
        with torch.no_grad():
            _, t_hidden, _ = encode(teacher, xb)
        mse = sum(masked_mse(model.proj(h), t_hidden[j], mask) for h, j in zip(s_hidden, layer_map)) / len(layer_map)
        return soft_loss(logits, teacher_logits[idx], yb) + weight * mse

    return loss_fn


def hidden_gap(student: TextClassifier, teacher: TextClassifier, proj: nn.Module, ids: torch.Tensor,
               layer_map: list[int], batch: int = 64) -> float:
    """The mean hidden-state MSE of a trained student on `ids` (reported as `hidden_mse`)."""
    total, count = 0.0, 0
    student.eval()
    ids = ids.to(next(student.parameters()).device)
    with torch.no_grad():
        for start in range(0, len(ids), batch):
            xb = ids[start:start + batch]
            _, s_hidden, mask = encode(student, xb)
            _, t_hidden, _ = encode(teacher, xb)
            total += float(sum(masked_mse(proj(h), t_hidden[j], mask) for h, j in zip(s_hidden, layer_map))
                           / len(layer_map)) * len(xb)
            count += len(xb)
    return total / max(count, 1)
