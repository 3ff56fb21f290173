"""Mixed precision for training on CUDA, and whether data may live on the device for a whole run.

`amp_training(amp)` sets the autocast mode that `training.loop.fit` reads for every training phase
a run starts (baseline, fine-tuning, distillation), so one spec field reaches them all without
threading a parameter through every method. bf16 needs no loss scaling; fp16 uses a GradScaler.
Evaluation stays in fp32 (its accuracy is the figure reported).
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from typing import Iterator, Optional

import torch

_AMP: ContextVar[Optional[str]] = ContextVar("compress_lab_amp", default=None)
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@contextmanager
def amp_training(amp: Optional[str]) -> Iterator[None]:
    """Within the block, `fit` on a CUDA device trains under autocast `amp` ("bf16", "fp16" or None)."""
    token = _AMP.set(amp)
    try:
        yield
    finally:
        _AMP.reset(token)


def current_amp() -> Optional[str]:
    return _AMP.get()


def autocast_for(device: torch.device):
    """The autocast context of a training step on `device` (a no-op on the CPU or without amp)."""
    amp = _AMP.get()
    if amp is None or device.type != "cuda":
        return nullcontext()
    return torch.autocast(device_type="cuda", dtype=_DTYPES[amp])


def grad_scaler(device: torch.device):
    """A GradScaler for fp16 autocast on CUDA (fp16 gradients underflow without one); None otherwise."""
    if _AMP.get() != "fp16" or device.type != "cuda":
        return None
    return torch.amp.GradScaler("cuda")


def fits_on(device: torch.device, nbytes: int, share: float = 0.5) -> bool:
    """True when `nbytes` of data may stay on `device` for a whole training phase: always on the CPU;
    on a GPU when it takes at most `share` of the memory free now (the rest is for the model and activations)."""
    if device.type != "cuda":
        return True
    try:
        free, _ = torch.cuda.mem_get_info(device)
    except RuntimeError:
        return False
    return nbytes <= share * free


def resident(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`tensor` moved to `device` once when it fits there (no per-batch host copies), else left where it is."""
    return tensor.to(device) if fits_on(device, tensor.numel() * tensor.element_size()) else tensor
