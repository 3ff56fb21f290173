"""Does loading torch's shared libraries in a thread let the main thread run? (issue 19: could the warm-up
start earlier without delaying the page being served?)

The main thread wakes every 1 ms and records the longest gap between wake-ups while another thread either
`ctypes.CDLL`s torch's libraries (libc10, libtorch_cpu, libtorch, libtorch_python; RTLD_GLOBAL, as torch loads
them) or runs `import torch`. A gap as long as the load means the loading thread held the GIL throughout
(CPython 3.11's ctypes calls dlopen without releasing it). Run each in a fresh process:

    python benchmarks/dlopen_gil.py cdll
    python benchmarks/dlopen_gil.py import
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
import threading
import time

LIBS = ("libc10.so", "libtorch_cpu.so", "libtorch.so", "libtorch_python.so")


def main(mode: str) -> None:
    lib_dir = os.path.join(os.path.dirname(importlib.util.find_spec("torch").origin), "lib")
    done, span = threading.Event(), {}

    def load() -> None:
        began = time.perf_counter()
        if mode == "cdll":
            for name in LIBS:
                ctypes.CDLL(os.path.join(lib_dir, name), mode=ctypes.RTLD_GLOBAL)
        else:
            import torch  # noqa: F401

        span["s"] = time.perf_counter() - began
        done.set()

    gaps, last = [], time.perf_counter()
    threading.Thread(target=load).start()
    while not done.is_set():
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
        time.sleep(0.001)
    print(f"{mode}: load {span['s']:.3f} s wall, main thread's longest gap {1000 * max(gaps):.0f} ms, gaps over "
          f"20 ms {1000 * sum(g for g in gaps if g > 0.02):.0f} ms in all, process CPU {time.process_time():.2f} s")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("cdll", "import"):
        sys.exit("usage: python benchmarks/dlopen_gil.py cdll|import")
    main(sys.argv[1])
