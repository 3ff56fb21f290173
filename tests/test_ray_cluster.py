"""A node dies mid-sweep (ray.cluster_utils.Cluster, two nodes on this machine): no run lost, none twice."""
import time

import pytest

from compress_core.runs import jobs, ray_backend
from compress_core.specs import PruneSpec

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")


@pytest.mark.slow
def test_killing_a_node_mid_sweep_loses_no_run_and_records_none_twice(tmp_path):
    if ray.is_initialized():
        ray.shutdown()
    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    worker = cluster.add_node(num_cpus=1)
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes()
        home = tmp_path / "home"
        specs = [PruneSpec(model="mlp", hidden=[16], dataset="digits", amount=a, finetune_epochs=25,
                           baseline_epochs=1).to_dict() for a in (0.3, 0.5, 0.7, 0.9)]
        ids = [ray_backend.create_run(spec, home) for spec in specs]
        driver = ray_backend.RayDriver(home, max_retries=2)
        for run_id, spec in zip(ids, specs):
            driver.submit(run_id, spec)
        doomed = ray_backend.node_label(worker.node_ip_address, worker.node_id)
        store = jobs.open_store(home)
        deadline = time.monotonic() + 180
        while not any((store.get(i)["progress"] or {}).get("node") == doomed for i in ids):
            driver.poll(0.1)  # wait until a run really computes on the worker node
            assert driver.refs and time.monotonic() < deadline, "no run started on the second node"
        on_doomed = [i for i in ids if (store.get(i)["progress"] or {}).get("node") == doomed]
        cluster.remove_node(worker)
        while driver.refs:
            driver.poll(0.2)
            assert time.monotonic() < deadline + 240
        runs = [store.get(i) for i in ids]
        assert store.count() == len(ids)  # nothing recorded twice
        assert all(r["status"] in ("finished", "interrupted") for r in runs)
        assert all(r["status"] == "finished" for r in runs), [r.get("error") for r in runs]  # retried elsewhere
        retried = [store.get(i)["node"] for i in on_doomed]
        assert retried and doomed not in retried  # the runs lost with the node finished on the head node
    finally:
        ray.shutdown()
        cluster.shutdown()
