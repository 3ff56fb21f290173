"""The model source choice in the browser: a local factory from <home>/models, its summary, a run."""

import pytest

from apptest_helpers import open_page, shown, worker_home
from byom_helpers import FACTORY_SOURCE
from compress_core.runs import jobs
from ui import model_source

RUN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "byom_app_home") as (home, _):
        (home / "models").mkdir()
        (home / "models" / "mine.py").write_text(FACTORY_SOURCE)
        yield home


def test_local_factories_are_listed_by_parsing_not_importing(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "a.py").write_text("raise SystemExit('imported!')\ndef build():\n    pass\ndef _hidden():\n    pass\n")
    (tmp_path / "models" / "broken.py").write_text("def (:\n")
    assert model_source.local_factories(tmp_path) == [f"{tmp_path / 'models' / 'a.py'}:build"]


def test_model_uploads_are_checked_and_named_by_content(tmp_path):
    with pytest.raises(Exception, match="allowed: .onnx, .pt2"):
        model_source.check_model_upload("m.pth", b"x")
    with pytest.raises(Exception, match="is empty"):
        model_source.check_model_upload("m.onnx", b"")
    path = model_source.save_model_upload(b"abc", ".onnx", tmp_path)
    import hashlib

    assert path == tmp_path / "uploads" / "models" / f"{hashlib.sha256(b'abc').hexdigest()}.onnx"
    assert path.read_bytes() == b"abc"


def test_prune_page_runs_a_local_factory_after_showing_its_summary(home):
    at = open_page("prune", prune_model_source="local factory", prune_baseline_epochs=2, prune_epochs=1)
    assert not at.error, [e.value for e in at.error]
    assert any("Local code" in w.value for w in at.warning)
    assert shown(at, "Parameters") == f"{80 + 16 + 584 + 8 * 64 * 10 + 10:,}"  # conv 1->8, bn, conv 8->8, linear 512->10
    assert any("trained here first" in c.value for c in at.caption)
    # the preview needs the baseline: it trains in the background first
    for run in jobs.open_store(home).list_runs(status=["queued", "running"]):
        assert jobs.wait(run["id"], home, timeout=RUN_TIMEOUT_S)["status"] == "finished"
    at.run()
    assert not jobs.open_store(home).list_runs(status=["queued", "running"])  # found in the cache: trained once
    assert len(jobs.open_store(home).list_runs(kind="train")) == 1
    at.button(key="prune_run").click().run()
    assert not at.error, [e.value for e in at.error]
    record = jobs.wait(at.session_state["prune_run_id"], home, timeout=RUN_TIMEOUT_S)
    assert record["status"] == "finished", record.get("error")
    assert record["spec"]["model"] == f"{home / 'models' / 'mine.py'}:build"
    assert record["metrics"]["sparsity"] > 0.4
