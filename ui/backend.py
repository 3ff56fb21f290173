"""The job backend setting (sidebar): local worker processes or a Ray cluster, for every page that runs things.

With Ray chosen, the sidebar shows the cluster's nodes, CPUs, GPUs and free resources; the
single-run pages (`common.submit`), Sweeps and Sensitivity then send their work there. Without
Ray installed the setting says in one line how to install it, and local stays in use.
"""
from __future__ import annotations

import streamlit as st

from compress_core.errors import CompressError
from compress_core.runs import ray_backend
from compress_core.runs.backends import RayBackend

CHOICE_KEY = "backend_choice"
ADDRESS_KEY = "backend_ray_address"
LABELS = {"local": "This machine (worker processes)", "ray": "Ray cluster"}


def setting(where=None) -> None:
    """Draw the setting (in the sidebar by default) and, for Ray, the cluster's resources."""
    where = where or st.sidebar
    choice = where.radio("Runs execute on", list(LABELS), format_func=LABELS.get, key=CHOICE_KEY,
                         help="Sweeps, sensitivity scans and single runs; the Runs page shows both alike")
    if choice != "ray":
        return
    if not ray_backend.available():
        where.error(ray_backend.INSTALL_HINT)
        return
    where.text_input("Ray address", key=ADDRESS_KEY, placeholder="auto or ray://host:port",
                     help="empty: $RAY_ADDRESS, else a local Ray with this machine's CPUs")
    try:
        info = ray_backend.cluster_info(_address())
    except CompressError as exc:
        where.error(str(exc))
        return
    where.caption(f"{len(info['nodes'])} node(s) · {info['cpus']:g} CPUs ({info['free_cpus']:g} free) · "
                  f"{info['gpus']:g} GPUs ({info['free_gpus']:g} free)")
    where.dataframe(info["nodes"], hide_index=True, key="backend_nodes")


def _address() -> str | None:
    return (st.session_state.get(ADDRESS_KEY) or "").strip() or None


def chosen() -> RayBackend | None:
    """The Ray backend when the setting says so (connected; raises CompressError if it cannot), else None."""
    if st.session_state.get(CHOICE_KEY) != "ray":
        return None
    if not ray_backend.available():
        raise CompressError(ray_backend.INSTALL_HINT)
    address = ray_backend.resolve_address(_address())
    ray_backend.connect(address)  # no address: a local Ray in this server process, found by the driver as "auto"
    return RayBackend(address if address not in (None, "local") else "auto")


def address_for_tasks() -> str | None:
    """The address this server process is connected with (for scans that run from the page itself)."""
    return _address()
