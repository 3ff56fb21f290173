"""The Classics page: lists the classics, runs one as a background job, and shows the paper's rows beside
ours (with the lottery figure) from the latest finished run found in the store."""
from __future__ import annotations

import pytest

from compress_core.classics.registry import all_classics, classic_spec
from compress_core.runs import jobs

import chart_helpers
from apptest_helpers import open_page, worker_home


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "classics_home") as (home, _):
        yield home




def test_the_page_lists_every_classic_and_says_what_differs(home):
    at = open_page("classics")
    picker = at.selectbox(key="classics_name")
    assert list(picker.options) == [c.label for c in all_classics()]
    assert any("What differs here" in i.value for i in at.info)
    assert any("No finished run of this classic" in i.value for i in at.info)
    assert not at.button(key="classics_run").disabled


def test_run_button_queues_the_preset_and_the_result_shows_beside_the_paper(home):
    at = open_page("classics", classics_name="lottery-ticket", classics_quick=True, classics_seed=1)
    at.button(key="classics_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    runs = jobs.open_store(home).list_runs(kind="lottery")
    assert len(runs) == 1
    expected = classic_spec("lottery-ticket", seed=1, quick=True).to_dict()
    assert runs[0]["spec"] == expected
    assert jobs.wait(runs[0]["id"], home, timeout=900)["status"] == "finished"

    at = open_page("classics", classics_name="lottery-ticket")
    assert not at.exception, [e.value for e in at.exception]
    assert any("quick" in c.value and runs[0]["id"] in c.value for c in at.caption)
    table = at.dataframe[0].value
    assert list(table["variant"]) == ["winning ticket", "winning ticket", "random re-init"]
    assert list(table["paper weights_pct"]) == [21.1, 3.6, 21.1]
    assert table["ours weights_pct"].iloc[0] == pytest.approx(25.0, abs=0.5)
    figures = chart_helpers.charts(at)
    assert figures, "the lottery figure"
    assert "Lottery tickets" in figures[0].spec


def test_a_viewer_in_shared_mode_cannot_start_a_classic(home, monkeypatch):
    from compress_core import sharing

    monkeypatch.setenv(sharing.ENV_SHARED, "1")
    monkeypatch.setenv(sharing.ENV_PASSWORD, "pw for the test")
    at = open_page("classics")
    assert at.button(key="classics_run").disabled
