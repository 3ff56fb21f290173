"""What the AppTest files share: a module-wide home with background workers, opening a page
with preset widgets, reading a metric card, and reading a Markdown table back."""
from __future__ import annotations

import re
from contextlib import contextmanager
from html.parser import HTMLParser
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


class _Cards(HTMLParser):
    """Reads the cards of a `ui/cards.py` block (one `st.html` element) as the text a reader sees."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict] = []
        self._part: str | None = None
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        names = (attrs.get("class") or "").split()
        if self._hidden or attrs.get("aria-hidden") == "true":
            self._hidden += 1
        elif "lab-card" in names:
            self.cards.append({"label": "", "value": "", "delta": None, "help": attrs.get("title")})
        elif self.cards and {"lab-card-label", "lab-card-value", "lab-card-delta"} & set(names):
            self._part = next(n for n in names if n.startswith("lab-card-")).rsplit("-", 1)[1]
            self.cards[-1][self._part] = ""

    def handle_endtag(self, tag):
        if self._hidden:
            self._hidden -= 1
        elif tag == "div":
            self._part = None

    def handle_data(self, data):
        if self._part and not self._hidden:
            self.cards[-1][self._part] += data


def cards(at) -> list[dict]:
    """Every card on the page as {label, value, delta, help}: each `st.metric`, then each card of the one-element
    card blocks (`ui/cards.py`: the previews' cards), with the text the page shows."""
    found = [{"label": m.label, "value": m.value, "delta": m.delta or None, "help": m.help or None}
             for m in at.metric]
    for block in at.get("html"):
        parser = _Cards()
        parser.feed(block.proto.body)
        found += parser.cards
    return found


def shown(at: AppTest, label: str, part: str = "value") -> str:
    """The value (or `part`: delta, help) of the card labelled `label`."""
    values = [c[part] for c in cards(at) if c["label"] == label]
    assert values, f"no card {label!r}; shown: {[c['label'] for c in cards(at)]}"
    return values[0]


def open_tab(at: AppTest, tab: str) -> AppTest:
    """Open the Learn page's tab `tab`, as a click on it does: a rerun that draws only that tab's lessons."""
    if "learn_tab" not in at.session_state or at.session_state["learn_tab"] != tab:
        at.session_state["learn_tab"] = tab
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["learn_tab"] == tab
    return at


def markdown_columns(table: str) -> dict[str, list[str]]:
    """The cells of a Markdown table (compress_core/present/run_list.markdown_table) by heading, unescaped: the
    columns split at pipes that are not escaped, each backslash escape read as its character."""
    rows = [[re.sub(r"\\(.)", r"\1", cell.strip()) for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            for line in table.splitlines()]
    return {heading: [row[i] for row in rows[2:]] for i, heading in enumerate(rows[0])}
