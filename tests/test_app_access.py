"""Shared mode: what a viewer sees and cannot do on every page, operator sign-in, and the caps.

One module-wide home in shared mode (`COMPRESS_LAB_SHARED=1`) with one finished prune run
(made through the engine, as an operator's CLI would).
"""
from __future__ import annotations

import pytest

from compress_core.errors import CompressError
from compress_core.runs import jobs
from compress_core.specs import PruneSpec
from compress_core import sharing
from ui import access, common

from apptest_helpers import open_page, worker_home

BASELINE_EPOCHS = 3
PASSWORD = "correct horse battery staple"
PAGES = ["home", "learn", "prune", "distill", "quantize", "deep_compression", "planner", "runs", "sweep",
         "sensitivity", "compare", "report", "classics"]
# buttons that start, cancel or delete work, by page: disabled (or absent) for a viewer
ACTION_BUTTONS = {
    "prune": ["prune_run"], "distill": ["distill_run"], "quantize": ["quantize_run", "quantize_sweep"],
    "runs": ["runs_cancel", "runs_delete"], "sweep": ["sweep_submit", "sweep_cancel"],
    "sensitivity": ["sens_run", "sens_run_prune"], "deep_compression": ["deepc_run"], "classics": ["classics_run"],
    "planner": ["planner_predict", "planner_run"],
}
PRESETS = {f"{p}_baseline_epochs": BASELINE_EPOCHS for p in ("prune", "distill", "quantize", "sens", "deepc", "planner")}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "access_home") as (home, mp):
        mp.setenv(sharing.ENV_SHARED, "1")
        mp.setenv(sharing.ENV_PASSWORD, PASSWORD)
        run_id = jobs.submit(PruneSpec(amount=0.5, finetune_epochs=1, baseline_epochs=BASELINE_EPOCHS).to_dict(),
                             home)
        assert jobs.wait(run_id, home, timeout=240)["status"] == "finished"
        yield home


@pytest.fixture(autouse=True)
def _fresh_rate_limit():
    access._failures.clear()
    yield
    access._failures.clear()


def texts(at) -> str:
    return " ".join(str(e.value) for kind in ("info", "error", "caption", "markdown") for e in at.get(kind))


def action_buttons(at, page: str) -> dict:
    keys = {b.key: b for b in at.button if b.key}
    return {k: keys[k] for k in ACTION_BUTTONS.get(page, []) if k in keys}


def sign_in(at, password: str):
    at.text_input(key="access_password").input(password)
    at.button(key="access_sign_in").click().run()
    return at


@pytest.mark.parametrize("page", PAGES)
def test_a_viewer_sees_every_page_but_cannot_start_cancel_or_delete(home, page):
    queued_before = len(jobs.open_store(home).list_runs(status=list(common.ACTIVE)))
    at = open_page(page, **PRESETS)
    assert not at.exception, [e.value for e in at.exception]
    assert "Viewer: shared lab" in texts(at)
    buttons = action_buttons(at, page)
    assert all(b.disabled for b in buttons.values()), {k: b.disabled for k, b in buttons.items()}
    if page in ACTION_BUTTONS:
        assert access.VIEWER_LINE in texts(at)  # the line that says why
    # looking queues nothing (not even a baseline training)
    assert len(jobs.open_store(home).list_runs(status=list(common.ACTIVE))) == queued_before


def test_a_viewer_moves_preview_sliders(home):
    at = open_page("prune", **PRESETS)
    at.slider(key="prune_amount").set_value(0.8).run()
    assert not at.exception and not at.error, [e.value for e in at.error]


def test_a_viewer_cannot_upload(home):
    at = open_page("prune", **PRESETS)
    at.selectbox(key="prune_dataset").set_value(common.UPLOAD).run()
    assert not at.get("file_uploader")
    assert access.VIEWER_LINE in texts(at)


def test_operator_signs_in_with_the_password_and_may_act(home):
    at = open_page("runs")
    assert all(b.disabled for b in action_buttons(at, "runs").values())
    sign_in(at, PASSWORD)
    assert not at.exception
    assert "Operator" in texts(at)
    assert not at.button(key="runs_delete").disabled  # the finished run may now be deleted
    at.switch_page("pages/prune.py").run()
    assert not at.button(key="prune_run").disabled
    next(b for b in at.button if b.key == "access_sign_out").click().run()
    assert at.button(key="prune_run").disabled


def test_wrong_passwords_are_rate_limited(home):
    at = open_page("home")
    for _ in range(access.SESSION_MAX_FAILURES):
        sign_in(at, "guess")
        assert "Wrong password." in texts(at)
    sign_in(at, PASSWORD)  # even the right password waits now
    assert "Too many wrong passwords" in texts(at)
    assert "Viewer: shared lab" in texts(at)


def test_rate_limit_is_shared_by_all_sessions_and_expires(monkeypatch):
    monkeypatch.setenv(sharing.ENV_PASSWORD, PASSWORD)
    for session in [[] for _ in range(access.MAX_FAILURES)]:
        assert access.check_password("guess", session, now=100.0) == (False, "Wrong password.")
    ok, message = access.check_password(PASSWORD, [], now=101.0)  # a fresh session is limited too
    assert not ok and "Too many wrong passwords" in message
    assert access.check_password(PASSWORD, [], now=100.0 + access.FAILURE_WINDOW_S + 1)[0]


def test_no_password_configured_means_no_password_sign_in(monkeypatch):
    monkeypatch.delenv(sharing.ENV_PASSWORD, raising=False)
    ok, message = access.check_password("", [])
    assert not ok and sharing.ENV_PASSWORD in message


def test_local_use_without_shared_mode_is_unchanged(home, monkeypatch):
    monkeypatch.delenv(sharing.ENV_SHARED)
    at = open_page("runs")
    assert "Viewer: shared lab" not in texts(at)
    assert not at.button(key="runs_delete").disabled


# ---------------------------------------------------------------- caps


def test_global_queue_cap_refuses_in_the_engine(home, monkeypatch):
    monkeypatch.setenv("COMPRESS_LAB_MAX_QUEUED", "0")
    with pytest.raises(CompressError, match=r"refused: the queue is full: runs already waiting \(0\); the limit is 0 "
                                            r"\(set COMPRESS_LAB_MAX_QUEUED"):
        jobs.submit(PruneSpec(amount=0.5).to_dict(), home, start_workers=False)


def test_per_session_cap_names_its_limit(home, monkeypatch):
    monkeypatch.setenv("COMPRESS_LAB_MAX_SESSION_RUNS", "1")
    at = open_page("prune", **PRESETS, prune_finetune_epochs=200)
    sign_in(at, PASSWORD)
    at.button(key="prune_run").click().run()
    first = at.session_state["prune_run_id"]
    at.button(key="prune_run").click().run()
    assert any("limit is 1 (set COMPRESS_LAB_MAX_SESSION_RUNS" in e.value for e in at.error), \
        [e.value for e in at.error]
    assert at.session_state["prune_run_id"] == first
    jobs.cancel(first, home)
    jobs.wait(first, home, timeout=60)


def test_upload_caps(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPRESS_LAB_MAX_SESSION_UPLOAD_MB", "1")
    with pytest.raises(CompressError, match="limit is 1 MB per session"):
        sharing.check_upload_quota(600_000, 600_000, tmp_path)
    (tmp_path / "old.csv").write_bytes(b"0" * 900_000)
    monkeypatch.setenv("COMPRESS_LAB_MAX_UPLOADS_MB", "1")
    with pytest.raises(CompressError, match="limit is 1 MB in total"):
        sharing.check_upload_quota(200_000, 0, tmp_path)
    sharing.check_upload_quota(100_000, 0, tmp_path)


def test_workers_are_bounded_by_the_cores(monkeypatch):
    import os

    monkeypatch.setenv(jobs.ENV_WORKERS, "512")
    assert jobs.default_max_workers() == (os.cpu_count() or 512)


# ---------------------------------------------------------------- permalinks


def open_with_query(page: str, **params):
    from streamlit.testing.v1 import AppTest

    from apptest_helpers import APP

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_run_permalink_opens_that_run_and_unknown_ids_get_one_line(home):
    if len(jobs.open_store(home).list_runs(status="finished")) < 2:
        jobs.record_foreground({"kind": "train", "model": "mlp", "hidden": [8], "epochs": 1}, home=home)
    finished = [r["id"] for r in jobs.open_store(home).list_runs(status="finished")]
    assert len(finished) >= 2
    target = finished[-1]  # not the newest: the link, not the default, chose it
    at = open_with_query("runs", run=target)
    assert at.selectbox(key="runs_selected").value == target
    assert any(f"runs?run={target}" in c.value for c in at.code)
    at = open_with_query("runs", run="r20000101-000000-deadbeef")
    assert len(at.warning) == 1 and "does not have" in at.warning[0].value


def test_compare_and_report_permalinks(home):
    finished = [r["id"] for r in jobs.open_store(home).list_runs(status="finished")]
    at = open_with_query("compare", compare=f"{finished[-1]},r20000101-000000-deadbeef")
    assert at.multiselect(key="compare_runs").value == [finished[-1]]
    assert any("does not have" in w.value for w in at.warning)
    at = open_with_query("report", report=finished[-1])
    assert at.multiselect(key="report_runs").value == [finished[-1]]
