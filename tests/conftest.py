"""Shared fixtures: an isolated home folder per test session and quick latency timing."""
import os

import pytest

# Latency medians over a few calls keep the suite fast; benchmarks use the full count.
os.environ.setdefault("COMPRESS_LAB_LATENCY_REPEATS", "5")


@pytest.fixture(scope="session")
def lab_home(tmp_path_factory):
    """One home for the session so cached baselines are trained once and reused."""
    return tmp_path_factory.mktemp("lab_home")
