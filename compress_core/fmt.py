"""Human-readable numbers for the dashboard: sizes, FLOPs, shares, times.

Every figure the UI shows goes through one of these, so a unit is never missing and
the same quantity reads the same way on every page (the metrics catalogue,
`compress_core.measure.catalogue`, picks one per metric). Sizes use decimal units
(1 kB = 1000 bytes), as file managers do.
"""
from __future__ import annotations

import math

_SIZE_UNITS = ("B", "kB", "MB", "GB", "TB")
_SCALE_UNITS = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def size(n_bytes) -> str:
    """1234567 -> '1.23 MB'."""
    if _missing(n_bytes):
        return "n/a"
    value, unit = float(n_bytes), 0
    while abs(value) >= 1000 and unit < len(_SIZE_UNITS) - 1:
        value, unit = value / 1000, unit + 1
    return f"{value:.0f} B" if unit == 0 else f"{value:.3g} {_SIZE_UNITS[unit]}"


def scaled(n, unit: str = "") -> str:
    """1.5e6, 'FLOPs' -> '1.5 M FLOPs': thousands, millions, billions with 3 significant digits."""
    if _missing(n):
        return "n/a"
    for factor, prefix in _SCALE_UNITS:
        if abs(n) >= factor:
            return f"{n / factor:.3g} {prefix}{unit}".rstrip()
    return f"{n:.3g} {unit}".rstrip() if isinstance(n, float) else f"{n} {unit}".rstrip()


def flops(n) -> str:
    return scaled(n, "FLOPs")


def count(n) -> str:
    """50610 -> '50,610' (exact counts of parameters stay exact)."""
    return "n/a" if _missing(n) else f"{int(n):,}"


def pct(share, digits: int = 1) -> str:
    """0.9777 -> '97.8 %'."""
    return "n/a" if _missing(share) else f"{100 * share:.{digits}f} %"


def pp(change, digits: int = 1) -> str:
    """An accuracy change in percentage points: 0.004 -> '+0.4 pp'."""
    return "n/a" if _missing(change) else f"{100 * change:+.{digits}f} pp"


def ratio(x) -> str:
    """9.33 -> '9.33×'."""
    return "n/a" if _missing(x) else f"{x:.3g}×"


def ms(x) -> str:
    """Milliseconds with enough digits for sub-millisecond latencies."""
    return "n/a" if _missing(x) else f"{x:.3g} ms"


_MD_SPECIAL = set("\\`*_{}[]()#+!|<>~$:&")  # not - . = quotes: ids and numbers stay readable


def md_escape(text) -> str:
    """`text` shown literally in Markdown (st.markdown, captions, progress texts).

    Every ASCII punctuation mark that Markdown, Streamlit's `:material/...:` shortcodes or
    `$...$` maths could act on gets a backslash (CommonMark allows escaping any of them), so
    a file named `[x](http://evil)![i](http://t/p.png).csv` shows as that name, not as a link
    or an image. Newlines become spaces: one name, one line.
    """
    out = []
    for ch in str(text).replace("\r", " ").replace("\n", " "):
        out.append("\\" + ch if ch in _MD_SPECIAL else ch)
    return "".join(out)
