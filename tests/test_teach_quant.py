"""The quantization lesson's computations (compress_core/present/teach_quant.py) against hand-computed values,
torch's own fake quantization, and the identities the page states (clipping + rounding = total)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from compress_core.context import RunContext
from compress_core.errors import CompressError
from compress_core.present import teach_quant as tq
from compress_core.specs import TrainSpec
from compress_core.training.baseline import get_baseline
from compress_core.training.loop import evaluate


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """LeNet-300-100 on digits, 3 epochs: the lesson model, trained briefly."""
    return get_baseline(TrainSpec(model="lenet300", dataset="digits", epochs=3),
                        RunContext.create(home=tmp_path_factory.mktemp("teach_quant_home")))


# ---------------------------------------------------------------- the grid, by hand
def test_asymmetric_grid_by_hand():
    # [-1, 3] on 2 bits: q in 0..3, s = 4 / 3, z = round(1 / (4/3)) = round(0.75) = 1
    g = tq.grid_params(-1.0, 3.0, 2, "asymmetric")
    assert (g.qmin, g.qmax, g.zero_point) == (0, 3, 1) and g.scale == pytest.approx(4 / 3)
    assert np.allclose(g.values(), [-4 / 3, 0, 4 / 3, 8 / 3]) and 0.0 in g.values()  # zero is exact
    # [-0.5, 1.0] on 8 bits: s = 1.5 / 255, z = round(0.5 / s) = 85
    g = tq.grid_params(-0.5, 1.0, 8, "asymmetric")
    assert g.zero_point == 85 and g.scale == pytest.approx(1.5 / 255)
    # a ReLU output [0, 2.55] on 8 bits: z = 0, s = 0.01, 256 values
    g = tq.grid_params(0.0, 2.55, 8, "asymmetric")
    assert g.zero_point == 0 and g.scale == pytest.approx(0.01) and len(g.values()) == 256
    # a range without 0 is widened to hold it: [1, 2] -> [0, 2]
    assert tq.grid_params(1.0, 2.0, 8, "asymmetric").scale == pytest.approx(2 / 255)


def test_symmetric_grid_by_hand():
    g = tq.grid_params(-1.0, 3.0, 3, "symmetric")  # max|x| = 3, q in -3..3, s = 1
    assert (g.qmin, g.qmax, g.zero_point, g.scale) == (-3, 3, 0, 1.0)
    assert list(g.values()) == [-3, -2, -1, 0, 1, 2, 3]
    assert tq.grid_params(0.0, 0.0, 4, "symmetric").scale == 1.0  # all zeros: any scale keeps them


def test_bad_grid_arguments_name_the_value():
    with pytest.raises(CompressError, match="scheme"):
        tq.grid_params(0, 1, 8, "skewed")
    with pytest.raises(CompressError, match="bits"):
        tq.grid_params(0, 1, 1, "symmetric")
    with pytest.raises(CompressError, match="lo <= hi"):
        tq.grid_params(2, 1, 8, "asymmetric")


@pytest.mark.parametrize("scheme", ["symmetric", "asymmetric"])
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_fake_quantize_equals_torch(scheme, bits):
    x = torch.randn(2000, generator=torch.Generator().manual_seed(bits)) * 2 + 0.7
    g = tq.grid_params(float(x.min()) * 0.8, float(x.max()) * 0.8, bits, scheme)  # some values clipped
    expected = torch.fake_quantize_per_tensor_affine(x, g.scale, g.zero_point, g.qmin, g.qmax).double().numpy()
    assert np.allclose(tq.fake_quantize(x.numpy(), g), expected, atol=1e-6)


def test_round_trip():
    g = tq.grid_params(-0.3, 1.7, 4, "asymmetric")
    on_grid = g.values()
    assert np.array_equal(tq.quantize(on_grid, g), np.arange(g.qmin, g.qmax + 1))  # grid values map to their codes
    assert np.allclose(tq.dequantize(tq.quantize(on_grid, g), g), on_grid)  # and back, exactly
    x = np.linspace(g.low, g.high, 1001)
    assert np.abs(tq.fake_quantize(x, g) - x).max() <= g.scale / 2 + 1e-12  # inside: at most half a step


def test_error_split_by_hand_and_adds_up():
    g = tq.grid_params(0.0, 3.0, 2, "asymmetric")  # s = 1, grid 0, 1, 2, 3
    split = tq.error_split(np.array([0.0, 1.4, 2.0, 10.0]), g)
    assert split["clip_sse"] == pytest.approx(49.0)  # 10 -> 3
    assert split["round_sse"] == pytest.approx(0.16)  # 1.4 -> 1
    assert split["total_sse"] == pytest.approx(49.16) and split["clipped_share"] == 0.25
    x = np.random.default_rng(0).standard_t(3, 5000)  # heavy tails: plenty to clip
    for lo, hi in ((x.min(), x.max()), (-2.0, 2.0), (-0.5, 0.5)):
        s = tq.error_split(x, tq.grid_params(lo, hi, 4, "asymmetric"))
        assert s["clip_sse"] + s["round_sse"] == pytest.approx(s["total_sse"])
        assert s["mse"] == pytest.approx(s["total_sse"] / x.size)
    assert tq.error_split(x, tq.grid_params(x.min(), x.max(), 4, "asymmetric"))["clip_sse"] == 0.0


def test_asymmetric_wins_on_nonnegative_values_only():
    rng = np.random.default_rng(1)
    relu = np.maximum(rng.normal(0.3, 1.0, 20000), 0)
    table = tq.compare_schemes(relu, 4).set_index("scheme")
    assert table.loc["symmetric", "codes_used"] <= 8 < table.loc["asymmetric", "codes_used"]  # half the grid unused
    assert table.loc["asymmetric", "sqnr_db"] > table.loc["symmetric", "sqnr_db"] + 4  # about 6 dB: one bit
    centred = rng.normal(0, 1, 20000)
    table = tq.compare_schemes(centred, 4).set_index("scheme")
    assert abs(table.loc["asymmetric", "sqnr_db"] - table.loc["symmetric", "sqnr_db"]) < 1.5
    assert table.loc["symmetric", "zero_point"] == 0


# ---------------------------------------------------------------- the lesson model
def test_activations_are_the_relu_outputs(base):
    model, x = base.model, base.data.x_test[:50]
    assert tq.activation_points(model) == ["net.2", "net.4"]
    expected = torch.relu(model.net[1](x.flatten(1))).detach().numpy().ravel()
    assert np.allclose(tq.activations(model, "net.2", x), expected)
    with pytest.raises(CompressError, match="net.2"):
        tq.activations(model, "net.9", x)


def test_calibrate_methods(base):
    v = tq.activations(base.model, "net.2", tq.calibration_inputs(base.data.x_train))
    assert tq.calibrate(v, "minmax", 4) == (v.min(), v.max())
    lo, hi = tq.calibrate(v, "percentile", 4, 99.9)
    assert hi == pytest.approx(np.percentile(v, 99.9)) and lo == pytest.approx(np.percentile(v, 0.1))
    sse = {m: tq.error_split(v, tq.grid_params(*tq.calibrate(v, m, 3), 3, "asymmetric"))["total_sse"]
           for m in tq.CALIBRATIONS}
    assert sse["mse"] <= min(sse["minmax"], sse["percentile"])  # optimal on the values it was fitted to
    with pytest.raises(CompressError, match="calibration"):
        tq.calibrate(v, "kl", 4)


def test_activation_quantization_accuracy(base):
    model, x, y = base.model, base.data.x_test, base.data.y_test
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fp32, _ = evaluate(model, x, y)
    wide = {n: (0.0, 1000.0) for n in tq.activation_points(model)}
    fine = {n: tuple(tq.calibrate(tq.activations(model, n, x), "minmax", 16)) for n in wide}
    assert tq.quantized_activation_accuracy(model, x, y, fine, 16) == pytest.approx(fp32)  # 16 bits: no change
    assert tq.quantized_activation_accuracy(model, x, y, wide, 2) < fp32 - 0.3  # 2 levels over 0..1000: ruined
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # hooks on a copy only


def test_calibration_table_adds_up(base):
    table = tq.calibration_table(base.model, base.data, "net.2", 3)
    assert list(table["method"]) == list(tq.CALIBRATIONS)
    assert np.allclose(table["clip_sse"] + table["round_sse"], table["total_sse"])
    minmax = table.set_index("method").loc["minmax"]
    assert minmax["lo"] == 0.0 and minmax["hi"] > table["hi"].drop(0).max()  # clips the others do not
    assert ((table["accuracy"] > 0.5) & (table["accuracy"] <= 1)).all()
    assert table.loc[table["method"] == "percentile", "label"].item() == "percentile 99.9"
    with pytest.raises(CompressError, match="net.2"):
        tq.calibration_table(base.model, base.data, "net.1", 3)


# ---------------------------------------------------------------- int8 speed (structure only: no timed assertions)
def test_int8_timing_table_and_its_derived_numbers():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    table = tq.time_fp32_int8(model, (16,), (1, 8), repeats=5, max_seconds=0.5)
    assert list(zip(table["runtime"], table["batch"])) == [("torch", 1), ("torch", 8), ("onnxruntime", 1),
                                                           ("onnxruntime", 8)]
    assert (table[["fp32_ms", "int8_ms"]] > 0).all().all()
    assert np.allclose(table["speedup"], table["fp32_ms"] / table["int8_ms"])
    shown, _ = tq.int8_tables({"model": table.to_dict("records"), "widths": table.assign(width=16)})
    assert np.allclose(shown["speedup"], table["speedup"]) and np.allclose(shown["extra_ms"], table["extra_ms"])
    doc, widths = tq.int8_tables(tq.DOC_INT8)
    assert set(widths["width"]) == {64, 256, 1024, 2048} and len(doc) == 4


def test_width_sweep_rows():
    table = tq.width_sweep((8, 16), (1,), runtimes=("torch",), repeats=5)
    assert list(table["width"]) == [8, 16] and list(table["macs"]) == [128, 512]


def test_figures_draw_what_they_are_given(base):
    table = tq.calibration_table(base.model, base.data, "net.4", 4)
    split = tq.error_split_figure(table)
    assert [t.name for t in split.data] == ["rounding (inside the range)", "clipping (beyond the range)"]
    assert np.allclose(np.add(split.data[0].y, split.data[1].y), table["total_sse"])
    hist = tq.calibration_figure(tq.activations(base.model, "net.4", base.data.x_test), table, "net.4")
    assert [t.x[0] for t in hist.data[1:]] == list(table["hi"])
    v = np.maximum(np.random.default_rng(0).normal(size=1000), 0)
    fig = tq.scheme_figure(v, 3, "asymmetric", "relu")
    assert "8 values" in fig.data[2].name and "7 values" in fig.data[1].name  # 2^3 asymmetric, 2^3 - 1 symmetric
    model, widths = tq.int8_tables(tq.DOC_INT8)
    ticks = tq.width_figure(widths, "doc").layout.yaxis.tickvals  # 1-2-5 labels that cover every point
    assert min(ticks) <= widths["speedup"].min() and max(ticks) >= widths["speedup"].max() and 1 in ticks
    assert len(tq.int8_figure(model, "doc").data) == 2
