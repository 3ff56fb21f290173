"""Controls the lessons need to be right: measured, not asserted.

"Soft targets need no labels" compares a student distilled on every input with one trained on
the labelled share alone. But when the teacher was trained on *all* labels, part of the gain is
those other labels reaching the student through the teacher. The control here trains a second
teacher on the same labelled share only, and distils the same student from it: the gap between
the two distilled students is the part of the gain that came from the teacher's extra labels;
what remains over the scratch student is what unlabelled inputs and soft targets add by
themselves.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch

from compress_core.data.datasets import Dataset, default_epochs
from compress_core.methods.distill import (AUTO_PASSES, UNLABELED, distillation_loss, labeled_indices,
                                           matched_epochs)
from compress_core.models.zoo import build_model
from compress_core.training.loop import FitConfig, evaluate, fit, predict_logits, seeded

SETTINGS = ("scratch", "distilled, teacher on all labels", "distilled, teacher on the same labels")


def _distil(student: torch.nn.Module, data: Dataset, teacher: torch.nn.Module, labeled: torch.Tensor,
            config: FitConfig, temperature: float, alpha: float) -> float:
    """Distil `student` in place on every training input (labels only where known); its test accuracy."""
    teacher.eval()
    logits = predict_logits(teacher, data.x_train)
    y = torch.full_like(data.y_train, UNLABELED)
    y[labeled] = data.y_train[labeled]

    def loss_fn(model, xb, yb, idx):
        return distillation_loss(model(xb), logits[idx], yb, temperature, alpha)

    fit(student, data, config, loss_fn=loss_fn, y_train=y, device=torch.device("cpu"))
    return evaluate(student, data.x_test, data.y_test, torch.device("cpu"))[0]


def label_share_control(teacher_all: torch.nn.Module, data: Dataset, *, fraction: float = 0.1, seed: int = 0,
                        teacher_model: str = "lenet300", dataset: str = "digits", student_width: int = 16,
                        temperature: float = 4.0, alpha: float = 0.9, batch_size: int = 32) -> dict:
    """Test accuracies of the three students and the two teachers, with `fraction` of the labels known.

    The students start from the same weights and get the optimiser steps the `distill` run gives
    them (its auto budget; the scratch student as many steps, on the labelled rows). The second
    teacher is `teacher_model` trained from scratch on the labelled rows with the data set's
    default epochs expressed as the same number of steps as the full teacher's training.
    """
    labeled = labeled_indices(data.y_train, fraction, seed)
    n, n_lab = len(data.x_train), len(labeled)
    epochs = matched_epochs(AUTO_PASSES * default_epochs(dataset), n, n, batch_size)
    config = FitConfig(epochs, 1e-3, batch_size, seed)
    with seeded(seed):
        initial = build_model("mlp", data.input_shape, data.num_classes, (student_width,))
        teacher_same = build_model(teacher_model, data.input_shape, data.num_classes, None)
    fit(teacher_same, data, FitConfig(matched_epochs(default_epochs(dataset), n, n_lab, batch_size), 1e-3,
                                      batch_size, seed), x_train=data.x_train[labeled],
        y_train=data.y_train[labeled], device=torch.device("cpu"))
    scratch = copy.deepcopy(initial)
    fit(scratch, data, FitConfig(matched_epochs(epochs, n, n_lab, batch_size), 1e-3, batch_size, seed),
        x_train=data.x_train[labeled], y_train=data.y_train[labeled], device=torch.device("cpu"))
    cpu = torch.device("cpu")
    return {"fraction": fraction, "seed": seed, "labeled": n_lab,
            "teacher on all labels": evaluate(teacher_all, data.x_test, data.y_test, cpu)[0],
            "teacher on the same labels": evaluate(teacher_same, data.x_test, data.y_test, cpu)[0],
            SETTINGS[0]: evaluate(scratch, data.x_test, data.y_test, cpu)[0],
            SETTINGS[1]: _distil(copy.deepcopy(initial), data, teacher_all, labeled, config, temperature, alpha),
            SETTINGS[2]: _distil(copy.deepcopy(initial), data, teacher_same, labeled, config, temperature, alpha)}


def summarize(rows: Sequence[dict]) -> dict:
    """Mean of each accuracy over seeds (the figure the lesson shows)."""
    keys = [k for k in rows[0] if k not in ("fraction", "seed", "labeled")]
    return {k: sum(r[k] for r in rows) / len(rows) for k in keys} | {"seeds": len(rows), "labeled": rows[0]["labeled"]}
