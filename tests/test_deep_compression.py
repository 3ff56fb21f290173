"""Deep Compression: the storage codec round-trips, weight sharing keeps masks and 2^b values, the run kind
works through the API and the CLI, and bad input gets one line."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import compress_core
from compress_core.classics.registry import classic_spec, get_classic
from compress_core.cli import main as cli
from compress_core.data.datasets import load_dataset
from compress_core.errors import CompressError
from compress_core.measure import catalogue
from compress_core.measure.storage_codec import (PARTS, canonical_codec, code_lengths, decode, encode, pack,
                                                 relative_entries, unpack)
from compress_core.methods.deep_compression import DeepCompressionSpec, load_encoded
from compress_core.methods.weight_sharing import (cluster, finetune_centroids, grouped_gradient, linear_init,
                                                  share_weights)
from compress_core.models.zoo import build_model, prunable_layers
from compress_core.runs.artifacts import load_state
from compress_core.training.loop import FitConfig


def _sparse(rng, shape, density):
    w = rng.normal(size=shape).astype(np.float32)
    w[rng.random(shape) >= density] = 0
    return torch.from_numpy(w)


def _shared(w: torch.Tensor, k: int, rng):
    """`w` with its non-zeros replaced by k random codebook values; (weights, codebook)."""
    codebook = rng.normal(size=k).astype(np.float32) + 3  # no centroid is zero
    out = w.clone()
    out[w != 0] = torch.from_numpy(codebook[rng.integers(0, k, int((w != 0).sum()))])
    return out, codebook


def _same(decoded, state):
    assert list(decoded) == list(state)
    for key, tensor in state.items():
        assert decoded[key].shape == tensor.shape and decoded[key].dtype == tensor.dtype, key
        assert torch.equal(decoded[key], tensor), key


# ---------------------------------------------------------------- codec
def test_relative_indices_pad_with_zeros_when_a_gap_exceeds_the_index_width():
    flat = np.zeros(20, dtype=np.float32)
    flat[[1, 4, 15]] = 1.0  # gaps 2, 3, 11; 3-bit indices reach 8 positions
    rel, source = relative_entries(flat, 3)
    assert rel.tolist() == [1, 2, 7, 2]  # stored as distance - 1: the filler jumps 8, then 3 more
    assert source.tolist() == [1, 4, -1, 15]
    rel, source = relative_entries(np.r_[np.zeros(40), 1.0].astype(np.float32), 2)  # 40 zeros, 4-wide jumps
    assert rel.tolist() == [3] * 10 + [0] and source.tolist() == [-1] * 10 + [40]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("huffman", [True, False])
def test_random_sparse_layers_round_trip_with_and_without_codebooks(seed, huffman):
    rng = np.random.default_rng(seed)
    density = [0.02, 0.1, 0.5, 0.95][seed]
    conv, codebook_conv = _shared(_sparse(rng, (16, 6, 5, 5), density), 256, rng)
    fc, codebook_fc = _shared(_sparse(rng, (120, 64), density), 32, rng)
    raw = _sparse(rng, (30, 40), density)  # no codebook: fp32 values (the pruning stage)
    state = {"conv.weight": conv, "conv.bias": torch.randn(16), "fc.weight": fc, "raw.weight": raw,
             "steps": torch.tensor(7, dtype=torch.int64)}
    encoded = encode(state, {"conv.weight": 8, "fc.weight": 5, "raw.weight": 3},
                     {"conv.weight": codebook_conv, "fc.weight": codebook_fc}, huffman=huffman)
    _same(decode(encoded.data), state)
    assert set(encoded.breakdown) == set(PARTS) and sum(encoded.breakdown.values()) == len(encoded.data)
    assert encoded.breakdown["codebooks"] == 4 * (256 + 32)
    assert encoded.breakdown["biases"] == 16 * 4 + 8
    assert (encoded.breakdown["huffman_tables"] > 0) == huffman


def test_empty_all_zero_one_centroid_and_long_gap_layers_round_trip():
    one = torch.zeros(7, 300)
    one[0, 0], one[3, 299], one[6, 299] = 0.25, 0.25, 0.25  # gaps of ~900 with 2-bit indices
    state = {"empty.weight": torch.zeros(0, 5), "zeros.weight": torch.zeros(40, 40), "one.weight": one,
             "bias": torch.zeros(0)}
    widths = {"empty.weight": 3, "zeros.weight": 5, "one.weight": 2}
    books = {"empty.weight": np.array([1.0], np.float32), "zeros.weight": np.array([2.0], np.float32),
             "one.weight": np.array([0.25], np.float32)}
    for huffman in (True, False):
        encoded = encode(state, widths, books, huffman=huffman)
        _same(decode(encoded.data), state)
        assert sum(encoded.breakdown.values()) == len(encoded.data)
    # long gaps are padding entries: far more entries than non-zeros, and each survives the trip
    rel, source = relative_entries(one.numpy().reshape(-1), 2)
    assert (source < 0).sum() > 400 and (source >= 0).sum() == 3


def test_huffman_is_shorter_than_fixed_width_on_skewed_symbols_and_decodes():
    rng = np.random.default_rng(0)
    symbols = np.minimum(rng.geometric(0.5, 5000) - 1, 31)
    lengths = code_lengths(np.bincount(symbols, minlength=32))
    codec = canonical_codec(lengths)
    stream = codec.encode(symbols.tolist())
    assert codec.decode(stream) == symbols.tolist()
    assert len(stream) < len(pack(symbols, 5)) * 0.6
    assert np.array_equal(unpack(pack(symbols, 5), 5, len(symbols)), symbols)


def test_values_outside_the_codebook_and_corrupt_files_are_refused_in_one_line():
    state = {"w": torch.tensor([[0.0, 1.5, 2.0]])}
    with pytest.raises(CompressError, match="value 2.0 is not in its codebook"):
        encode(state, {"w": 4}, {"w": np.array([1.5], np.float32)})
    data = encode(state, {"w": 4}, {"w": np.array([1.5, 2.0], np.float32)}).data
    for bad, message in ((b"XXXX" + data[4:], "not a Compression Lab storage file"),
                         (data[:-1], "ends before"), (data + b"\0", "bytes after")):
        with pytest.raises(CompressError, match=message) as info:
            decode(bad)
        assert "\n" not in str(info.value)


# ---------------------------------------------------------------- weight sharing
def test_kmeans_starts_from_a_linear_grid_and_gives_at_most_2_to_the_b_centroids():
    values = np.random.default_rng(0).normal(size=2000)
    init = linear_init(values, 8).reshape(-1)
    assert init[0] == values.min() and init[-1] == values.max() and np.allclose(np.diff(init), np.diff(init)[0])
    codebook, labels = cluster(values, 3)
    assert len(codebook) == 8 and labels.shape == (2000,) and labels.max() < 8
    assert len(cluster(np.array([0.5, 0.5, -1.0]), 4)[0]) == 2  # no more centroids than distinct values


def _pruned_model(seed=0):
    torch.manual_seed(seed)
    model = build_model("lenet5", (1, 8, 8), 10)
    with torch.no_grad():
        for _, m in prunable_layers(model):
            m.weight[torch.rand_like(m.weight) < 0.7] = 0
    return model


@pytest.mark.parametrize("conv_bits,fc_bits", [(8, 5), (2, 1), (1, 3)])
def test_weight_sharing_keeps_masks_and_uses_at_most_2_to_the_b_values_per_layer(conv_bits, fc_bits):
    model = _pruned_model()
    zeros = {name: (m.weight == 0).clone() for name, m in prunable_layers(model)}
    layers = share_weights(model, conv_bits, fc_bits)
    for layer in layers:
        w = layer.module.weight.detach()
        assert torch.equal(w == 0, zeros[layer.name]), layer.name
        bits = conv_bits if isinstance(layer.module, nn.Conv2d) else fc_bits
        assert layer.bits == bits and len(torch.unique(w[w != 0])) <= 2 ** bits
        assert set(torch.unique(w[w != 0]).tolist()) <= set(layer.codebook.detach().tolist())


def test_the_grouped_gradient_is_the_sum_of_the_shared_weights_gradients():
    model = _pruned_model()
    layers = share_weights(model, 3, 2)
    x = torch.randn(16, 1, 8, 8)
    nn.functional.cross_entropy(model(x), torch.arange(16) % 10).backward()
    # the same gradient by autograd: the weight as a function of the codebook
    for layer in layers:
        book = layer.codebook.detach().clone().requires_grad_(True)
        weight = torch.zeros_like(layer.module.weight).masked_scatter(layer.mask, book[layer.labels])
        (weight * layer.module.weight.grad).sum().backward()
        assert torch.allclose(grouped_gradient(layer), book.grad, atol=1e-6), layer.name


def test_centroid_fine_tuning_moves_the_codebooks_and_keeps_sharing_and_masks(tmp_path):
    data = load_dataset("digits", tmp_path)
    model = _pruned_model()
    zeros = {name: (m.weight == 0).clone() for name, m in prunable_layers(model)}
    layers = share_weights(model, 4, 3)
    before = [layer.codebook.detach().clone() for layer in layers]
    history = finetune_centroids(model, layers, data, FitConfig(1, 1e-3, 64, 0), device=torch.device("cpu"))
    assert len(history) == 1 and history[0]["stage"] == "centroids"
    assert any(not torch.equal(b, layer.codebook.detach()) for b, layer in zip(before, layers))
    for layer in layers:
        w = layer.module.weight.detach()
        assert torch.equal(w == 0, zeros[layer.name])
        assert torch.equal(w[layer.mask], layer.codebook.detach()[layer.labels])


# ---------------------------------------------------------------- the run kind
SPEC = {"kind": "deep-compression", "model": "mlp", "hidden": [32], "dataset": "digits", "baseline_epochs": 2,
        "amount": 0.8, "finetune_epochs": 1, "centroid_epochs": 1, "fc_bits": 4}


@pytest.fixture(scope="module")
def result(lab_home, tmp_path_factory):
    return compress_core.run(SPEC, home=lab_home, artifacts_dir=tmp_path_factory.mktemp("dc_artifacts"))


def test_the_run_reports_the_decodable_file_as_its_size(result):
    m, base = result.metrics, result.baseline
    for key in catalogue.CORE_KEYS:
        assert key in m, key
    assert sorted(set(m) - set(catalogue.CATALOGUE)) == []
    data = Path(result.artifacts["encoded"]).read_bytes()
    assert m["size_bytes"] == m["size_encoded_bytes"] == len(data) and m["size_form"] == "Huffman-coded file"
    assert m["compression_ratio"] == pytest.approx(base["size_fp32_bytes"] / len(data))
    assert sum(m[f"storage_{p}_bytes"] for p in PARTS) == len(data)
    assert m["size_encoded_bytes"] < m["size_shared_encoded_bytes"] < m["size_pruned_encoded_bytes"]
    assert m["size_dense_gzip_bytes"] > 0 and m["sparsity"] == pytest.approx(0.8, abs=0.01)
    assert [s["stage"] for s in m["stages"]] == ["pruning", "+ weight sharing", "+ Huffman"]
    assert m["stages"][-1]["bytes"] == len(data) and m["stages"][-1]["accuracy"] == m["accuracy"]
    # the file on disk decodes to the saved weights the run evaluated
    saved = load_state(result.artifacts["weights"])
    decoded = load_encoded(result.artifacts["encoded"])
    assert set(decoded) == set(saved) and all(torch.equal(decoded[k], saved[k]) for k in saved)
    fc = [row for row in result.layers if row["name"] == "net.1"][0]
    assert fc["bits"] == 4 and fc["centroids"] <= 16 and fc["index_bits"] == 5


def test_the_run_kind_reaches_the_cli_sweeps_and_report(lab_home, capsys):
    from compress_core.methods.registry import get_method, sweep_methods
    from compress_core.present.report import reproduce_command

    code = cli.main(["deep-compression", "--model", "mlp", "--hidden", "32", "--baseline-epochs", "2", "--amount",
                     "0.8", "--finetune-epochs", "1", "--centroid-epochs", "1", "--fc-bits", "4", "--json",
                     "--home", str(lab_home)])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "deep-compression" and out["metrics"]["compression_ratio"] > 1
    assert "deep-compression" in [m.kind for m in sweep_methods()]
    assert {"amount", "fc_bits"} <= set(get_method("deep-compression").sweep)
    assert reproduce_command(out["spec"]).startswith("python -m compress_core deep-compression ")


@pytest.mark.parametrize("changes,message", [
    ({"fc_bits": 9}, r"fc_bits must be in \[1, 8\]; got 9"),
    ({"conv_bits": 0}, r"conv_bits must be in \[1, 8\]; got 0"),
    ({"fc_index_bits": 12}, r"fc_index_bits must be in \[1, 8\]; got 12"),
    ({"amount": 1.0}, r"amount must be in \[0, 1\); got 1.0"),
    ({"method": "structured"}, "method must be one of"),
])
def test_bad_settings_get_one_line(changes, message):
    with pytest.raises(CompressError, match=message) as info:
        DeepCompressionSpec(**changes)
    assert "\n" not in str(info.value)


def test_bad_bits_on_the_command_line_exit_2_with_one_line(capsys):
    assert cli.main(["deep-compression", "--model", "lenet300", "--fc-bits", "9"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: fc_bits must be in [1, 8]; got 9"


def test_a_model_without_prunable_layers_is_refused_in_one_line(lab_home, tmp_path):
    factory = tmp_path / "noprune.py"
    factory.write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Scale(nn.Module):\n"
        "    def __init__(self, n, k):\n        super().__init__()\n        self.w = nn.Parameter(torch.randn(n, k) * 0.1)\n"
        "    def forward(self, x):\n        return x.flatten(1) @ self.w\n\n"
        "def build(input_shape, num_classes):\n    return Scale(int(torch.tensor(input_shape).prod()), num_classes)\n")
    with pytest.raises(CompressError, match="has no prunable layer") as info:
        compress_core.run({**SPEC, "model": f"{factory}:build", "hidden": None, "baseline_epochs": 1}, home=lab_home)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- the classic
def test_the_classic_has_the_papers_rows_and_reads_ours_from_a_run(lab_home):
    classic = get_classic("deep-compression")
    assert classic.models == ("lenet300", "lenet5")
    assert [r["compression"] for r in classic.paper_rows("lenet300")] == [1.0, 12.0, 32.0, 40.0]
    assert classic.paper_rows("lenet5")[-1] == {"stage": "+ Huffman", "compression": 39.0, "error_pct": 0.74}
    with pytest.raises(CompressError, match="paper's models only"):
        classic_spec("deep-compression", model="resnet8")
    spec = classic_spec("deep-compression", model="lenet5", quick=True)
    assert spec.conv_bits == 8 and spec.fc_bits == 5 and spec.layer_amounts["classifier.1"] == 0.92
    result = compress_core.run(spec, home=lab_home).to_dict()
    ours = classic.our_rows(result)
    assert [r["stage"] for r in ours] == [r["stage"] for r in classic.paper_rows("lenet5")]
    assert set(ours[0]) == set(classic.paper_rows("lenet5")[0])
    assert ours[-1]["compression"] == pytest.approx(result["metrics"]["compression_ratio"])
    assert ours[-1]["error_pct"] == pytest.approx(100 * (1 - result["metrics"]["accuracy"]))


def test_runs_of_the_kind_reach_the_runs_table_pareto_report_and_sweeps(lab_home):
    from compress_core.explore.sweep import plan_sweep
    from compress_core.present import plots, storage
    from compress_core.present.report import build_report, report_runs

    runs = [r for r in report_runs(lab_home) if r["kind"] == "deep-compression"]
    assert runs, "the CLI test stores a deep-compression run in the lab's home"
    points = plots.run_points(runs)
    assert (points["size_form"] == "Huffman-coded file").all() and points["compression_ratio"].gt(1).all()
    assert plots.pareto(points, "accuracy vs size").data  # the Runs and Compare pages' trade-off chart
    html = build_report(runs)
    assert "deep compression" in html and "python -m compress_core deep-compression" in html
    plan = plan_sweep("deep-compression", runs[0]["spec"], "3,6", 1, param="fc_bits")
    assert [p["spec"]["fc_bits"] for p in plan] == [3, 6]
    with pytest.raises(CompressError, match="fc_bits must be in"):
        plan_sweep("deep-compression", runs[0]["spec"], "9", 1, param="fc_bits")
    # the run's own view: the stage table and both figures come from its metrics
    m, base = runs[0]["metrics"], runs[0]["baseline"]
    table = storage.stage_table(m, base)
    assert table["bytes"].iloc[0] == base["size_fp32_bytes"] and table["bytes"].iloc[-1] == m["size_encoded_bytes"]
    assert table["compression_ratio"].iloc[-1] == pytest.approx(m["compression_ratio"])
    assert len(storage.sizes_figure(m, base).data[0].x) == 5  # fp32, gzip, three stages
    assert sum(t.x[0] for t in storage.breakdown_figure(m).data) == m["size_encoded_bytes"]
