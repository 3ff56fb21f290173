"""Trained baselines, cached by everything that decides their weights.

Every compression run starts from a baseline; training it once and reusing it makes
runs fast and makes comparisons fair (all methods start from the same weights).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from compress_core.context import RunContext
from compress_core.data.datasets import Dataset, dataset_fingerprint, default_epochs, load_dataset
from compress_core.models.fit import describe, model_and_data
from compress_core.models.zoo import MODELS, build_model
from compress_core.runs.artifacts import load_state, save_torch, write_text
from compress_core.specs import TrainSpec
from compress_core.training.loop import FitConfig, evaluate, fit, seeded

CACHE_VERSION = 1


@dataclass
class Baseline:
    model: nn.Module
    data: Dataset
    spec: TrainSpec  # with epochs resolved
    info: dict  # accuracy, loss, history, duration_s, key
    cached: bool


SMALL_DATA_ROWS = 5000



def _read_cached(weights: Path, info_path: Path) -> tuple[dict, dict] | None:
    """(state dict, info) of a cached baseline, or None when it is missing or corrupted (then it is retrained)."""
    from compress_core.errors import CompressError

    if not (weights.exists() and info_path.exists()):
        return None
    try:
        return load_state(weights, "the cached baseline weights"), json.loads(info_path.read_text())
    except (CompressError, ValueError, OSError):
        return None

def default_batch_size(data: Dataset) -> int:
    """Small data sets get smaller batches: more optimiser steps per epoch."""
    return 32 if len(data.x_train) < SMALL_DATA_ROWS else 128


def default_finetune_lr(data: Dataset) -> float:
    """Peak fine-tuning learning rate (cosine-decayed to zero over the fine-tuning).

    Short fine-tuning on a small data set needs large steps: measured on digits (LeNet-300-100,
    3 epochs, seeds 0-2), a 7e-3 cosine peak keeps 30-90%-sparse models within half a point of
    their baseline, where a constant 1e-3 lost up to 1.8 points at 90%.
    """
    return 7e-3 if len(data.x_train) < SMALL_DATA_ROWS else 2e-3


def finetune_config(epochs: int, lr: float | None, data: Dataset, batch_size: int, seed: int,
                    precision: str = "fp32") -> FitConfig:
    """How every compression method fine-tunes: Adam, cosine decay from `lr` (default above), in the
    training precision of the run (its baseline's)."""
    return FitConfig(epochs, lr if lr is not None else default_finetune_lr(data), batch_size, seed, cosine=True,
                     precision=precision)


def resolve(spec: TrainSpec, data: Dataset) -> TrainSpec:
    """Fill the defaults that depend on the data set (epochs, batch size)."""
    if spec.epochs is None:
        spec = spec.replace(epochs=default_epochs(spec.dataset))
    if spec.batch_size is None:
        spec = spec.replace(batch_size=default_batch_size(data))
    return spec


def cache_key(spec: TrainSpec, source: str | None = None, data: Dataset | None = None) -> str:
    """Hash of model, data identity, training settings and seed (of a resolved spec).

    `source` is the model source's content fingerprint (file hashes, timm version, an `hf:` folder's
    files); text data adds its text column and max length. Built-in models on image/table data
    without source options keep the keys they always had, so older cached baselines stay valid.
    """
    parts = {"v": CACHE_VERSION, "model": spec.model, "hidden": spec.hidden,
             "data": dataset_fingerprint(spec.dataset, spec.label_column), "epochs": spec.epochs,
             "lr": spec.lr, "batch_size": spec.batch_size, "seed": spec.seed}
    extra = {"source": source, "weights": spec.weights, "normalize": spec.normalize, "resize": spec.resize}
    if spec.model not in MODELS or any(v is not None for v in list(extra.values())[1:]):
        parts.update(extra)
    if getattr(spec, "precision", "fp32") != "fp32":  # fp32 baselines keep the keys they always had
        parts["precision"] = spec.precision
    if data is not None and getattr(data, "is_text", False):
        parts["text"] = [getattr(spec, "text_column", "text"), getattr(spec, "max_length", None)]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def new_model(spec: TrainSpec, data: Dataset) -> nn.Module:
    """The untrained model, initialised from the spec's seed."""
    with seeded(spec.seed):
        return build_model(spec.model, data.input_shape, data.num_classes, spec.hidden)


def load_baseline_data(spec: TrainSpec, ctx: RunContext) -> Dataset:
    """The spec's data set, encoded for its model (text: the model's tokenizer); notes go to `ctx.notes`."""
    from compress_core.models.text_data import match_data

    data = load_dataset(spec.dataset, ctx.data_dir, spec.label_column, text_column=spec.text_column,
                        max_length=spec.max_length)
    data = match_data(spec.model, data, spec.max_length)
    for note in data.notes:
        if note not in ctx.notes:
            ctx.notes.append(note)
    return data


@contextmanager
def _locked(path: Path):
    """One process trains a given baseline; others wait for it and then load it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def get_baseline(spec: TrainSpec, ctx: RunContext, *, force: bool = False) -> Baseline:
    """Load the cached baseline for `spec`, training (and caching) it first if absent."""
    raw = load_baseline_data(spec, ctx)  # text: encoded with the model's tokenizer
    spec = resolve(spec, raw)
    # The model and the data as it expects them, checked against each other before any work.
    with seeded(spec.seed):
        source, data = model_and_data(spec, raw)
    folder = ctx.home / "baselines" / cache_key(spec, source.fingerprint, data)
    weights, info_path = folder / "weights.pt", folder / "info.json"
    with _locked(ctx.home / "baselines" / f"{folder.name}.lock"):
        model = source.module
        cached = _read_cached(weights, info_path) if not force else None
        if cached is not None:  # a missing or corrupted cache is trained again below
            model.load_state_dict(cached[0])
            model.to(ctx.device)
            return Baseline(model, data, spec, cached[1], cached=True)
        began = time.perf_counter()
        if source.comes_trained:  # the baseline as given: evaluated, never retrained
            model.to(ctx.device)
            history = []
        else:
            history = fit(model, data, FitConfig(spec.epochs, spec.lr, spec.batch_size, spec.seed,
                                                    precision=spec.precision),
                          on_progress=ctx.on_progress, stage="baseline", device=ctx.device)
        accuracy, loss = evaluate(model, data.x_test, data.y_test, ctx.device)
        info = {"key": folder.name, "spec": spec.to_dict(), "accuracy": accuracy, "loss": loss,
                "history": history, "train_seconds": time.perf_counter() - began, "source": describe(source),
                "as_given": source.comes_trained}
        folder.mkdir(parents=True, exist_ok=True)
        save_torch({k: v.cpu() for k, v in model.state_dict().items()}, weights)
        write_text(info_path, json.dumps(info))
        return Baseline(model, data, spec, info, cached=False)
