"""The run pages' device select box: auto, cpu and every GPU; the choice reaches the run's spec."""
from __future__ import annotations

import pytest
import torch

from compress_core.runs import jobs
from compress_core.specs import PruneSpec

from apptest_helpers import open_page, worker_home

BASELINE_EPOCHS = 2


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "device_home") as (home, _):
        yield home


@pytest.mark.parametrize("page", ["prune", "distill", "quantize"])
def test_every_run_page_offers_the_devices_of_this_machine(home, page):
    at = open_page(page)
    box = at.selectbox(key=f"{page}_device")
    assert box.value == "auto"
    gpus = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    assert list(box.options) == ["auto (cuda:0)" if gpus else "auto (cpu)", "cpu",
                                 *[o for o in box.options if o.startswith("cuda:")]]
    assert len(box.options) == 2 + len(gpus)


def test_the_chosen_device_is_in_the_run_spec(home):
    at = open_page("prune", prune_baseline_epochs=BASELINE_EPOCHS, prune_epochs=1, prune_amount=60, prune_device="cpu")
    for run in jobs.open_store(home).list_runs(status=["queued", "running"]):
        assert jobs.wait(run["id"], home, timeout=240)["status"] == "finished"
    at.run()
    at.button(key="prune_run").click().run()
    assert not at.error, [e.value for e in at.error]
    record = jobs.wait(at.session_state["prune_run_id"], home, timeout=240)
    assert record["status"] == "finished", record.get("error")
    assert record["spec"] == PruneSpec(amount=0.6, finetune_epochs=1, baseline_epochs=BASELINE_EPOCHS,
                                       device="cpu").to_dict()
    assert record["environment"]["device"] == "cpu"
