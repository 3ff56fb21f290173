"""`--weights FILE.safetensors`: weights for any source, read without pickle.

The header is checked against the file before any tensor is read (safetensors validates that
every tensor's byte range lies inside the file, so a header declaring 2 GB in a 1 kB file fails
before anything is allocated), and the tensors must match the model's state dict exactly.
"""
from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import torch
from torch import nn

from compress_core.errors import CompressError
from compress_core.models.sources.limits import MAX_MODEL_BYTES, read_limited, refuse_serialized, sniff

HEADER_LIMIT = 100 * 2**20  # safetensors' own header limit


def _check_header(name: str, data: bytes) -> None:
    """Every declared tensor must lie inside the file (written by hand: a clear line before safetensors runs)."""
    if len(data) < 8:
        raise CompressError(f"weights file {name!r} is not a safetensors file (only {len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > min(HEADER_LIMIT, len(data) - 8):
        raise CompressError(f"weights file {name!r} is not a valid safetensors file: its header declares {n} bytes "
                            f"but the file has {len(data)}")
    try:
        header = json.loads(data[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CompressError(f"weights file {name!r} is not a valid safetensors file: unreadable header") from None
    body = len(data) - 8 - n
    for key, meta in header.items():
        if key == "__metadata__":
            continue
        try:
            start, end = meta["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise CompressError(f"weights file {name!r}: tensor {key!r} has no valid data_offsets") from None
        if not (0 <= start <= end <= body):
            raise CompressError(f"weights file {name!r}: tensor {key!r} declares bytes {start}..{end} but the file "
                                f"holds {body} bytes of data (truncated or forged)")


def read_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], str]:
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        data = read_limited(path, MAX_MODEL_BYTES)
        refuse_serialized(path.name, sniff(data), "a safetensors file")
        raise CompressError(f"weights must be a .safetensors file; got {path.name!r}")
    data = read_limited(path, MAX_MODEL_BYTES)
    _check_header(path.name, data)
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        state = load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CompressError(f"weights file {path.name!r} is not a valid safetensors file: "
                            f"{' '.join(str(exc).split())}") from None
    return state, hashlib.sha256(data).hexdigest()[:20]


def load_weights(model: nn.Module, path: str | Path) -> str:
    """Load `path` into `model` (every key must match in name and shape); returns the file's digest."""
    state, digest = read_safetensors(path)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    wrong = [f"{k} {list(state[k].shape)} vs {list(own[k].shape)}" for k in own
             if k in state and state[k].shape != own[k].shape]
    if missing or extra or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if extra:
            parts.append(f"{len(extra)} unexpected (e.g. {', '.join(extra[:3])})")
        if wrong:
            parts.append(f"{len(wrong)} of another shape (e.g. {'; '.join(wrong[:2])})")
        raise CompressError(f"weights {Path(path).name!r} do not fit {type(model).__name__}: {', '.join(parts)}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    return digest
