"""Preview figures shared by every session: the figure for one setting is built once, then reused.

Why: with 20 viewers moving the Prune, Quantize and Distill sliders at once, a py-spy profile of the
server (only the thread holding the GIL, `benchmarks/bench_viewers.py --py-spy`) spent about 45 % of
its time building these Plotly figures (`plots.weight_histogram`, `quantization_grid`,
`softened_outputs`: plotly validating every property), while the numbers under them were already
shared through `ui/preview_cache.py`. A class following its teacher moves through the same settings,
so the same figures were built again for every session.

The figure is kept as the object itself (not a copy): Streamlit's `plotly_chart` and the figure
export only read it (`to_dict`, `to_json`), and `ui/figures.chart` copies it before changing fonts in
lecture mode. A caller must not change a figure it got from here. Bounded (least recently used goes
first); `clear()` empties it. Not an `st.cache_resource` so that a hit costs one dict lookup under a
lock, no argument hashing (the key is a small tuple of the setting, made by the caller).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

MAX_FIGURES = 512  # preview figures are 10-20 kB of JSON each; a few MB at most
_figures: OrderedDict = OrderedDict()
# id(figure) -> its Plotly JSON (None until first asked), exactly for the figures held in `_figures`. An id is
# safe as a key: a held figure is alive, and `json_of`'s caller holds the figure it asks about.
_json: dict[int, str | None] = {}
_lock = threading.Lock()


def shared(key: Hashable, build: Callable[[], object]):
    """The figure cached under `key`, or `build()` stored under it. `key` must name everything the figure shows
    (page, baseline, setting); two sessions asking for the same key at once may both build it (the last is kept)."""
    with _lock:
        fig = _figures.get(key)
        if fig is not None:
            _figures.move_to_end(key)
            return fig
    fig = build()  # outside the lock: other sessions' hits are not held up by a build
    with _lock:
        replaced = _figures.get(key)
        if replaced is not None:  # two sessions built it at once: the last is kept
            _json.pop(id(replaced), None)
        _figures[key] = fig
        _json[id(fig)] = None
        while len(_figures) > MAX_FIGURES:
            _json.pop(id(_figures.popitem(last=False)[1]), None)
    return fig


def json_of(fig) -> str:
    """`fig.to_json()`: serialised once for a figure held here (every session's move then sends the same text),
    on every call for any other figure."""
    with _lock:
        held, text = id(fig) in _json, _json.get(id(fig))
    if text is None:
        text = fig.to_json()
        if held:
            with _lock:
                if id(fig) in _json:  # not evicted meanwhile
                    _json[id(fig)] = text
    return text


def clear() -> None:
    with _lock:
        _figures.clear()
        _json.clear()


def size() -> int:
    return len(_figures)
