"""One timing path for every runtime: torch eager, ONNX Runtime, sparse torch forms.

A *form* is a model in a runtime (the baseline in torch eager, the int8 `.onnx` file in
ONNX Runtime, the pruned model with CSR weights, ...). `time_forms` times several forms
on the same inputs with their calls paired and alternated (call 1 of every form, then
call 2 of every form, ...), so a burst of load on this shared machine hits all of them
alike and their ratio stays honest. Each form reports the median and the inter-quartile
range (IQR) of its calls, after warm-up, at the batch size and thread count asked.

A form whose kernel this machine lacks (no onnxruntime, no sparse CSR kernel, ...) is
reported as ``{"available": False, "reason": "not available here: ..."}``, never raised.

Note:
    Thread counts: torch forms run under `torch.set_num_threads(threads)` (restored after);
    ONNX Runtime sessions take theirs when built (`intra_op_num_threads`), so a form is a
    *builder* called once per thread count.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

NOT_AVAILABLE = "not available here"
Call = Callable[[torch.Tensor], object]


def all_threads() -> int:
    """The 'all threads' setting: every core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class Form:
    """A model in a runtime. `build(threads)` returns a call taking a CPU/`device` batch tensor.

    `unavailable` (a reason) marks a form this machine cannot run; `build` raising does too.
    """

    name: str
    runtime: str  # "torch", "torch-sparse", "onnxruntime"
    build: Optional[Callable[[int], Call]] = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    unavailable: Optional[str] = None
    # A form whose model reads something else than float features (token ids of a text model)
    # makes its own batch: example(batch, input_shape) -> CPU tensor.
    example: Optional[Callable[[int, Sequence[int]], torch.Tensor]] = None


def device_of(model: nn.Module) -> torch.device:
    """Where a model's tensors live; CPU for models without parameters (int8 modules keep
    their weights in packed params, which are neither parameters nor buffers)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def torch_form(name: str, model: nn.Module, runtime: str = "torch") -> Form:
    """A torch eager form of `model` (put in eval mode; forward under `inference_mode`)."""
    def build(threads: int) -> Call:
        model.eval()

        def call(x):
            with torch.inference_mode():
                return model(x)
        return call
    make = getattr(model, "example_input", None)  # text models: token ids of full length
    example = (lambda batch, shape: make(batch, int(shape[0]), torch.device("cpu"))) if callable(make) else None
    return Form(name, runtime, build, device_of(model), example=example)


def ort_session(path_or_bytes, threads: int = 0):
    """An ONNX Runtime CPU session with `threads` intra-op threads (0: its default, all cores)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(path_or_bytes if isinstance(path_or_bytes, bytes) else str(path_or_bytes),
                                        options, providers=["CPUExecutionProvider"])


def ort_form(name: str, path_or_bytes, example=None) -> Form:
    """An ONNX Runtime form of an `.onnx` file (or its bytes); "not available here" without onnxruntime.

    `example` makes its input batch like `Form.example` (token ids for a text model's file)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return Form(name, "onnxruntime", unavailable=f"{NOT_AVAILABLE}: onnxruntime is not installed")

    def build(threads: int) -> Call:
        session = ort_session(path_or_bytes, threads)
        input_name = session.get_inputs()[0].name

        def call(x):
            return session.run(None, {input_name: x.numpy()})
        return call
    return Form(name, "onnxruntime", build, example=example)


def summarize(times_s: Sequence[float]) -> dict:
    """Median, quartiles and IQR of call times, in milliseconds."""
    q1, median, q3 = (float(v) * 1000 for v in np.percentile(np.asarray(times_s), [25, 50, 75]))
    return {"available": True, "median_ms": median, "q1_ms": q1, "q3_ms": q3, "iqr_ms": q3 - q1,
            "calls": len(times_s)}


def _not_available(exc: BaseException) -> dict:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return {"available": False, "reason": f"{NOT_AVAILABLE}: {first[:200]}"}


def time_forms(forms: Sequence[Form], input_shape: Sequence[int], batch: int, *, threads: Optional[int] = None,
               repeats: int = 30, warmup: int = 5, max_seconds: Optional[float] = None, seed: int = 0) -> dict:
    """{form name: timing} for `forms` timed on the same random batch, calls paired and alternated.

    Every repeat calls each available form once, round i starting at form i (mod the
    number of forms) so no form always goes first; `warmup` untimed rounds come first. `threads` None keeps torch's current setting (and ORT's default);
    `max_seconds` stops early after that much timing (at least 5 rounds). A timing is
    `summarize(...)` plus `batch`, `threads` and `runtime` (and, on CUDA, `peak_memory_bytes` of one
    call), or "not available here". CUDA calls are timed between `torch.cuda.synchronize()` calls, after
    warm-up and a synchronisation, so queued kernels are counted in the call that launched them.
    """
    x_cpu = torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(seed))
    previous = torch.get_num_threads()
    used = previous if threads is None else int(threads)
    out: dict = {}
    calls: list[tuple[Form, Call, torch.Tensor]] = []
    peaks: dict = {}  # CUDA forms: peak memory of one call (torch.cuda.max_memory_allocated), bytes
    if threads is not None:
        torch.set_num_threads(used)
    try:
        for form in forms:
            if form.unavailable:
                out[form.name] = {"available": False, "reason": form.unavailable}
                continue
            try:
                call = form.build(0 if threads is None and form.runtime == "onnxruntime" else used)
                x = (form.example(batch, input_shape) if form.example else x_cpu).to(form.device)
                if x.device.type == "cuda":
                    torch.cuda.synchronize(x.device)
                    torch.cuda.reset_peak_memory_stats(x.device)
                call(x)  # a first call that fails means no kernel for this form here
                if x.device.type == "cuda":
                    torch.cuda.synchronize(x.device)
                    peaks[form.name] = int(torch.cuda.max_memory_allocated(x.device))
            except (RuntimeError, NotImplementedError, ImportError, ValueError, TypeError) as exc:
                out[form.name] = _not_available(exc)
                continue
            calls.append((form, call, x))
        cuda = any(x.device.type == "cuda" for _, _, x in calls)
        for _ in range(warmup):
            for _, call, x in calls:
                call(x)
        if cuda:
            torch.cuda.synchronize()  # queued warm-up kernels must not run inside the first timed call
        times: list[list[float]] = [[] for _ in calls]
        began = time.perf_counter()
        for i in range(repeats):
            # Each round starts one form later, so no form always runs first (cache, frequency effects).
            for k in [(i + j) % len(calls) for j in range(len(calls))] if calls else []:
                call, x = calls[k][1], calls[k][2]
                if cuda:
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                call(x)
                if cuda:
                    torch.cuda.synchronize()
                times[k].append(time.perf_counter() - t0)
            if max_seconds is not None and i >= 4 and time.perf_counter() - began > max_seconds:
                break
    finally:
        torch.set_num_threads(previous)
    for (form, _, _), form_times in zip(calls, times if calls else []):
        out[form.name] = {**summarize(form_times), "batch": batch, "threads": used, "runtime": form.runtime}
        if form.name in peaks:
            out[form.name]["peak_memory_bytes"] = peaks[form.name]
    return {form.name: out[form.name] for form in forms}


def speedup(reference: dict, other: dict) -> Optional[float]:
    """reference median / other median (>1: `other` is faster); None when either was not timed."""
    if not (reference.get("available") and other.get("available")):
        return None
    return reference["median_ms"] / max(other["median_ms"], 1e-12)
