"""Pareto front of runs: hand-checked examples."""
import math

import pandas as pd
import pytest

from compress_core.explore.pareto import pareto_front


def test_front_of_a_hand_example():
    df = pd.DataFrame({"size": [10, 20, 30, 15, 40, 20],
                       "acc": [0.80, 0.90, 0.95, 0.79, 0.95, 0.90]},
                      index=list("abcdef"))
    front = pareto_front(df, "size", "acc")
    # d is beaten by a (smaller and more accurate); e by c (same accuracy, smaller);
    # b and f are identical, so neither dominates the other.
    assert front.to_dict() == {"a": True, "b": True, "c": True, "d": False, "e": False, "f": True}
    assert front.index.equals(df.index)


def test_directions_and_missing_values():
    df = pd.DataFrame({"latency": [1.0, 2.0, 3.0, math.nan], "loss": [0.5, 0.4, 0.6, 0.1]})
    assert pareto_front(df, "latency", "loss", maximize_y=False).tolist() == [True, True, False, False]
    # maximise x as well: larger latency is "better" here, so 3.0 joins the front
    assert pareto_front(df, "latency", "loss", minimize_x=False).tolist() == [False, False, True, False]


def test_empty_and_unknown_column():
    assert pareto_front(pd.DataFrame({"x": [], "y": []}), "x", "y").empty
    with pytest.raises(KeyError, match="nope"):
        pareto_front(pd.DataFrame({"x": [1]}), "x", "nope")
