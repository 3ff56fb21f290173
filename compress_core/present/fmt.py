"""Number formatting for the present layer: the functions live in `compress_core.fmt`.

They moved there so the metrics catalogue (`compress_core.measure.catalogue`) can format
values without the engine importing the present package; pages keep `present.fmt`.
"""
from compress_core.fmt import count, flops, ms, pct, pp, ratio, scaled, size  # noqa: F401
