"""Shared fixtures: an isolated home folder per test session and quick latency timing."""
import os
import tempfile

import pytest

# Latency medians over a few calls keep the suite fast; benchmarks use the full count.
os.environ.setdefault("COMPRESS_LAB_LATENCY_REPEATS", "5")
# Tests never touch the user's own ~/.compress_lab: anything that forgets to pass a home
# lands in a throw-away folder.
os.environ["COMPRESS_LAB_HOME"] = tempfile.mkdtemp(prefix="compress_lab_tests_")


@pytest.fixture(scope="session")
def lab_home(tmp_path_factory):
    """One home for the session so cached baselines are trained once and reused."""
    return tmp_path_factory.mktemp("lab_home")
