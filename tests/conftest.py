"""Shared fixtures: an isolated home folder per test session and quick latency timing."""
import os
import tempfile

import pytest

# Latency medians over a few calls keep the suite fast; benchmarks use the full count.
os.environ.setdefault("COMPRESS_LAB_LATENCY_REPEATS", "5")
# Instant previews (ui/instant.py) build their table at the end of a page run, which AppTest waits for: off here,
# on in tests/test_instant.py and in the browser tests' servers (tests/e2e/conftest.py).
os.environ.setdefault("COMPRESS_LAB_INSTANT", "0")
# Tests never touch the user's own ~/.compress_lab: anything that forgets to pass a home
# lands in a throw-away folder.
os.environ["COMPRESS_LAB_HOME"] = tempfile.mkdtemp(prefix="compress_lab_tests_")


@pytest.fixture(scope="session")
def lab_home(tmp_path_factory):
    """One home for the session so cached baselines are trained once and reused."""
    return tmp_path_factory.mktemp("lab_home")


@pytest.fixture
def downloads(monkeypatch) -> dict:
    """The bytes behind every download button the app creates, by media file id (the URL's stem)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    saved = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def spy(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        saved[file_id] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)
    return saved
