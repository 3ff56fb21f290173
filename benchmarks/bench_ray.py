"""Ray backend figures (issue 16).

1. A 24-run pruning sweep (8 amounts x 3 seeds, lenet300 on digits, 1 fine-tune epoch,
   baselines cached beforehand) on the same 2 CPUs: wall time from submission to the last
   recorded result with the local worker backend (2 workers) and with a local Ray
   (`ray.init(num_cpus=2)`, already started: its start-up is reported apart). Each twice:
   cold (local: worker processes started afresh; Ray: the first sweep after ray.init, its
   worker processes start and import torch) and warm (local: the workers of the previous
   sweep, still idling; Ray: its worker processes reused). Target: Ray <= 1.15x local.
2. A 2-node cluster simulated on this machine (`ray.cluster_utils.Cluster`, 1 CPU each):
   the same sweep; the runs record which node ran them; the second node is removed once
   a run computes on it. Checked: every run finished, each recorded once.

    python benchmarks/bench_ray.py [--levels ...] [--seeds 3] [--skip-cluster]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compress_core.explore import sweep  # noqa: E402
from compress_core.runs import backends, jobs, ray_backend  # noqa: E402
from compress_core.specs import PruneSpec  # noqa: E402

LEVELS = "0.3,0.5,0.6,0.7,0.8,0.9,0.95,0.98"


def base_spec(model: str) -> dict:
    return PruneSpec(model=model, dataset="digits", finetune_epochs=1).to_dict()


def local_sweep(home: Path, levels, seeds: int, model: str, cold: bool = True) -> dict:
    if cold:
        jobs.stop_workers(home)  # workers start afresh (their start and torch import are counted)
    began = time.perf_counter()
    record = sweep.submit_sweep("prune", base_spec(model), levels, seeds, home=home, max_workers=2)
    results = sweep.wait_sweep(record, home, max_workers=2, interval=0.1)
    wall = time.perf_counter() - began
    return {"backend": "local (2 worker processes)", "workers": "cold" if cold else "warm", "runs": len(results), "wall_s": round(wall, 2),
            "finished": sum(r["status"] == "finished" for r in results)}


def ray_sweep(home: Path, levels, seeds: int, model: str, kill=None) -> tuple[dict, list[dict]]:
    """The sweep as Ray tasks driven by this process; `kill(driver, store, ids)` may remove a node mid-way."""
    began = time.perf_counter()
    record = sweep.submit_sweep("prune", base_spec(model), levels, seeds, home=home,
                                backend=backends.get_backend("ray"), start_workers=False)
    ids = [p["run_id"] for p in record["points"]]
    driver = ray_backend.RayDriver(home)
    for run_id in ids:
        driver.submit(run_id, jobs.get(run_id, home)["spec"])
    killed = None
    while driver.refs:
        driver.poll(0.1)
        if kill is not None and killed is None:
            killed = kill(jobs.open_store(home), ids)
    wall = time.perf_counter() - began
    runs = [jobs.get(i, home) for i in ids]
    return ({"backend": "ray", "runs": len(runs), "wall_s": round(wall, 2),
             "finished": sum(r["status"] == "finished" for r in runs), "killed_node": killed}, runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default=LEVELS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--model", default="lenet300")
    parser.add_argument("--skip-cluster", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved warm local/Ray pairs (median reported)")
    args = parser.parse_args()
    import ray

    os.environ[jobs.ENV_IDLE] = "600"  # local workers stay warm between the interleaved sweeps
    levels = sweep.parse_levels(args.levels, "amount")
    print(json.dumps({"cpu_count": os.cpu_count(), "load_avg_1m_at_start": os.getloadavg()[0]}), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        warm = local_sweep(home, levels, args.seeds, args.model)  # trains and caches the seeds' baselines
        print(json.dumps({"warm-up (baselines trained)": warm}), flush=True)
        local_cold = local_sweep(home, levels, args.seeds, args.model, cold=True)
        print(json.dumps(local_cold), flush=True)
        began = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        print(json.dumps({"ray_init_s": round(time.perf_counter() - began, 2)}), flush=True)
        ray_cold, _ = ray_sweep(home, levels, args.seeds, args.model)
        print(json.dumps({**ray_cold, "workers": "cold"}), flush=True)
        warm = {"local": [], "ray": []}
        for _ in range(args.repeats):  # interleaved, so a burst of load on the shared machine hits both
            local_warm = local_sweep(home, levels, args.seeds, args.model, cold=False)
            print(json.dumps(local_warm), flush=True)
            ray_warm, _ = ray_sweep(home, levels, args.seeds, args.model)
            print(json.dumps({**ray_warm, "workers": "warm"}), flush=True)
            warm["local"].append(local_warm["wall_s"])
            warm["ray"].append(ray_warm["wall_s"])
        ray.shutdown()
        jobs.stop_workers(home)
        print(json.dumps({"ratio_ray_over_local_cold": round(ray_cold["wall_s"] / local_cold["wall_s"], 3),
                          "median_warm_s": {k: statistics.median(v) for k, v in warm.items()},
                          "ratio_ray_over_local_warm": round(statistics.median(warm["ray"])
                                                             / statistics.median(warm["local"]), 3),
                          "target": 1.15, "load_avg_1m_at_end": os.getloadavg()[0]}), flush=True)

        if not args.skip_cluster:
            from ray.cluster_utils import Cluster

            cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
            worker = cluster.add_node(num_cpus=1)
            try:
                ray.init(address=cluster.address, log_to_driver=False)
                cluster.wait_for_nodes()
                doomed = ray_backend.node_label(worker.node_ip_address, worker.node_id)

                def kill(store, ids):
                    done_there = [i for i in ids if store.get(i).get("node") == doomed]
                    computing = [i for i in ids if (store.get(i)["progress"] or {}).get("node") == doomed
                                 and store.get(i)["status"] == "running"]
                    if done_there and computing:  # it has finished runs and is computing another: remove it
                        cluster.remove_node(worker)
                        return doomed
                    return None

                result, runs = ray_sweep(home, levels, args.seeds, args.model, kill=kill)
                nodes = collections.Counter(r.get("node") for r in runs)
                ids = [r["id"] for r in runs]
                store = jobs.open_store(home)
                recorded = [r["id"] for r in store.list_runs() if r["id"] in set(ids)]
                print(json.dumps({"cluster": "2 nodes x 1 CPU (ray.cluster_utils.Cluster)", **result,
                                  "runs_per_node": dict(nodes), "recorded_once": len(recorded) == len(set(ids)) == len(ids),
                                  "lost": sum(r["status"] != "finished" for r in runs)}), flush=True)
            finally:
                ray.shutdown()
                cluster.shutdown()
        jobs.stop_workers(home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
