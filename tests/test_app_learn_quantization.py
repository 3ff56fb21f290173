"""AppTest of the quantization lesson's second half (ui/learn_quantization.py on the Learn page): the zero-point,
calibration and int8 cards agree with each other and with teach_quant computed here, and each control moves them.

The lesson model is LeNet-300-100 on digits trained for 3 epochs here (the page uses the data set's default).
"""
from __future__ import annotations

import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from compress_core import fmt
from compress_core.context import RunContext
from compress_core.present import teach, teach_quant
from compress_core.specs import TrainSpec
from compress_core.training.baseline import get_baseline

import chart_helpers
from apptest_helpers import cards, open_page, open_tab, shown, worker_home

LESSON_SPEC = TrainSpec(model="lenet300", dataset="digits", epochs=3)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with worker_home(tmp_path_factory, "learn_quant_home") as (home, mp):
        mp.setattr(teach, "TEACHING_SPEC", LESSON_SPEC)
        mp.setattr(teach_quant, "SWEEP_WIDTHS", (16, 64))  # the measured sweep, on small widths to stay quick
        yield home


@pytest.fixture(scope="module")
def base(home):
    return get_baseline(LESSON_SPEC, RunContext.create(home=home))


@pytest.fixture(scope="module")
def page(home, base) -> AppTest:
    at = open_tab(open_page("learn"), "Quantization")  # these lessons' tab; every test here stays in it
    assert not at.error, [e.value for e in at.error]
    return at


def delta(at: AppTest, label: str) -> str:
    return shown(at, label, "delta")


def figure(at: AppTest, key: str) -> dict:
    return chart_helpers.figure(at, key)


def array(value) -> np.ndarray:
    """A figure's data array as JSON holds it: a list, or Plotly's base64 typed array {"dtype", "bdata"}."""
    if isinstance(value, dict):
        import base64

        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value, dtype=float)


def numbers(text: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"-?\d[\d,]*\.?\d*", text)]


@pytest.mark.parametrize("tensor", ["activations", "weights"])
@pytest.mark.parametrize("scheme", ["symmetric", "asymmetric"])
def test_zero_point_cards_agree_with_the_formula(page, base, tensor, scheme):
    at = page
    at.radio(key="learn_qa_tensor").set_value(tensor).run()
    at.radio(key="learn_qa_scheme").set_value(scheme).run()
    at.slider(key="learn_qa_bits").set_value(4).run()
    values = (teach_quant.activations(base.model, "net.2", teach_quant.calibration_inputs(base.data.x_train))
              if tensor == "activations" else teach.layer_weight(base.model, "net.3").numpy().ravel())
    lo, hi = min(float(values.min()), 0.0), max(float(values.max()), 0.0)
    scale = float(shown(at, "Scale s"))
    zero_point = int(shown(at, "Zero-point z"))
    qmin, qmax = (int(v) for v in numbers(shown(at, "Integer grid")))
    if scheme == "asymmetric":
        assert (qmin, qmax) == (0, 15)
        assert scale == pytest.approx((hi - lo) / 15, rel=1e-3)
        assert zero_point == round(-lo / ((hi - lo) / 15))  # z = round(-min / s), from the range shown
        assert (zero_point == 0) == (tensor == "activations")  # a ReLU's output needs no shift
    else:
        assert (qmin, qmax, zero_point) == (-7, 7, 0)
        assert scale == pytest.approx(max(abs(lo), abs(hi)) / 7, rel=1e-3)
    table = teach_quant.compare_schemes(values, 4).set_index("scheme")
    used, size = numbers(delta(at, "Integer grid"))
    assert (used, size) == (table.loc[scheme, "codes_used"], table.loc[scheme, "grid_size"])
    other = "symmetric" if scheme == "asymmetric" else "asymmetric"
    sqnr = float(shown(at, "Signal-to-noise on this grid").split()[0])
    assert sqnr == pytest.approx(table.loc[scheme, "sqnr_db"], abs=0.05)
    gap = numbers(delta(at, "Signal-to-noise on this grid"))[0]
    assert gap == pytest.approx(table.loc[scheme, "sqnr_db"] - table.loc[other, "sqnr_db"], abs=0.06)
    grid = figure(at, "learn_qa_grid")
    assert f"{scheme}" in grid["layout"]["title"]["text"] and "4-bit" in grid["layout"]["title"]["text"]


def test_asymmetric_wins_on_activations_and_the_caption_says_so(page):
    at = page
    at.radio(key="learn_qa_tensor").set_value("activations").run()
    at.radio(key="learn_qa_scheme").set_value("asymmetric").run()
    caption = [c.value for c in at.caption if "symmetric grid uses" in c.value][0]
    assert "asymmetric is" in caption and "better" in caption
    assert numbers(delta(at, "Signal-to-noise on this grid"))[0] > 3  # about 6 dB: the one bit the sign wasted


@pytest.mark.parametrize("bits", [3, 6])
def test_calibration_cards_add_up_and_match_the_engine(page, base, bits):
    at = page
    at.slider(key="learn_qc_bits").set_value(bits).run()
    assert not at.error, [e.value for e in at.error]
    table = teach_quant.calibration_table(base.model, base.data, "net.2", bits, 99.9)
    for row in table.itertuples():
        total = numbers(shown(at, f"Error, {row.label}"))[0]
        clip, rounding = numbers(delta(at, f"Error, {row.label}"))
        assert clip + rounding == pytest.approx(total, abs=0.11)  # each shown to one decimal
        assert total == pytest.approx(row.total_sse, abs=0.051)
        assert shown(at, f"Accuracy, {row.label}") == fmt.pct(row.accuracy)
    assert numbers(delta(at, "Error, min-max"))[0] == 0  # min-max clips nothing
    split = figure(at, "learn_qc_split")
    assert np.allclose(array(split["data"][0]["y"]) + array(split["data"][1]["y"]), table["total_sse"])


def test_calibration_controls_change_the_figures(page):
    at = page
    before = figure(at, "learn_qc_hist")
    at.selectbox(key="learn_qc_layer").set_value("net.4").run()
    assert figure(at, "learn_qc_hist") != before and "net.4" in figure(at, "learn_qc_hist")["layout"]["title"]["text"]
    split = figure(at, "learn_qc_split")
    at.select_slider(key="learn_qc_percentile").set_value(99.0).run()
    assert figure(at, "learn_qc_split") != split and "Accuracy, percentile 99" in [c["label"] for c in cards(at)]


def test_int8_cards_follow_from_their_latencies_then_measure_here(page):
    at = page
    labels = ["torch, batch 1", "torch, batch 64", "onnxruntime, batch 1", "onnxruntime, batch 64"]

    def check() -> None:
        for label in labels:
            fp32, int8 = (float(v) for v in re.fullmatch(r"fp32 ([\d.]+) ms / int8 ([\d.]+) ms",
                                                         delta(at, label)).groups())
            ratio = float(shown(at, label).rstrip("×"))
            assert ratio == pytest.approx(fp32 / int8, rel=0.1)  # latencies shown to 0.001 ms
    check()
    assert any("load average" in c.value for c in at.caption)  # documented numbers say where they come from
    at.button(key="learn_qi_measure").click().run(timeout=600)
    assert not at.exception and not at.error, [e.value for e in at.error]
    check()
    assert any("measured just now" in c.value for c in at.caption)
    widths = figure(at, "learn_qi_widths")
    assert sorted({float(x) for trace in widths["data"] for x in array(trace["x"])}) == [16, 64]
