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


class _Counted:
    """A figure stand-in that counts its serialisations."""

    def __init__(self, text: str):
        self.text, self.calls = text, 0

    def to_json(self) -> str:
        self.calls += 1
        return self.text


def test_a_held_figure_is_serialised_once_and_any_other_on_every_call(monkeypatch):
    figure_cache.clear()
    monkeypatch.setattr(figure_cache, "MAX_FIGURES", 1)
    held = figure_cache.shared("a", lambda: _Counted('{"data": [1]}'))
    assert [figure_cache.json_of(held) for _ in range(3)] == ['{"data": [1]}'] * 3 and held.calls == 1
    loose = _Counted('{"data": [2]}')
    assert figure_cache.json_of(loose) == figure_cache.json_of(loose) == '{"data": [2]}' and loose.calls == 2
    figure_cache.shared("b", lambda: _Counted("{}"))  # evicts "a": its text is forgotten with it
    assert figure_cache.json_of(held) == '{"data": [1]}' and held.calls == 2
    assert figure_cache.json_of(held) and held.calls == 3
