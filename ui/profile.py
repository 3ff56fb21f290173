"""Opt-in server-side timing of the preview fragments (issue 19): where one slider move spends its time.

Set `LAB_PROFILE=/some/file.jsonl` before `streamlit run app.py` and every preview fragment run
appends one JSON line: the fragment's name, its whole body in ms, and the ms of each step the page
marked with `mark(step)` (engine call, figure build, cards, `st.plotly_chart`). Without the variable
`timed` calls the function directly and `mark` does nothing. `benchmarks/bench_ui.py --detail` sets it
and summarises the file beside the browser's timings.
"""
from __future__ import annotations

import json
import os
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps

_lock = threading.Lock()
_current: ContextVar = ContextVar("lab_profile_marks", default=None)


class _Marks:
    """Step timings inside one fragment run; `mark(name)` closes the step that ended now."""

    def __init__(self):
        self.began = self.last = time.perf_counter()
        self.steps: dict[str, float] = {}

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = round(self.steps.get(name, 0.0) + 1000 * (now - self.last), 3)
        self.last = now


def _noop(name: str) -> None:
    return None


@contextmanager
def fragment(name: str, **fields):
    """Time one run of the fragment `name`; yields `mark(step)` (a no-op unless LAB_PROFILE is set)."""
    path = os.environ.get("LAB_PROFILE")
    if not path:
        yield _noop
        return
    marks = _Marks()
    try:
        yield marks
    finally:
        total = 1000 * (time.perf_counter() - marks.began)
        line = json.dumps({"fragment": name, "t": time.time(), "total_ms": round(total, 3), "steps": marks.steps,
                           **fields})
        with _lock, open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")


def mark(step: str) -> None:
    """Close the step `step` of the fragment being timed (nothing when none is)."""
    marks = _current.get()
    if marks is not None:
        marks(step)


def timed(name: str):
    """Decorator: time each call of a fragment body as `fragment(name)` and let `mark` inside it record steps.

    Every preview fragment is decorated with it, so it also tells the background warm-up that a visitor is moving
    a preview now (`warmup.note_activity`: its next stage waits for a pause), with or without LAB_PROFILE."""
    from ui import warmup

    def wrap(func):
        @wraps(func)
        def run(*args, **kwargs):
            warmup.note_activity()
            if not os.environ.get("LAB_PROFILE"):
                return func(*args, **kwargs)
            with fragment(name) as marks:
                token = _current.set(marks)
                try:
                    return func(*args, **kwargs)
                finally:
                    _current.reset(token)
        return run
    return wrap
