"""The Ray backend on a local Ray (2 CPUs): submit, progress, cancel, a failing run, bad input, the store after.

One Ray for the module (starting one costs seconds). The runs are tiny (an mlp with 16 hidden
units on digits) so a real run ends in seconds; the cancel test uses a long fine-tune instead.
"""
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from compress_core.errors import CompressError
from compress_core.runs import backends, jobs, ray_backend
from compress_core.specs import PruneSpec

ray = pytest.importorskip("ray")


def quick_spec(amount=0.5, finetune_epochs=1, seed=0):
    return PruneSpec(model="mlp", hidden=[16], dataset="digits", amount=amount, finetune_epochs=finetune_epochs,
                     baseline_epochs=1, seed=seed).to_dict()


@pytest.fixture(scope="module")
def local_ray():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


def test_sweep_on_ray_records_every_run_once_with_its_node_and_progress(local_ray, home):
    from compress_core.explore import sweep

    backend = backends.get_backend("ray")
    record = sweep.submit_sweep("prune", quick_spec(), [0.5, 0.9], 1, home=home, backend=backend,
                                start_workers=False)
    ids = [p["run_id"] for p in record["points"]]
    store = jobs.open_store(home)
    assert [store.get(i)["status"] for i in ids] == ["running", "running"]  # never queued: no local worker takes them
    driver = ray_backend.RayDriver(home)
    for run_id in ids:
        driver.submit(run_id, store.get(run_id)["spec"])
    seen = {run_id: [] for run_id in ids}
    while driver.refs:
        driver.poll(0.1)
        for run_id in ids:
            progress = store.get(run_id)["progress"]
            if progress and progress not in seen[run_id]:
                seen[run_id].append(progress)
    nodes = {n["node"] for n in ray_backend.cluster_info()["nodes"]}
    for run_id in ids:
        run = store.get(run_id)
        assert run["status"] == "finished", run.get("error")
        assert run["node"] in nodes
        assert run["metrics"]["sparsity"] > 0.4
        stages = [p.get("stage") for p in seen[run_id]]
        assert "waiting for a Ray node" in stages and any(p.get("node") == run["node"] for p in seen[run_id])
        assert any(p.get("total") for p in seen[run_id])  # the engine's own events made it to the store
        assert (store.artifacts_root / run_id).is_dir()
    assert store.count() == 2 and driver.outcome == {i: "finished" for i in ids}
    points = sweep.sweep_points(record, home)
    assert list(points["status"]) == ["finished", "finished"]


def test_a_run_that_raises_fails_with_its_message(local_ray, home):
    spec = {**quick_spec(), "dataset": str(home / "missing.csv")}
    run_id = ray_backend.create_run(spec, home)
    outcome = ray_backend.drive([run_id], home)
    run = jobs.get(run_id, home)
    assert outcome == {run_id: "failed"} and run["status"] == "failed"
    assert "missing.csv" in run["error"] and "\n" not in run["error"]


def running_ray_run(home, before=(None, "waiting for a Ray node")):
    """A long prune run submitted to a new driver, once its task has sent a stage not in `before`: (run id, driver)."""
    run_id = ray_backend.create_run(quick_spec(finetune_epochs=400), home)
    driver = ray_backend.RayDriver(home)
    driver.submit(run_id, jobs.get(run_id, home)["spec"])
    deadline = time.monotonic() + 120
    while (jobs.get(run_id, home)["progress"] or {}).get("stage") in before:
        driver.poll(0.1)  # wait until the task really runs on a node
        assert time.monotonic() < deadline
    return run_id, driver


def poll_until_ended(driver) -> float:
    """Poll `driver` until none of its tasks is left; the seconds that took."""
    began = time.monotonic()
    while driver.refs:
        driver.poll(0.1)
    return time.monotonic() - began


def test_cancel_in_the_store_cancels_the_ray_task(local_ray, home):
    run_id, driver = running_ray_run(home)
    assert jobs.cancel(run_id, home) == "running"  # what the browser's and the CLI's cancel do
    assert poll_until_ended(driver) < 30
    assert jobs.get(run_id, home)["status"] == "cancelled" and driver.outcome[run_id] == "cancelled"


def test_a_cancel_stops_the_task_through_its_progress_callback(local_ray, home, monkeypatch):
    """The task's own progress callback asks the events actor (seen in the suite: ray.cancel's interrupt was lost and
    the run finished its 400 epochs); here no ray.cancel reaches it at all."""
    import ray

    monkeypatch.setattr(ray, "cancel", lambda *args, **kwargs: None)  # the forced stop never comes either
    run_id, driver = running_ray_run(home, before=(None, "waiting for a Ray node", "started"))
    jobs.cancel(run_id, home)
    assert poll_until_ended(driver) < 30
    assert jobs.get(run_id, home)["status"] == "cancelled" and driver.outcome[run_id] == "cancelled"


def test_a_task_that_does_not_hear_the_cancel_is_stopped_by_force(local_ray, home, monkeypatch):
    """After jobs.CANCEL_GRACE_S without the task acting on it, the driver stops the task's worker process."""
    import ray

    forced = []
    real_cancel = ray.cancel
    monkeypatch.setattr(ray, "cancel", lambda ref, **kwargs: (forced.append(kwargs), real_cancel(ref, **kwargs)))
    run_id, driver = running_ray_run(home, before=(None, "waiting for a Ray node", "started"))

    class Deaf:
        """The driver's handle on the events actor, minus the message that tells the task."""

        cancel = SimpleNamespace(remote=lambda *args: None)

        def __init__(self, actor):
            self.actor = actor

        def __getattr__(self, name):
            return getattr(self.actor, name)

    driver.events = Deaf(driver.events)
    jobs.cancel(run_id, home)
    assert poll_until_ended(driver) < 30
    assert jobs.get(run_id, home)["status"] == "cancelled" and driver.outcome[run_id] == "cancelled"
    assert forced == [{"force": True}]


def test_a_run_asking_for_a_gpu_the_cluster_lacks_fails_clearly(local_ray, home):
    run_id = ray_backend.create_run({**quick_spec(), "device": "cuda"}, home)
    began = time.monotonic()
    ray_backend.drive([run_id], home)
    run = jobs.get(run_id, home)
    assert time.monotonic() - began < 10
    assert run["status"] == "failed" and "no node of the Ray cluster has 1 CPU and 1 GPU" in run["error"]
    assert "\n" not in run["error"]


def test_single_run_json_is_the_local_one_plus_node(local_ray, home):
    result = ray_backend.run_foreground(quick_spec(), home)
    local = jobs.record_foreground(quick_spec(), home)
    assert set(result) - set(local) == {"node"}
    assert result["status"] == local["status"] == "finished"
    assert jobs.get(result["id"], home)["node"] == result["node"]


def test_sensitivity_per_layer_tasks_match_the_local_scan(local_ray, home):
    from compress_core.context import RunContext
    from compress_core.explore.sensitivity import run_sensitivity
    from compress_core.specs import TrainSpec

    spec = TrainSpec(model="mlp", hidden=[16], dataset="digits", epochs=1)
    table, nodes = ray_backend.sensitivity_scan(spec, [0.5, 0.9], home)
    local = run_sensitivity(spec, [0.5, 0.9], RunContext.create(home=home))
    assert table.to_dict(orient="records") == local.to_dict(orient="records")
    assert set(nodes) == set(local["layer"])


def test_unreachable_address_is_one_line_within_10_s(home):
    began = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "compress_core", "prune", "--model", "mlp", "--amount", "0.5",
                           "--home", str(home), "--backend", "ray", "--ray-address", "ray://127.0.0.1:9"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: cannot reach the Ray cluster at 'ray://127.0.0.1:9'")
    assert proc.stderr.count("\n") == 1
    assert time.monotonic() - began < 10 + 8  # + the CLI's own start (imports torch); the probe itself is 5 s at most
    assert not (home / "runs.sqlite").exists() or jobs.open_store(home).count() == 0  # nothing recorded


@pytest.mark.parametrize("address", ["nowhere", "ray://host", "ray://h:99999", "http://h:1/x"])
def test_bad_address_names_the_allowed_forms(address):
    with pytest.raises(CompressError, match="must be auto, local, ray://host:port or host:port"):
        ray_backend.resolve_address(address)


def test_without_ray_the_option_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(ray_backend, "available", lambda: False)
    with pytest.raises(CompressError, match=r"pip install -r requirements-optional.txt"):
        backends.get_backend("ray")
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    with pytest.raises(CompressError, match=r"^the ray backend needs Ray: pip install"):
        ray_backend.require_ray()
    assert isinstance(backends.get_backend("local"), backends.LocalBackend)  # the default goes on working
    with pytest.raises(CompressError, match="backend must be one of local, ray"):
        backends.get_backend("dask")


def _backend_setting():
    from ui.backend import setting

    setting()


def test_backend_setting_shows_the_cluster_and_sends_runs_there(local_ray, home, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from ui import backend as backend_ui

    at = AppTest.from_function(_backend_setting).run(timeout=60)
    assert at.sidebar.radio(key="backend_choice").value == "local" and not at.sidebar.caption
    at.sidebar.radio(key="backend_choice").set_value("ray").run(timeout=60)
    assert not at.sidebar.error
    assert "1 node(s) · 2 CPUs" in at.sidebar.caption[0].value
    monkeypatch.setattr(backend_ui.st, "session_state", {"backend_choice": "ray"})
    chosen = backend_ui.chosen()  # what the Sweeps page and the single-run pages submit with
    assert isinstance(chosen, backends.RayBackend) and chosen.address == "auto"
    monkeypatch.setattr(ray_backend, "available", lambda: False)
    at.run(timeout=60)
    assert at.sidebar.error[0].value.startswith("the ray backend needs Ray: pip install")


@pytest.mark.slow
def test_a_detached_driver_runs_what_the_browser_submitted(local_ray, home):
    """The browser's way: records created by the page, a driver process of their own (it outlives reruns)."""
    backend = backends.RayBackend(address=local_ray.get_runtime_context().gcs_address)
    run_id = backend.create(quick_spec(), home)
    backend.start([run_id], home)
    deadline = time.monotonic() + 180
    while jobs.get(run_id, home)["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    run = jobs.get(run_id, home)
    assert run["status"] == "finished", run.get("error")
    assert run["node"] and run["owner_pid"] != __import__("os").getpid()  # the driver process recorded it
