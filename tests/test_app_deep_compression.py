"""AppTest of the Deep Compression page: a run started from the page runs in the background and its view shows
the encoded file's size and ratio, the stage table and the size figures, as the engine measured them."""
from __future__ import annotations

import pytest

from compress_core import fmt
from compress_core.measure import catalogue
from compress_core.present import storage
from compress_core.runs import jobs

import chart_helpers
from apptest_helpers import open_page, shown, worker_home

SETTINGS = {"deepc_model": "mlp", "deepc_model_hidden": "24", "deepc_amount": 0.8, "deepc_fc_bits": 4,
            "deepc_finetune_epochs": 1, "deepc_centroid_epochs": 1, "deepc_baseline_epochs": 2}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "deepc_home") as (home, _):
        yield home


def test_a_run_from_the_page_shows_the_file_size_ratio_and_breakdown(home):
    at = open_page("deep_compression", **SETTINGS)
    at.button(key="deepc_run").click().run()
    assert not at.error, [e.value for e in at.error]
    record = jobs.wait(at.session_state["deepc_run_id"], home, timeout=240)
    assert record["status"] == "finished", record.get("error")
    assert record["spec"]["fc_bits"] == 4 and record["spec"]["hidden"] == [24]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    m = record["metrics"]
    assert shown(at, "Encoded file") == fmt.size(m["size_encoded_bytes"])
    assert shown(at, "Smaller by") == fmt.ratio(m["compression_ratio"])
    stages = [d.value for d in at.dataframe if {"form", "smaller by"} <= set(d.value.columns)][0]
    assert list(stages["form"])[-3:] == ["pruning", "+ weight sharing", "+ Huffman"]
    assert list(stages["size"])[-1] == fmt.size(m["size_encoded_bytes"])
    charts = {c.id for c in chart_helpers.charts(at)}
    assert len(charts) == 2
    parts = storage.breakdown(m)
    assert sum(parts.values()) == m["size_encoded_bytes"] and parts["values"] > 0

    # Compare shows it beside other runs: the stages as text, the ratio in its column
    at = open_page("compare", compare_runs=[record["id"]])
    metrics = at.dataframe[0].value
    assert metrics["smaller by (×)"].iloc[0] == pytest.approx(m["compression_ratio"])
    assert "+ Huffman" in metrics[catalogue.column_title("stages")].iloc[0]
