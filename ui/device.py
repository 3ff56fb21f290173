"""The device select box of the run pages: auto, cpu and every CUDA GPU with its name and free memory.

The choice becomes the spec's `device` field, so a browser run replays from the command line
with the same `--device`. The list is read when the page draws (free memory changes).
"""
from __future__ import annotations

import streamlit as st

from compress_core.devices import describe_devices


def device_select(prefix: str) -> dict:
    """Draw the select box; the spec fields it sets: {"device": "auto" | "cpu" | "cuda:N"}."""
    rows = describe_devices()
    labels = {row["value"]: row["label"] for row in rows}
    gpus = [row for row in rows if row["value"].startswith("cuda")]
    value = st.selectbox("Device", list(labels), format_func=labels.get, key=f"{prefix}_device",
                         help="where training, fine-tuning and evaluation run; auto takes the first CUDA GPU when "
                              "there is one. " + ("" if gpus else "No CUDA GPU on this machine: runs use the CPU."))
    return {"device": value}
