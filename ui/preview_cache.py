"""The instant previews, cached per baseline and settings, bounded in entries, age and concurrency.

A room of viewers moves the same sliders over the same baseline: the second visitor at
"prune 60 %" gets the first one's numbers from `st.cache_data` (shared by all sessions of
the server) instead of pruning and evaluating again. Each cache holds at most
`MAX_ENTRIES` results (least recently used dropped first) for at most `TTL_S` seconds;
a result is a few kB (numbers and histograms, never a model), so the caches stay a few MB.
At most `SLOTS` previews compute at once in the server process (one torch thread each),
so many sliders moving at once queue for a slot instead of taking every core from the
worker processes that run the jobs.

`key` is `key_of(base)`: the lab's home folder and the baseline's cache key (a hash of model,
data fingerprint, training settings and seed), so it names one set of trained weights;
arguments with a leading underscore are not hashed (the model and data are fixed by `key`).
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager

import streamlit as st

from compress_core.present import preview
from ui import common

MAX_ENTRIES = 256
TTL_S = 3600
SLOTS = max(1, (os.cpu_count() or 2) // 2)
_slots = threading.BoundedSemaphore(SLOTS)


def key_of(base) -> str:
    """The cache key of a baseline's previews: this lab's home and the baseline's own key."""
    return f"{common.home()}::{base.info['key']}"


@contextmanager
def slot():
    """Wait for one of the `SLOTS` places to compute a preview in this server process."""
    with _slots:
        yield


@st.cache_resource(show_spinner=False, max_entries=16)
def magnitudes(key: str, _base) -> preview.MagnitudeLookup:
    """The baseline's sorted weight magnitudes (once per baseline), so global L1 at any amount is one lookup."""
    return preview.MagnitudeLookup(_base.model)


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES, ttl=TTL_S)
def prune(key: str, _base, method: str, scope: str, amount: float, seed: int, _edges) -> dict:
    """`preview.prune_preview` of the baseline `key` (its histogram on the baseline's `_edges`)."""
    lookup = magnitudes(key, _base) if (method, scope) == ("l1", "global") else None
    with slot():
        return preview.prune_preview(_base.model, _base.data.x_test, _base.data.y_test, method, scope, amount, seed,
                                     _edges, _base.data.x_train, lookup)


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES, ttl=TTL_S)
def structured(key: str, _base, amount: float, importance: str) -> dict:
    """`preview.structured_preview` of the baseline `key` (a CompressError is raised, not cached)."""
    with slot():
        return preview.structured_preview(_base.model, _base.data.x_test, _base.data.y_test, _base.data.input_shape,
                                          amount, importance)


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES, ttl=TTL_S)
def quantize(key: str, _base, layer: str, bits: int, granularity: str, channel: int) -> dict:
    """`preview.quantize_preview` of the baseline `key`."""
    with slot():
        return preview.quantize_preview(_base.model, _base.data.x_test, _base.data.y_test, layer, bits, granularity,
                                        channel)


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES, ttl=TTL_S)
def softened(key: str, _base, rows: int, temperature: float):
    """`preview.softened_outputs` of the baseline `key` on its first `rows` test inputs."""
    with slot():
        return preview.softened_outputs(_base.model, _base.data.x_test[:rows], temperature)
