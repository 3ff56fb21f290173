"""AppTest of lecture mode (ui/lecture.py) and of the Learn page's figure export menus (ui/figures.py).

Lecture mode comes from the URL (?lecture=1) or the sidebar toggle, shows one Learn section at a time
with Previous/Next and a picker (the section kept in the URL), hides secondary controls, closes
expanders and enlarges text and chart fonts on every page. Normal mode keeps its tabs and gets an
export menu under each figure and one zip button per lesson.
"""
from __future__ import annotations

import io
import zipfile

import pytest
from streamlit.testing.v1 import AppTest

from compress_core.present import figure_export, teach
from compress_core.specs import TrainSpec

import chart_helpers
from apptest_helpers import APP, open_tab, worker_home

LESSON_SPEC = TrainSpec(model="lenet300", dataset="digits", epochs=3)
FIRST_CHARTS = ["learn_prune_hist", "learn_prune_units"]  # the first section, "Pruning: magnitude pruning"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "lecture_home") as (home, mp):
        mp.setattr(teach, "TEACHING_SPEC", LESSON_SPEC)
        yield home


def open_learn(home, **query) -> AppTest:
    """The Learn page opened from a link with `query` (e.g. lecture="1")."""
    at = AppTest.from_file(APP, default_timeout=120)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    at.switch_page("pages/learn.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at: AppTest) -> list[str]:
    return [c.key for c in chart_helpers.charts(at)]


def chart_spec(at: AppTest, key: str) -> dict:
    return chart_helpers.figure(at, key)


def downloads(at: AppTest) -> list[str]:
    return [b.proto.id.split("-", 2)[-1] for b in at.get("download_button")]


def styles(at: AppTest) -> str:
    return "".join(h.proto.body for h in at.get("html"))


@pytest.fixture(scope="module")
def lecture(home) -> AppTest:
    return open_learn(home, lecture="1")


def test_a_lecture_link_shows_one_section(lecture):
    assert lecture.sidebar.toggle(key="lecture_mode").value is True
    assert charts(lecture) == FIRST_CHARTS  # the first section only: no other lesson's figure
    assert not lecture.tabs
    assert lecture.selectbox(key="learn_lecture_section").value == 0
    assert lecture.button(key="learn_lecture_prev").disabled and not lecture.button(key="learn_lecture_next").disabled
    assert lecture.query_params["lecture"] == "1" and lecture.query_params["section"] == "1"
    assert "font-size: 22px" in styles(lecture)
    assert chart_spec(lecture, "learn_prune_hist")["layout"]["font"]["size"] == 18


def test_lecture_mode_hides_secondary_controls(lecture):
    keys = [b.key for b in lecture.button]
    assert "learn_prune_try" not in keys  # "try it on a real run" is for self-study
    assert not [k for k in downloads(lecture) if k.endswith(("_svg", "_png"))]  # no per-figure export menus
    assert "learn_zip_pruning-magnitude-pruning" in downloads(lecture)  # the lesson's zip stays


def test_next_previous_and_the_picker_move_through_the_sections(home):
    at = open_learn(home, lecture="1")
    at.button(key="learn_lecture_next").click().run()
    assert not at.exception
    assert at.selectbox(key="learn_lecture_section").value == 1
    assert "learn_struct_speed" in charts(at) and not set(FIRST_CHARTS) & set(charts(at))
    assert at.query_params["section"] == "2"
    at.button(key="learn_lecture_bottom_prev").click().run()  # the bar under the section works the same
    assert charts(at) == FIRST_CHARTS
    titles = at.selectbox(key="learn_lecture_section").options
    quantization = next(i for i, t in enumerate(titles) if t.endswith("· Quantization"))
    at.selectbox(key="learn_lecture_section").set_value(quantization).run()
    assert {"learn_q_grid", "learn_q_levels"} <= set(charts(at)) and "learn_prune_hist" not in charts(at)
    last = len(titles) - 1
    at.selectbox(key="learn_lecture_section").set_value(last).run()
    assert titles[last].endswith("Compressing attention") and at.button(key="learn_lecture_next").disabled
    assert not at.exception


def test_a_link_to_a_section_opens_it_and_expanders_are_closed(home):
    at = open_learn(home, lecture="1", section="9")  # the 9th section: after 4 pruning, 1 gradual, 2 distillation, 1 quantization
    assert at.selectbox(key="learn_lecture_section").options[8].endswith("Questions people ask")
    assert at.selectbox(key="learn_lecture_section").value == 8
    assert at.expander and not any(e.proto.expanded for e in at.expander)
    assert not open_learn(home, lecture="1", section="zz").exception  # a bad section number: the first one


def test_normal_mode_is_the_tabbed_page_with_export_menus(home):
    at = open_learn(home)
    assert at.sidebar.toggle(key="lecture_mode").value is False
    assert [t.label for t in at.tabs] == ["Pruning", "Structured pruning", "Lottery tickets", "Pruning damage",
                                          "Gradual pruning", "Distillation", "Quantization", "Questions people ask",
                                          "Compressing attention"]
    assert {"learn_prune_hist", "learn_prune_units"} <= set(charts(at))  # the first tab, open
    assert "learn_struct_speed" not in charts(at)  # the next pruning lesson has its own tab
    assert not {"learn_q_grid", "learn_kd_soft"} & set(charts(at))  # the closed tabs are not drawn
    assert "learn_prune_try" in [b.key for b in at.button]
    assert "font-size: 22px" not in styles(at) and "lecture" not in at.query_params
    shown = downloads(at)
    assert {"learn_prune_hist_svg", "learn_prune_hist_png"} <= set(shown)
    assert "learn_zip_pruning-magnitude-pruning" in shown
    open_tab(at, "Quantization")
    assert "learn_q_grid" in charts(at) and "learn_prune_hist" not in charts(at)
    assert "learn_q_grid_svg" in downloads(at) and "learn_zip_quantization" in downloads(at)
    assert "learn_kd_soft" in charts(open_tab(at, "Distillation"))
    open_tab(at, "Questions people ask")
    assert not any(e.proto.expanded is False for e in at.expander[:2])  # the FAQ's first answers stay open


def test_the_toggle_switches_modes_and_the_url(home):
    at = open_learn(home)
    at.sidebar.toggle(key="lecture_mode").set_value(True).run()
    assert charts(at) == FIRST_CHARTS and at.query_params["lecture"] == "1"
    at.run()
    assert charts(at) == FIRST_CHARTS  # it stays on: the mode is kept apart from the toggle's widget state
    # (AppTest reruns a page it switched to without app.py, so without the sidebar: switch off from a fresh view)
    at = open_learn(home, lecture="1")
    at.sidebar.toggle(key="lecture_mode").set_value(False).run()
    assert len(at.tabs) == 9 and "lecture" not in at.query_params and "section" not in at.query_params


def test_other_pages_get_the_larger_fonts(home):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["lecture"] = "1"
    at.run()
    assert not at.exception and "font-size: 22px" in styles(at)  # the Home page
    at.switch_page("pages/quantize.py").run()
    assert not at.exception and "font-size: 22px" in styles(at) and at.sidebar.toggle(key="lecture_mode").value


def test_each_lesson_lists_its_own_figures_in_page_order(home):
    at = open_learn(home)
    lessons = at.session_state["_figures_lessons"]["lessons"]
    assert list(lessons["Pruning: magnitude pruning"]) == FIRST_CHARTS
    pruning = [key for title, figs in lessons.items() if title.startswith("Pruning:") for key in figs]
    assert set(pruning) <= set(charts(at))
    open_tab(at, "Quantization")  # only the open tab's lessons are drawn: its lessons' figures now
    lessons = at.session_state["_figures_lessons"]["lessons"]
    quantization = list(lessons["Quantization"])
    assert quantization[:4] == ["learn_q_grid", "learn_q_error", "learn_q_accuracy", "learn_q_levels"]
    assert "learn_qa_grid" in quantization[4:]  # the zero-point/calibration sections (ui/learn_quantization.py) too
    assert set(quantization) <= set(charts(at))
    every = [key for figs in lessons.values() for key in figs]
    assert len(every) == len(set(every))


@pytest.mark.skipif(figure_export.renderer_problem() is not None,
                    reason=f"no figure renderer here: {figure_export.renderer_problem()}")
def test_a_lessons_zip_holds_its_figures_in_both_formats(home):
    at = open_learn(home)
    figures = list(at.session_state["_figures_lessons"]["lessons"]["Pruning: magnitude pruning"].items())
    with zipfile.ZipFile(io.BytesIO(figure_export.figures_zip(figures))) as archive:
        names = archive.namelist()
    assert len(names) == 2 * len(FIRST_CHARTS)
    assert [n.rsplit(".", 1)[1] for n in names] == ["svg", "png"] * len(FIRST_CHARTS)
    assert names[0].startswith("01-") and names[2].startswith("02-") and len(names[0]) > len("01-.svg") + 3
