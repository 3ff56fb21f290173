"""Numeric settings read from environment variables, one dataclass field per variable.

The data limits (`data.limits.Limits`) and the sharing caps (`sharing.Caps`) are both plain
dataclasses of numbers whose defaults an operator may override; this is the one reader, so a
bad value gets the same one line (naming the variable and what is allowed) wherever it is.
"""
from __future__ import annotations

import math
import os
from dataclasses import fields
from typing import Callable, TypeVar

from compress_core.errors import CompressError

T = TypeVar("T")


def from_environment(cls: type[T], env_name: Callable[[str], str], *, allow_zero: bool = False) -> T:
    """`cls()` with each field overridden by its variable `env_name(field)` when that is set.

    Whole-number fields take `int(float(value))` (so "1e6" works); values must be finite and
    positive, or zero or more with `allow_zero`. Read on every call, so a change takes effect
    without a restart.
    """
    values = {}
    for f in fields(cls):
        name = env_name(f.name)
        raw = os.environ.get(name, "").strip()
        if not raw:
            continue
        whole = f.type in ("int", int)
        try:
            number = float(raw)
        except ValueError:
            raise CompressError(f"{name}={raw!r} is not a number; unset it or give "
                                f"{'a whole number' if whole else 'a number'}") from None
        if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
            raise CompressError(f"{name}={raw!r} must be {'zero or more' if allow_zero else 'a positive number'}")
        values[f.name] = int(number) if whole else number
    return cls(**values)
