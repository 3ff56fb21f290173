"""Model sources: every `--model` value resolves through `resolve_model` to one `ResolvedModel`.

A source is one module in this package that registers a `Source` (how to recognise a value, a
cheap syntax check, how to build the module). Adding a source is one file plus one line in
`_SOURCE_MODULES`. The resolver knows nothing about methods: methods get an `nn.Module` and the
facts the lab needs about it (its input shape when the file says, whether it comes trained, the
preprocessing it expects by default) and never a name.

Forms (matched in this order): `timm:NAME`, `path/to/model.onnx`, `path/to/model.pt2`, refused
serialized forms (TorchScript, pickles: each says why), `file.py:function` or
`package.module:function`, and the built-in names of `compress_core.models.zoo.MODELS`.
"""
from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

from torch import nn

from compress_core.errors import CompressError


@dataclass
class ResolvedModel:
    """A built model and what the lab must know about it before any work starts."""

    module: nn.Module
    input_shape: Optional[tuple[int, ...]]  # per sample, when the source fixes it (ONNX, .pt2); else None
    comes_trained: bool  # True: the baseline as given (evaluated, not retrained)
    normalize: str  # default preprocessing: "auto" (training-split statistics) or "none" ([0, 1] pixels)
    description: str
    kind: str  # the source's name: builtin, factory, onnx, pt2, timm
    fingerprint: str  # content identity for caches (file hashes, names, versions)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    """What the data set asks of a model: per-sample input shape and class count."""

    input_shape: tuple[int, ...]
    num_classes: int
    hidden: Optional[tuple[int, ...]] = None


@dataclass(frozen=True)
class Source:
    kind: str
    form: str  # how it is written, for the error that lists the allowed forms
    matches: Callable[[str], bool]
    check: Callable[[str], None]  # syntax only: no file is read, no code imported
    build: Callable[[str, Target], ResolvedModel]
    browser: bool  # may the browser offer it (uploads, zoo names); factories only from <home>/models


SOURCES: list[Source] = []
_SOURCE_MODULES = ("hf_folder", "timm_zoo", "onnx_file", "pt2_file", "teacher_pruned", "refused", "factory", "builtin")
_loaded = False


def register_source(source: Source) -> Source:
    if any(s.kind == source.kind for s in SOURCES):
        raise ValueError(f"model source {source.kind!r} is registered twice")
    SOURCES.append(source)
    return source


def _order(source: Source) -> int:
    """Position of the module that defines `source` in `_SOURCE_MODULES` (sources of other modules last)."""
    module = getattr(source.build, "__module__", "").rpartition(".")[2]
    return _SOURCE_MODULES.index(module) if module in _SOURCE_MODULES else len(_SOURCE_MODULES)


def _sources() -> list[Source]:
    """Every source in matching order: the order of `_SOURCE_MODULES`, whichever module was imported first."""
    global _loaded
    if not _loaded:
        for name in _SOURCE_MODULES:
            importlib.import_module(f"{__name__}.{name}")
        SOURCES.sort(key=_order)
        _loaded = True
    return SOURCES


def allowed_forms() -> str:
    """The allowed forms, built-in names first (the common case)."""
    ordered = sorted((s for s in _sources() if s.kind != "refused"), key=lambda s: s.kind != "builtin")
    return "; ".join(s.form for s in ordered)


def source_for(value: str) -> Source:
    """The source that handles `value`, or a one-line error listing the allowed forms."""
    if not isinstance(value, str) or not value.strip():
        raise CompressError(f"model must be one of: {allowed_forms()}; got {value!r}")
    for source in _sources():
        if source.matches(value):
            return source
    raise CompressError(f"unknown model {value!r}; allowed: {allowed_forms()}")


def check_model_value(value: str) -> str:
    """Syntax check of a `--model` value (no file read, no code run); returns its source kind."""
    source = source_for(value)
    source.check(value)
    return source.kind


def resolve_model(value: str, input_shape: Sequence[int], num_classes: int, *, hidden=None,
                  weights: str | None = None) -> ResolvedModel:
    """Build the model `value` names for this data (shape per sample, classes); load `weights` if given."""
    source = source_for(value)
    source.check(value)
    target = Target(tuple(int(s) for s in input_shape), int(num_classes),
                    tuple(hidden) if hidden else None)
    resolved = source.build(value, target)
    if weights:
        from compress_core.models.sources.weights import load_weights

        digest = load_weights(resolved.module, weights)
        resolved.comes_trained = True
        resolved.fingerprint += f"|weights:{digest}"
        resolved.description += f", weights from {Path(weights).name}"
        if resolved.kind in ("builtin", "factory", "timm"):
            resolved.normalize = "none"
    return resolved


def file_digest(path: Path, limit: int) -> tuple[bytes, str]:
    """The file's bytes (refusing more than `limit`) and their SHA-256, read once."""
    from compress_core.models.sources.limits import read_limited

    data = read_limited(path, limit)
    return data, hashlib.sha256(data).hexdigest()[:20]
