"""Preprocessing a model expects: `normalize` (auto | none | MEAN,STD) and optional `resize`.

Data sets are loaded normalised with their training-split statistics ("auto", what models trained
here use). A model trained elsewhere expects its own preprocessing: "none" gives the raw values
(pixels in [0, 1]; tabular features as read), "MEAN,STD" normalises the [0, 1] values with the
given statistics, one number for all channels or per-channel lists separated by "/"
(e.g. "0.485/0.456/0.406,0.229/0.224/0.225", ImageNet's). Images are resized (bilinear,
antialiased) only when asked, never silently.
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Optional

import torch
import torch.nn.functional as F

from compress_core.errors import CompressError

MAX_PREPARED_BYTES = int(float(os.environ.get("COMPRESS_LAB_MAX_PREPARED_MB", "4096")) * 2**20)
_NUMBER = r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"


def parse_normalize(value) -> Optional[str | tuple[tuple[float, ...], tuple[float, ...]]]:
    """None (the model's default), "auto", "none" or (means, stds); one-line error otherwise."""
    if value is None or value in ("auto", "none"):
        return value
    allowed = "normalize must be auto, none, or MEAN,STD (per channel: m1/m2/m3,s1/s2/s3)"
    if not isinstance(value, str) or value.count(",") != 1:
        raise CompressError(f"{allowed}; got {value!r}")
    parts = value.replace(" ", "").split(",")
    try:
        means, stds = (tuple(float(p) for p in part.split("/")) for part in parts)
    except ValueError:
        raise CompressError(f"{allowed}; got {value!r}") from None
    if len(means) != len(stds) or any(s <= 0 or s != s for s in stds) or any(m != m for m in means):
        raise CompressError(f"{allowed}, as many means as standard deviations, every std > 0; got {value!r}")
    return means, stds


def parse_resize(value) -> Optional[tuple[int, int]]:
    """'32' -> (32, 32); '224x160' -> (224, 160); sizes 4..1024."""
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        h, w = value
    else:
        match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*", str(value))
        if not match:
            raise CompressError(f"resize must be SIZE or HEIGHTxWIDTH in pixels, e.g. 32 or 224x224; got {value!r}")
        h, w = int(match.group(1)), int(match.group(2) or match.group(1))
    if not all(isinstance(v, int) and 4 <= v <= 1024 for v in (h, w)):
        raise CompressError(f"resize sizes must be integers from 4 to 1024; got {value!r}")
    return int(h), int(w)


def resize_text(size: Optional[tuple[int, int]]) -> Optional[str]:
    return None if size is None else f"{size[0]}x{size[1]}"


def _renormalize(x: torch.Tensor, data, target, channel_axis: int = 1) -> torch.Tensor:
    shape = [1] * x.dim()
    shape[channel_axis] = -1
    mean = torch.tensor(data.norm_mean, dtype=x.dtype).view(shape)
    std = torch.tensor(data.norm_std, dtype=x.dtype).view(shape)
    raw = x * std + mean
    if target == "none":
        return raw
    means, stds = target
    channels = x.shape[channel_axis]
    if len(means) not in (1, channels):
        raise CompressError(f"normalize gives {len(means)} means and standard deviations; {data.name} has "
                            f"{channels} {'channels' if data.is_image else 'features'} (give 1 or {channels})")
    m = torch.tensor(means, dtype=x.dtype).view(shape if len(means) > 1 else [1] * x.dim())
    s = torch.tensor(stds, dtype=x.dtype).view(shape if len(stds) > 1 else [1] * x.dim())
    return (raw - m) / s


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    out = []
    for start in range(0, len(x), 4096):  # chunks bound the peak memory of the interpolation
        out.append(F.interpolate(x[start:start + 4096], size=size, mode="bilinear", align_corners=False,
                                 antialias=True))
    return torch.cat(out) if out else x.new_zeros((0, x.shape[1], *size))


def prepare(data, normalize="auto", resize=None):
    """`data` as the model expects it: renormalised and/or resized (a new Dataset; `data` is untouched)."""
    target = parse_normalize(normalize)
    size = parse_resize(resize)
    if getattr(data, "is_text", False):  # token ids: nothing to renormalise or resize
        if size is not None:
            raise CompressError(f"resize applies to images; {data.name!r} holds texts")
        return data
    if (target in (None, "auto")) and size is None:
        return data
    changes = {}
    x_train, x_test = data.x_train, data.x_test
    if target not in (None, "auto"):
        if not data.norm_mean:
            raise CompressError(f"data set {data.name!r} does not record its normalisation, so normalize "
                                f"{normalize!r} cannot be applied; use auto")
        x_train, x_test = _renormalize(x_train, data, target), _renormalize(x_test, data, target)
    if size is not None:
        if not data.is_image or len(data.input_shape) != 3:
            raise CompressError(f"resize applies to images; {data.name!r} is tabular ({data.input_shape[0]} features)")
        c = data.input_shape[0]
        needed = (len(x_train) + len(x_test)) * c * size[0] * size[1] * 4
        if needed > MAX_PREPARED_BYTES:
            raise CompressError(f"resizing {data.name!r} to {size[0]}x{size[1]} needs {needed / 2**30:.1f} GiB; the "
                                f"limit is {MAX_PREPARED_BYTES / 2**30:.1f} GiB (COMPRESS_LAB_MAX_PREPARED_MB)")
        x_train, x_test = _resize(x_train, size), _resize(x_test, size)
        changes["input_shape"] = (c, *size)
    return dataclasses.replace(data, x_train=x_train.contiguous(), x_test=x_test.contiguous(), **changes)
