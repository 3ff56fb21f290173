"""What the command line prints: a result beside its baseline, and throttled progress lines."""
from __future__ import annotations

import sys
import time


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def print_result(result: dict) -> None:
    """Human-readable summary: key figures beside the baseline."""
    print(f"run {result['id']} ({result['kind']}): {result['status']}")
    metrics, base = result.get("metrics", {}), result.get("baseline", {})
    keys = ["accuracy", "loss", "params_total", "params_nonzero", "sparsity", "compression_ratio", "flops_dense",
            "flops_effective", "theoretical_speedup", "size_fp32_bytes", "size_sparse_bytes", "size_quantized_bytes",
            "latency_ms_b1", "latency_ms_b64", "speedup_b64", "teacher_accuracy", "scratch_accuracy", "gain_vs_scratch",
            "agreement", "student_epochs", "scratch_epochs", "channel_ratio", "param_ratio", "duration_s"]
    width = max(len(k) for k in keys)
    print(f"  {'metric':<{width}}  {'result':>14}  {'baseline':>14}")
    for key in keys:
        if key in metrics:
            print(f"  {key:<{width}}  {_fmt(metrics[key]):>14}  {_fmt(base.get(key, '')):>14}")
    for step in result.get("steps") or []:
        sm = step.get("metrics", {})
        sizes = ", ".join(f"{key[5:-6]} {sm[key]} B" for key in ("size_fp32_bytes", "size_sparse_bytes",
                          "size_quantized_bytes", "size_sparse_quantized_bytes") if key in sm)
        print(f"  step {step.get('step')}: {step.get('label', step.get('kind'))}: accuracy {_fmt(sm.get('accuracy'))}, "
              f"non-zero params {_fmt(sm.get('params_nonzero'))}; sizes: {sizes}")
    for note in result.get("notes", []):
        print(f"  note: {note}")


class ThrottledPrinter:
    """Progress lines on stderr: every stage change, otherwise at most one a second."""

    def __init__(self, interval: float = 1.0):
        self.interval, self.stage, self.last = interval, None, 0.0

    def __call__(self, event) -> None:
        now = time.monotonic()
        final = event.step >= event.total
        if event.stage != self.stage or final or now - self.last >= self.interval:
            self.stage, self.last = event.stage, now
            print(f"  [{event.stage}] {event.message or f'{event.step}/{event.total}'}", file=sys.stderr, flush=True)
