"""Which device a run uses: `auto`, `cpu`, `cuda` or `cuda:N`, checked in one line.

A spec names a device as text (`BaseSpec.device`, the CLI's `--device`, the pages' select box);
`resolve_device` turns it into a `torch.device` when the run starts, on the machine that runs it,
so a spec written on a GPU machine replays on a laptop with `auto`. `auto` is CUDA when torch
sees a GPU (unless `COMPRESS_LAB_DEVICE` says otherwise), else the CPU.

Mixed-precision training is the spec's `precision` (training/precision.py); `check_precision_on`
refuses fp16 on a CPU device, or bf16 on a GPU without it, in one line.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator, Optional

import torch

from compress_core.errors import CompressError
from compress_core.training.loop import pick_device

DEVICE_FORMS = "auto, cpu, cuda or cuda:N"
_DEVICE_TEXT = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device_text(text) -> str:
    """The syntax check a spec runs (no GPU asked): 'auto', 'cpu', 'cuda' or 'cuda:N'."""
    if not isinstance(text, str) or not _DEVICE_TEXT.match(text.strip().lower()):
        raise CompressError(f"device must be {DEVICE_FORMS}; got {text!r}")
    return text.strip().lower()


def cuda_count() -> int:
    """GPUs torch can use here (0 without CUDA or without a driver)."""
    try:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except (RuntimeError, AssertionError):  # a CUDA build without a usable driver
        return 0


def resolve_device(text: Optional[str] = "auto") -> torch.device:
    """The `torch.device` for `text` on this machine; CompressError (one line) when it is not here."""
    text = check_device_text(text or "auto")
    if text == "auto":
        return pick_device()
    if text == "cpu":
        return torch.device("cpu")
    count = cuda_count()
    if count == 0:
        raise CompressError(f"device {text!r} is not available here: torch sees no CUDA GPU "
                            f"(torch {torch.__version__}); use --device auto or cpu")
    index = int(text.split(":")[1]) if ":" in text else 0
    if index >= count:
        raise CompressError(f"device {text!r} does not exist: this machine has {count} CUDA GPU(s), "
                            f"cuda:0 to cuda:{count - 1}")
    return torch.device("cuda", index)


def check_precision_on(precision: Optional[str], device: torch.device) -> None:
    """The training precision (`BaseSpec.precision`, training/precision.py) on this run's device: fp16
    autocast trains on CUDA only, and bf16 on a GPU needs one that supports it. One line when not."""
    if precision == "fp16" and device.type != "cuda":
        raise CompressError(f"precision fp16 trains on a CUDA device only; this run's device is {device.type}: "
                            "use bf16 or fp32")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise CompressError(f"precision bf16 is not supported by {torch.cuda.get_device_name(device)}; use fp16")


def describe_devices() -> list[dict]:
    """Every device a run may pick here, for the pages' select box and `python -m compress_core devices`.

    [{"value": "auto", "label": "auto (cuda:0)"}, {"value": "cpu", ...}, {"value": "cuda:0", "name":
    "NVIDIA H200", "free_bytes": ..., "total_bytes": ..., "capability": "9.0", "label": ...}, ...].
    """
    auto = pick_device()
    rows = [{"value": "auto", "label": f"auto ({auto})"}, {"value": "cpu", "label": "cpu"}]
    for index in range(cuda_count()):
        name = torch.cuda.get_device_name(index)
        major, minor = torch.cuda.get_device_capability(index)
        try:
            free, total = torch.cuda.mem_get_info(index)
        except RuntimeError:  # a busy or odd device: show it without memory figures
            free = total = None
        memory = f", {free / 2**30:.1f} of {total / 2**30:.1f} GiB free" if free is not None else ""
        rows.append({"value": f"cuda:{index}", "name": name, "free_bytes": free, "total_bytes": total,
                     "capability": f"{major}.{minor}", "label": f"cuda:{index}: {name}{memory}"})
    return rows



@contextmanager
def gpu_peak_memory(device: torch.device) -> Iterator[dict]:
    """Within the block, track the peak CUDA memory torch allocates on `device`; the dict yielded gets
    `gpu_peak_memory_bytes` (torch.cuda.max_memory_allocated) when the block ends. Nothing on the CPU."""
    out: dict = {}
    if device.type != "cuda":
        yield out
        return
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    try:
        yield out
    finally:
        torch.cuda.synchronize(device)
        out["gpu_peak_memory_bytes"] = int(torch.cuda.max_memory_allocated(device))


def check_runnable_here(spec) -> torch.device:
    """The device `spec` runs on here, with its training precision checked: the CLI asks before it records a run."""
    device = resolve_device(getattr(spec, "device", "auto"))
    check_precision_on(getattr(spec, "precision", "fp32"), device)
    return device
