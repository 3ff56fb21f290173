"""Serialized forms that are refused unread, each with a line saying why and what to upload instead."""
from __future__ import annotations

from pathlib import Path

from compress_core.errors import CompressError
from compress_core.models.sources import Source, register_source
from compress_core.models.sources.limits import PICKLE_HINT, TORCHSCRIPT_HINT

TORCHSCRIPT_SUFFIXES = (".ts", ".jit", ".torchscript")
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".tar")


def _check(value: str) -> None:
    suffix = Path(value).suffix.lower()
    if suffix in TORCHSCRIPT_SUFFIXES:
        raise CompressError(f"{value!r}: {TORCHSCRIPT_HINT}")
    if suffix == ".safetensors":
        raise CompressError(f"{value!r} holds weights only, not an architecture: pass the architecture as --model "
                            "(a built-in name, timm:NAME, file.py:function) and this file as --weights")
    raise CompressError(f"{value!r} {PICKLE_HINT}; it was not loaded")


def _build(value, target):  # never reached: `_check` always refuses
    _check(value)


register_source(Source(
    "refused", "(TorchScript, .pt/.pth pickles and .safetensors as --model are refused with the reason)",
    lambda v: Path(v).suffix.lower() in TORCHSCRIPT_SUFFIXES + PICKLE_SUFFIXES + (".safetensors",),
    _check, _build, browser=False))
