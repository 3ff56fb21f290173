"""Racing the run store from several processes and threads at once (test_store, test_jobs)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent


def repo_env() -> dict:
    """This environment with the repository on PYTHONPATH, for child Pythons that import compress_core."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def start_scripts(script: str, *args: str, copies: int = 3) -> list[subprocess.Popen]:
    """`copies` Python processes running `script` with `args`, started at once, output captured."""
    return [subprocess.Popen([sys.executable, "-c", script, *args], env=repo_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(copies)]


def run_threads(work: Callable[[], None], copies: int = 2) -> list[Exception]:
    """Run `work` in `copies` threads at once; the exceptions they raised."""
    errors = []

    def guarded():
        try:
            work()
        except Exception as exc:  # pragma: no cover - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=guarded) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def script_outputs(procs: list[subprocess.Popen], timeout: float) -> list:
    """The JSON each process printed, after checking it exited cleanly and never met a locked database."""
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err
        assert "locked" not in err
        outputs.append(json.loads(out))
    return outputs
