"""`ui/figure_cache.py`: one figure per setting, shared by every session, bounded."""
from __future__ import annotations

from ui import figure_cache


def test_a_setting_is_built_once_and_the_same_figure_is_returned():
    figure_cache.clear()
    built = []

    def build():
        built.append(1)
        return {"setting": len(built)}

    first = figure_cache.shared(("prune", "home::base", "l1", "global", 60, 0), build)
    again = figure_cache.shared(("prune", "home::base", "l1", "global", 60, 0), build)
    other = figure_cache.shared(("prune", "home::base", "l1", "global", 61, 0), build)
    assert again is first and other is not first and len(built) == 2


def test_the_least_recently_used_figure_goes_first(monkeypatch):
    figure_cache.clear()
    monkeypatch.setattr(figure_cache, "MAX_FIGURES", 2)
    figure_cache.shared("a", lambda: "A")
    figure_cache.shared("b", lambda: "B")
    figure_cache.shared("a", lambda: "A2")  # a hit: "a" is now the most recent
    figure_cache.shared("c", lambda: "C")  # evicts "b"
    assert figure_cache.size() == 2
    assert figure_cache.shared("a", lambda: "rebuilt") == "A"
    assert figure_cache.shared("b", lambda: "rebuilt") == "rebuilt"
