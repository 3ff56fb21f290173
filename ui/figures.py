"""Charts that can leave the app: every figure as SVG or 2x PNG, every lesson's figures as one zip.

`show(fig, key)` draws a Plotly chart whose modebar camera button saves a PNG at twice the drawn size
(in the browser, no server work), and under it a small "Export figure" menu with SVG and 2x PNG files
rendered on the server by `compress_core.present.figure_export`. The files are made only when a
download button is clicked (Streamlit's deferred download: the callable runs then, in a thread of its
own), so drawing a page or a preview costs nothing more than the buttons.

Lessons: a page that runs sections (ui/lecture.py) opens each with `begin_lesson(title)`; every figure
shown until the next one belongs to that lesson, and `lesson_export(title, key)` offers all of them as
one zip. A section drawn in a fragment reruns alone: its figures keep the lesson they had in the last
full run, so the zip always holds what is on the screen.

Every chart is a live chart (`ui/live_chart.py`): an element that keeps its identity (its key) across reruns and
updates in place with `Plotly.react`, so a slider that redraws a figure on every move (previews) does not mount a
new chart each time. The browser loads one plotly.js for all of them, the live chart's 1.5 MB partial bundle, never
Streamlit's own 4.7 MB PlotlyChart chunk: first on the Learn page (docs/performance.md, pj20), then everywhere, after
a Prune page with a finished run's figures beside its live preview took 4-5 s to draw them all, compiling both
(docs/performance.md, "Tenth round"). Same modebar, fonts, lesson zips. `st.plotly_chart` remains only where a page
reads a chart's selection (Compare's Pareto chart).

Presentation (lecture mode) is set per session by `set_presentation`: larger chart fonts and no
per-figure menus, so a projected screen shows one idea and nothing else.
"""
from __future__ import annotations

import re
from functools import partial

import streamlit as st

from compress_core.present import figure_export
from ui import live_chart

MODEBAR = {"displaylogo": False}  # what every chart's modebar shows
_LESSONS = "_figures_lessons"  # session state: {"current": title | None, "lessons": {title: {key: fig}}, "of": {key: title}}
_PRESENTATION = "_figures_presentation"  # session state: {"font_size": int | None, "menus": bool}


def modebar(key: str) -> dict:
    """The chart's Plotly config: its camera button saves `<key>.png` at twice the size drawn on the screen."""
    return {**MODEBAR, "toImageButtonOptions": {"format": "png", "scale": figure_export.PNG_SCALE, "filename": key}}


def set_presentation(font_size: int | None = None, menus: bool = True) -> None:
    """For this session's charts from now on: a base font size (None: the figure's own) and per-figure menus."""
    st.session_state[_PRESENTATION] = {"font_size": font_size, "menus": menus}


def _presentation() -> dict:
    return st.session_state.get(_PRESENTATION) or {"font_size": None, "menus": True}


def chart(fig, key: str, lesson: str | None = None, tag: str | None = None) -> None:
    """The chart without a menu (every page's `common.chart`): a live chart (`ui/live_chart.py`, updated in place
    when a rerun draws the same key), the 2x PNG modebar button, lecture fonts when set, and counted in `lesson`
    (default: the section being drawn, if any) for the lesson's zip. `tag`: an instant preview's slider value
    (ui/instant.py)."""
    _register(fig, key, lesson)
    size = _presentation()["font_size"]
    if size:
        import plotly.graph_objects as go  # only in lecture mode: pages without charts start without it

        fig = go.Figure(fig).update_layout(font_size=size)  # a copy: the caller's figure (and its export) keep theirs
    live_chart.draw(fig, key, modebar(key), tag)


def show(fig, key: str, lesson: str | None = None, tag: str | None = None) -> None:
    """Draw `fig` with its export menu (SVG, 2x PNG), counted in `lesson` (default: the section being drawn)."""
    chart(fig, key, lesson, tag)
    if _presentation()["menus"]:
        export_menu(fig, key)


def export_menu(fig, key: str) -> None:
    """A small menu with SVG and 2x PNG downloads of `fig`, each rendered only when clicked."""
    problem = figure_export.renderer_problem()
    stem = figure_export.file_stem(fig, key)
    width, height = figure_export.export_size(fig)
    scale = figure_export.PNG_SCALE
    with st.popover("Export figure", icon=":material/download:", type="tertiary", key=f"{key}_export"):
        if problem:
            st.caption(f"The camera button above the chart saves a PNG; {problem}.")
            return
        st.download_button("SVG (vector)", partial(figure_export.figure_file, fig, "svg"), f"{stem}.svg",
                           figure_export.FORMATS["svg"], key=f"{key}_svg", on_click="ignore",
                           icon=":material/image:")
        st.download_button(f"PNG, {scale}× ({scale * width}×{scale * height} px)",
                           partial(figure_export.figure_file, fig, "png"), f"{stem}.png",
                           figure_export.FORMATS["png"], key=f"{key}_png", on_click="ignore",
                           icon=":material/image:")
        st.caption("Drawn on the server by a headless Chromium when you click (a few seconds), in Plotly's own "
                   "colours. The camera button above the chart saves a 2× PNG as shown on the screen.")


# ---------------------------------------------------------------- lessons
def _lessons() -> dict:
    if _LESSONS not in st.session_state:
        st.session_state[_LESSONS] = {"current": None, "lessons": {}, "of": {}}
    return st.session_state[_LESSONS]


def begin_lesson(title: str) -> None:
    """Figures shown from now on belong to lesson `title` (its earlier figures are forgotten: it is redrawn)."""
    state = _lessons()
    state["current"] = title
    state["lessons"].setdefault(title, {}).clear()  # in place: a download button drawn earlier reads this dict


def end_lessons() -> None:
    """No lesson is being drawn any more (a fragment rerun later finds its figures' lessons by key)."""
    _lessons()["current"] = None


def _register(fig, key: str, lesson: str | None) -> None:
    """Count `fig` in its lesson's zip, if it belongs to one."""
    state = _lessons()
    lesson = lesson or state["current"] or state["of"].get(key)
    if lesson is None:
        return  # a chart outside any lesson (another page): exported one by one only
    state["of"][key] = lesson
    state["lessons"].setdefault(lesson, {})[key] = fig


def lesson_figures(title: str) -> list[tuple[str, object]]:
    """(key, figure) of the lesson, in the order they were shown."""
    return list(_lessons()["lessons"].get(title, {}).items())


def _lesson_zip(figures: dict) -> bytes:
    return figure_export.figures_zip(list(figures.items()))  # read at click time: the latest figures


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "lesson"


def lesson_export(title: str, key: str) -> None:
    """'Export all figures of this lesson' as a zip of SVG and 2x PNG files, rendered when clicked."""
    figures = _lessons()["lessons"].get(title)
    if not figures:
        return
    problem = figure_export.renderer_problem()
    st.download_button(f"Export all figures of this lesson ({len(figures)}: SVG and {figure_export.PNG_SCALE}× PNG, "
                       f".zip)", partial(_lesson_zip, figures), f"{slug(title)}-figures.zip", "application/zip",
                       key=key, on_click="ignore", icon=":material/folder_zip:", disabled=problem is not None,
                       help=problem or "Drawn on the server by a headless Chromium when you click: a few seconds, "
                                       "one file per figure and format, named after the figure's title.")
