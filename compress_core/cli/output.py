"""What the command line prints: a result beside its baseline, and throttled progress lines."""
from __future__ import annotations

import sys
import time

from compress_core.measure import catalogue


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def print_result(result: dict) -> None:
    """Human-readable summary: key figures beside the baseline."""
    print(f"run {result['id']} ({result['kind']}): {result['status']}")
    metrics, base = result.get("metrics", {}), result.get("baseline", {})
    keys = catalogue.table_keys(metrics)  # the core set first, then the run kind's own keys
    keys += [k for k, v in metrics.items() if not catalogue.known(k) and isinstance(v, (int, float, str))]
    width = max([len(k) for k in keys] + [6])
    print(f"  {'metric':<{width}}  {'result':>14}  {'baseline':>14}")
    for key in keys:
        shown_base = catalogue.format_value(key, base[key]) if key in base else ""
        print(f"  {key:<{width}}  {catalogue.format_value(key, metrics[key]):>14}  {shown_base:>14}")
    for step in result.get("steps") or []:
        sm = step.get("metrics", {})
        names = {"size_bytes": f"deployed ({sm.get('size_form')})"}
        sizes = ", ".join(f"{names.get(key, key[5:-6])} {sm[key]} B" for key in catalogue.table_keys(sm)
                          if catalogue.metric(key).unit == "bytes")
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
