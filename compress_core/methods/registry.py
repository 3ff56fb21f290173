"""Registry of run kinds: each maps a spec to the function that runs it."""
from __future__ import annotations

from typing import Callable

from compress_core.registry import Registry

# kind -> runner(spec, ctx) -> RunResult-like dict parts
METHODS: Registry[Callable] = Registry("run kind")
