"""Export of compressed text runs: Hugging Face `save_pretrained` folders and ONNX with token-id inputs.

Runs are made here on the built-in tinybert and the bundled text-demo set (1 epoch each), and
on a tiny BERT folder saved in a temp folder (as in test_text.py). Every folder is loaded back
with the real `AutoModelForSequenceClassification.from_pretrained(..., local_files_only=True)`
and `AutoTokenizer`, and its logits compared with the run's model on the test texts.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from compress_core.cli.main import main
from compress_core.errors import CompressError
from compress_core.models.transformers_env import import_transformers
from compress_core.runs import export_text, jobs
from compress_core.runs.export import export_run, load_run_model

transformers = import_transformers()
ATOL = 1e-4
TINY = {"model": "tinybert", "dataset": "text-demo"}
SPECS = {
    "prune": {"kind": "prune", **TINY, "amount": 0.5, "baseline_epochs": 1, "finetune_epochs": 1},
    "structured": {"kind": "prune", **TINY, "method": "structured", "amount": 0.5, "baseline_epochs": 1,
                   "finetune_epochs": 1},
    "distill": {"kind": "distill", "teacher": "tinybert", "dataset": "text-demo", "student_layers": 1, "epochs": 1,
                "teacher_epochs": 1},
}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("text_export_home")


@pytest.fixture(scope="module")
def runs(home):
    return {name: jobs.record_foreground(spec, home=home)["id"] for name, spec in SPECS.items()}


def _cli(capsys, *argv) -> dict:
    code = main([*argv, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out.strip().splitlines()[-1])


def _loads_back_with_same_logits(folder, run_id, home, max_length=128) -> tuple[object, object]:
    """Load the folder as a user would, tokenize the raw test texts with its tokenizer, compare logits."""
    model, data, _ = load_run_model(run_id, home)
    hf = transformers.AutoModelForSequenceClassification.from_pretrained(str(folder), local_files_only=True).eval()
    tok = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    texts = list(data.texts[1][:32])
    batch = tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        got = hf(**batch).logits
        want = model(data.x_test[:32])
    assert got.shape == want.shape and float((got - want).abs().max()) <= ATOL
    return hf, tok


@pytest.mark.parametrize("kind", list(SPECS))
def test_hf_folder_loads_back_with_the_runs_logits(kind, runs, home, tmp_path, capsys):
    out = tmp_path / f"{kind}-hf"
    info = _cli(capsys, "export", runs[kind], "--format", "hf", "--out", str(out), "--home", str(home))
    assert info["format"] == "hf" and info["max_abs_diff"] <= ATOL and info["path"] == str(out)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(info["files"])
    hf, tok = _loads_back_with_same_logits(out, runs[kind], home)
    config = hf.config
    assert config.compression_lab["run_id"] == runs[kind]
    assert config.id2label[0] == "cooking" and tok.pad_token == "[PAD]"
    if kind == "prune":  # the zeros survive the round trip
        weights = [m.weight for n, m in hf.named_modules() if isinstance(m, torch.nn.Linear) and ".encoder." in f".{n}."]
        zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
        assert zeros == pytest.approx(0.5, abs=0.01)
    if kind == "structured":  # FFN halved in the config; the removed heads are zero weights (one head size)
        assert config.intermediate_size == 64 and config.num_hidden_layers == 2
        assert info["heads_kept"] == [2, 2] and info["ffn_channels_kept"] == [64, 64]
        q = hf.bert.encoder.layer[0].attention.self.query.weight
        assert int((q.abs().sum(1) == 0).sum()) == 2 * 16 and "zero weights" in info["note"]
    if kind == "distill":
        assert config.num_hidden_layers == 1 and len(hf.bert.encoder.layer) == 1


@pytest.mark.parametrize("kind", ["structured", "distill"])
def test_text_onnx_takes_token_ids_of_any_batch_and_length(kind, runs, home, tmp_path):
    import onnxruntime

    info = export_run(runs[kind], "onnx", tmp_path / "m.onnx", home)
    assert info["max_abs_diff"] <= ATOL
    session = onnxruntime.InferenceSession(info["path"], providers=["CPUExecutionProvider"])
    model, data, _ = load_run_model(runs[kind], home)
    for batch, length in ((3, 7), (64, data.x_test.shape[1])):
        x = data.x_test[:batch, :length].clone()
        got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
        with torch.no_grad():
            assert np.abs(got - model(x).numpy()).max() <= ATOL


def test_earlier_export_is_replaced_other_folders_refused(runs, home, tmp_path):
    default = export_run(runs["distill"], "hf", None, home)
    assert default["path"].endswith("export/hf")
    again = export_run(runs["distill"], "hf", None, home)  # an earlier export of the lab is replaced
    assert again["path"] == default["path"]
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(CompressError, match="already holds other files"):
        export_run(runs["distill"], "hf", other, home)
    assert (other / "notes.txt").read_text() == "keep me"
    with pytest.raises(CompressError, match="is a file"):
        export_run(runs["distill"], "hf", other / "notes.txt", home)


def test_a_folder_that_disagrees_is_not_kept(runs, home, tmp_path, monkeypatch):
    monkeypatch.setattr(export_text, "TOLERANCE", -1.0)  # no folder can pass: the refusal path must clean up
    out = tmp_path / "never"
    with pytest.raises(CompressError, match="disagrees with PyTorch"):
        export_run(runs["structured"], "hf", out, home)
    assert not out.exists() and not any(p.name.startswith(".never") for p in tmp_path.iterdir())


def test_hf_is_for_text_models_only(home, tmp_path, capsys):
    run_id = jobs.record_foreground({"kind": "train", "model": "mlp", "hidden": [8], "dataset": "digits",
                                     "epochs": 1}, home=home)["id"]
    code = main(["export", run_id, "--format", "hf", "--out", str(tmp_path / "x"), "--home", str(home)])
    err = capsys.readouterr().err
    assert code == 2 and "not a text model" in err and err.count("\n") == 1
    int8 = jobs.record_foreground({"kind": "quantize", **TINY, "scheme": "int8", "baseline_epochs": 1}, home=home)
    with pytest.raises(CompressError, match="is int8: its weights have no Hugging Face form"):
        export_run(int8["id"], "hf", tmp_path / "q", home)
    assert not (tmp_path / "q").exists()


def test_hf_dir_model_exports_with_its_own_tokenizer(home, tmp_path):
    from test_text import _save_tiny_bert

    folder = _save_tiny_bert(tmp_path / "bert", head=True)
    run_id = jobs.record_foreground({"kind": "prune", "model": f"hf:{folder}", "dataset": "text-demo",
                                     "method": "structured", "amount": 0.5, "baseline_epochs": 1,
                                     "finetune_epochs": 1, "max_length": 16}, home=home)["id"]
    info = export_run(run_id, "hf", tmp_path / "out", home)
    assert info["config"]["intermediate_size"] == 32 and info["heads_kept"] == [2, 2]
    hf, tok = _loads_back_with_same_logits(tmp_path / "out", run_id, home, max_length=16)
    assert type(tok).__name__ == "BertTokenizerFast" or tok.cls_token == "[CLS]"
