"""The newest runs as a small static table (Home's "Latest runs"): cells formatted from store records, as Markdown.

Why not `st.dataframe`: on a cold server, Home's run table was the last thing drawn, 1.1-1.3 s after the heading
on a 2-core machine (docs/performance.md, "Ninth round"): the server imported pandas (0.5 s) to build the frame, and
the browser fetched and compiled the data grid's code before it could draw eight rows. These cells need neither:
they are read from the records with the torch-free label table and formatted here, and Streamlit's Markdown (part of
its main bundle) draws them. The Runs page keeps the sortable grid of every run. Only the standard library and
torch-free lab modules are imported here.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import PurePath
from typing import Iterable, Mapping

from compress_core import fmt
from compress_core.measure import catalogue
from compress_core.methods import labels

ACTIVE = ("queued", "running")  # statuses whose progress is shown
# (heading, alignment): the columns Home shows, numbers right-aligned; the figures before the model and the date, so
# that a narrow window shows them without scrolling the table sideways
COLUMNS = (("run", "left"), ("method", "left"), ("setting", "left"), ("status", "left"), ("accuracy (%)", "right"),
           ("vs baseline (pp)", "right"), ("smallest size", "right"), ("model", "left"), ("data set", "left"),
           ("created (UTC)", "left"))
MISSING = "–"  # what an empty cell shows (as the grid's placeholder)
# What can change a table cell's meaning mid-line: emphasis, code, links and images, HTML and entities, the column
# separator, strike-through, Streamlit's LaTeX ($) and its emoji and icon shortcodes (:name:)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~$:])")


def method_of(kind: str, spec: Mapping | None) -> str:
    """The colour key of a run: the pruning method for prune runs, else the run kind."""
    if kind == "prune":
        return str((spec or {}).get("method", "l1"))
    return "baseline" if kind == "train" else kind


def _number(value, pattern: str) -> str:
    try:
        return MISSING if value is None else pattern.format(100 * float(value))
    except (TypeError, ValueError):
        return MISSING


def _created(seconds) -> str:
    try:
        return dt.datetime.fromtimestamp(float(seconds), tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):
        return MISSING


def run_cells(run: Mapping, method_label=None, describe=None) -> dict[str, str]:
    """One run's cells, keyed by COLUMNS' headings. `method_label(key)` and `describe(kind, spec)` name methods and
    settings (the registry's functions; by default the torch-free label table's, which know the built-in kinds)."""
    spec = run.get("spec") or {}
    kind = run.get("kind")
    metrics = catalogue.upgrade_metrics(run.get("metrics"), run.get("baseline") or {})
    key = method_of(kind, spec)
    label = (method_label or labels.method_label)(key) or str(key)
    setting = (describe or labels.describe)(kind, spec) or ""
    status = str(run.get("status") or "")
    progress = run.get("progress") or {}
    if status in ACTIVE and progress.get("total"):
        status += f" ({min(1.0, progress.get('step', 0) / progress['total']):.0%})"
    size, form = metrics.get("size_bytes"), metrics.get("size_form", "")
    return {
        "run": str(run.get("id") or ""), "method": label, "setting": setting, "status": status,
        "model": str(spec.get("model") or ""),
        "data set": PurePath(str(spec["dataset"])).name if spec.get("dataset") else "",
        "accuracy (%)": _number(metrics.get("accuracy"), "{:.2f}"),
        "vs baseline (pp)": _number(metrics.get("accuracy_change"), "{:+.2f}"),
        "smallest size": f"{fmt.size(size)} ({form})" if size is not None and form else MISSING,
        "created (UTC)": _created(run.get("created_at")),
    }


def escape(text: str) -> str:
    """`text` as literal Markdown inside a table cell (no emphasis, links or column breaks from names like
    `hf:my_model|v2`); line breaks become spaces."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split())) or MISSING


def markdown_table(rows: Iterable[Mapping[str, str]], columns=COLUMNS) -> str:
    """A GitHub-flavoured Markdown table of `rows` (cells keyed by heading), in `columns`' order and alignment."""
    lines = ["| " + " | ".join(escape(h) for h, _ in columns) + " |",
             "|" + "|".join("---:" if align == "right" else ":---" for _, align in columns) + "|"]
    lines += ["| " + " | ".join(escape(row.get(h, "")) for h, _ in columns) + " |" for row in rows]
    return "\n".join(lines)
