"""What the AppTest files share: a module-wide home with background workers, opening a page
with preset widgets, and reading a metric card."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from compress_core.runs import jobs

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@contextmanager
def worker_home(tmp_path_factory, name: str) -> Iterator[tuple[Path, pytest.MonkeyPatch]]:
    """A fresh home for one test module, (home, monkeypatch): short latency timing, workers that
    idle out soon and are stopped at the end; the monkeypatch lets a module patch more for as long."""
    home = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMPRESS_LAB_HOME", str(home))
        mp.setenv("COMPRESS_LAB_LATENCY_REPEATS", "5")
        mp.setenv("COMPRESS_LAB_WORKER_IDLE", "20")
        try:
            yield home, mp
        finally:
            jobs.stop_workers(home)


def open_page(name: str, **state) -> AppTest:
    """The app on page `name`, with widget values preset by key (as if the user had set them)."""
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page(f"pages/{name}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown(at: AppTest, label: str) -> str:
    """The value of the metric card labelled `label`."""
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no metric {label!r}; shown: {[m.label for m in at.metric]}"
    return values[0]
