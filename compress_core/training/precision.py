"""Training precision: fp32, or bf16/fp16 autocast with fp32 master weights, or `auto`.

Autocast (torch.autocast) runs the matrix products of the forward pass in 16 bits while the
weights, the optimiser state and the updates stay fp32, so what is saved and evaluated is an
ordinary fp32 model. Whether this is faster depends on the processor (AMX / AVX-512 BF16 on
CPUs, tensor cores on GPUs); `auto` measures a few training steps both ways on the run's own
model and batch and keeps bf16 only when it is clearly faster here. The default stays fp32.

fp16 training is offered on CUDA only (with a gradient scaler): CPUs have no fp16 training
kernels worth using and fp16 gradients underflow without loss scaling.
"""
from __future__ import annotations

import copy
import time
from contextlib import nullcontext

import torch
from torch import nn

from compress_core.errors import CompressError

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
AUTO_MIN_GAIN = 1.15  # `auto` keeps bf16 only when its steps are at least this much faster
AUTO_STEPS = 6  # timed steps per precision (after 2 warm-up steps)
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(value) -> None:
    """One line for a precision that does not exist, or fp16 training without CUDA."""
    if value not in PRECISIONS:
        raise CompressError(f"precision must be one of {', '.join(PRECISIONS)}; got {value!r}")
    if value == "fp16" and not torch.cuda.is_available():
        raise CompressError("precision fp16 trains on a CUDA GPU only (fp16 gradients need loss scaling and this CPU "
                            "has no fp16 training kernels); use bf16 (autocast with fp32 master weights) or fp32")


def autocast(precision: str, device: torch.device):
    """The autocast context of a resolved precision (fp32: no autocast)."""
    if precision in _DTYPES:
        return torch.autocast(device_type=torch.device(device).type, dtype=_DTYPES[precision])
    return nullcontext()


def grad_scaler(precision: str, device: torch.device):
    """A gradient scaler for fp16 on CUDA (None otherwise: bf16 keeps fp32's exponent range)."""
    if precision == "fp16" and torch.device(device).type == "cuda":
        return torch.amp.GradScaler("cuda")
    return None


def _step_seconds(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, precision: str, loss_fn, idx) -> float:
    """Median seconds of one Adam step of a copy of `model` under `precision`."""
    model = copy.deepcopy(model).train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-6)
    times = []
    for i in range(AUTO_STEPS + 2):
        began = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast(precision, xb.device):
            loss = loss_fn(model, xb, yb, idx)
        loss.backward()
        opt.step()
        if xb.device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - began)
    times.sort()
    return times[len(times) // 2]


def choose_precision(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, loss_fn, idx) -> tuple[str, dict]:
    """`auto`: (bf16 or fp32, the measurement) from timed training steps of this model on this batch."""
    fp32 = _step_seconds(model, xb, yb, "fp32", loss_fn, idx)
    bf16 = _step_seconds(model, xb, yb, "bf16", loss_fn, idx)
    gain = fp32 / max(bf16, 1e-12)
    choice = "bf16" if gain >= AUTO_MIN_GAIN else "fp32"
    return choice, {"fp32_step_ms": fp32 * 1000, "bf16_step_ms": bf16 * 1000, "bf16_gain": gain,
                    "rule": f"bf16 when its step is >= {AUTO_MIN_GAIN}x faster than fp32 here"}


# --- data placement (issue 18): where a training phase keeps its tensors ----------------------

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
