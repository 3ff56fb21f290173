"""`teacher-pruned:AMOUNT`: as a distillation student, a structurally pruned copy of the teacher.

The common recipe (prune, then distil): the student keeps the teacher's weights with `AMOUNT` of
the channels of every layer removed (Torch-Pruning, classifier untouched) and then learns from
the teacher's outputs. It only means something beside a teacher, so it resolves only inside a
distillation run (`compress_core.methods.distill.build_student`).
"""
from __future__ import annotations

import re

from compress_core.errors import CompressError
from compress_core.models.sources import Source, register_source

PREFIX = "teacher-pruned:"


def amount(value: str) -> float:
    text = value[len(PREFIX):]
    if not re.fullmatch(r"0?\.\d+|0", text) or not 0 < float(text) < 1:
        raise CompressError(f"{value!r}: the channel share to remove must be in (0, 1), e.g. {PREFIX}0.5")
    return float(text)


def _build(value, target):
    raise CompressError(f"{value!r} is a distillation student only (a pruned copy of the teacher); use it as --student")


register_source(Source("teacher-pruned", f"{PREFIX}AMOUNT (distillation student: the teacher with AMOUNT of its "
                                         "channels removed)", lambda v: v.startswith(PREFIX), amount, _build,
                       browser=True))
