"""The Quantize page with bf16/fp16: a run measured against fp32, and every precision timed side by side."""
from __future__ import annotations

import pytest

from compress_core import fmt
from compress_core.runs import jobs
from ui import common

import chart_helpers
from apptest_helpers import open_page, shown, worker_home

BASELINE_EPOCHS = 3
RUN_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "half_home") as (home, _):
        yield home


def _settle(at, home):
    for run in jobs.open_store(home).list_runs(status=list(common.ACTIVE)):
        assert jobs.wait(run["id"], home, timeout=RUN_TIMEOUT_S)["status"] == "finished"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_bf16_run_and_the_precision_table(home):
    at = _settle(open_page("quantize", quantize_baseline_epochs=BASELINE_EPOCHS), home)
    at.radio(key="quantize_scheme").set_value("bf16").run()
    assert at.radio(key="quantize_granularity").disabled
    assert any("no grid to preview" in i.value for i in at.info)
    at.button(key="quantize_run").click().run()
    assert not at.error, [e.value for e in at.error]
    record = jobs.wait(at.session_state["quantize_run_id"], home, timeout=RUN_TIMEOUT_S)
    assert record["status"] == "finished", record.get("error")
    at.run()
    m = record["metrics"]
    assert record["spec"]["scheme"] == "bf16" and record["spec"]["bits"] == 16
    assert shown(at, "Size quantized") == fmt.size(m["size_half_bytes"])
    assert shown(at, "Speed-up, batch 64") == fmt.ratio(m["speedup_b64"])
    assert any("native bf16 matrix kernels" in i.value for i in at.info)

    charts = len(chart_helpers.charts(at))
    at.button(key="quantize_precisions").click().run()
    assert not at.exception, [e.value for e in at.exception]
    result = at.session_state["quantize_precision_result"]
    forms = {f["name"] for f in result["forms"]}
    assert {"model · torch", "model · torch bf16", "model · torch fp16", "model · int8 onnxruntime"} <= forms
    assert any("Processor: torch CPU capability" in c.value for c in at.caption)
    assert len(chart_helpers.charts(at)) == charts + 1  # the latency-per-precision figure
