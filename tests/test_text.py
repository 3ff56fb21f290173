"""Text data, transformer models (built-in tinybert and hf:DIR folders) and the methods on them.

The hf folders are made here: a tiny BERT config saved with `save_pretrained` into a temp
folder with a WordPiece tokenizer built offline from a small vocab file. Nothing downloads.
"""
from __future__ import annotations

import json
import re

import pytest
import torch

from compress_core.api import run
from compress_core.cli.main import main
from compress_core.data.datasets import load_dataset
from compress_core.errors import CompressError
from compress_core.methods.distill import DistillSpec
from compress_core.methods.quantize import QuantizeSpec
from compress_core.models.hf import load_hf
from compress_core.models.transformers_env import import_transformers
from compress_core.models.text import build_tinybert, keep_layers, prune_structure, remove_heads, structure
from compress_core.specs import PruneSpec, TrainSpec

transformers = import_transformers()
def _demo_words() -> list[str]:
    """The bundled set's words: a vocabulary like a real model's would cover them."""
    from compress_core.data.text import TEXT_DEMO_FILE

    text = TEXT_DEMO_FILE.read_text(encoding="utf-8").lower()
    return sorted(set(re.findall(r"[a-z]+", text)))


WORDS = _demo_words()


def _save_tiny_bert(folder, *, head: bool, num_labels: int = 4, model_type_override=None, tokenizer=True):
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, ".", ","]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = transformers.BertTokenizerFast(vocab={word: i for i, word in enumerate(vocab)})
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=64, max_position_embeddings=64,
                                     num_labels=num_labels)
    torch.manual_seed(0)
    model = (transformers.BertForSequenceClassification if head else transformers.BertModel)(config)
    model.save_pretrained(folder)
    if tokenizer:
        tok.save_pretrained(folder)
    else:
        (folder / "vocab.txt").unlink()
    if model_type_override:
        cfg = json.loads((folder / "config.json").read_text())
        cfg["model_type"] = model_type_override
        (folder / "config.json").write_text(json.dumps(cfg))
    return folder


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    """A BERT encoder without a classification head (like a sentence-embedding model)."""
    return _save_tiny_bert(tmp_path_factory.mktemp("hf") / "encoder", head=False)


# --- data ----------------------------------------------------------------------------------------

def test_text_demo_is_token_ids_with_texts_kept():
    data = load_dataset("text-demo")
    assert data.is_text and data.x_train.dtype == torch.int64 and data.num_classes == 4
    assert len(data.x_train) + len(data.x_test) == 1200 and len(data.texts[0]) == len(data.x_train)
    assert (data.x_train[:, 0] != data.pad_id).all()  # right-padded: every text starts with a token
    assert data.input_shape == (data.x_train.shape[1],)


def test_text_csv_custom_column_and_truncation_notice(tmp_path):
    path = tmp_path / "reviews.csv"
    rows = [("great tasty bread and warm soup", "good")] * 6 + [("cold stale bread, slow service", "bad")] * 6
    path.write_text("review,label\n" + "\n".join(f'"{t}",{y}' for t, y in rows) + "\n", encoding="utf-8")
    data = load_dataset(str(path), text_column="review", max_length=3)
    assert data.is_text and data.input_shape == (3,) and data.class_names == ("bad", "good")
    assert "12 of 12 texts were longer than max_length 3" in data.notes[0]


@pytest.mark.parametrize("content, column, message", [
    ("text,label\n" + ",a\n" * 6 + ",b\n" * 6, "text", "text column 'text' is empty (no row holds"),
    ("text,label\nhello,a\n,b\n" + "hi,a\n" * 5 + "yo,b\n" * 5, "text", "is empty on line 3"),
    ("words,label\nhello,a\n", "review", "has no text column 'review'"),
])
def test_bad_text_csv_is_one_line(tmp_path, content, column, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CompressError, match=re.escape(message)) as info:
        load_dataset(str(path), text_column=column)
    assert "\n" not in str(info.value)


def test_non_utf8_csv_is_one_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ncaf\xe9 au lait,a\n".encode("latin-1"))
    with pytest.raises(CompressError, match=r"not UTF-8 text: byte 0xe9") as info:
        load_dataset(str(path))
    assert "\n" not in str(info.value)


def test_a_text_teacher_needs_a_layer_dropping_student():
    with pytest.raises(CompressError, match="pass student_layers"):
        DistillSpec(teacher="tinybert", dataset="text-demo")
    with pytest.raises(CompressError, match="needs a transformer teacher"):
        DistillSpec(teacher="lenet300", student_layers=2)
    assert DistillSpec(teacher="tinybert", dataset="text-demo", student_layers=1).model == "tinybert"


def test_models_and_data_must_match(lab_home):
    with pytest.raises(CompressError, match="is text; use 'tinybert'"):
        run(TrainSpec(model="mlp", dataset="text-demo"), home=lab_home)
    with pytest.raises(CompressError, match="takes text, but data set 'digits'"):
        run(TrainSpec(model="tinybert", dataset="digits"), home=lab_home)


# --- structural edits (exact) --------------------------------------------------------------------

def test_removing_a_silent_head_keeps_the_logits():
    torch.manual_seed(0)
    model = build_tinybert((12,), 3).eval()
    layer = model.encoder_layers()[0]
    sa = layer.attention.self
    size = sa.attention_head_size
    with torch.no_grad():  # head 1 writes nothing: its value rows are zero
        sa.value.weight[size:2 * size] = 0
        sa.value.bias[size:2 * size] = 0
    ids = model.example_input(4, 12)
    before = model(ids)
    remove_heads(layer, [1])
    assert sa.num_attention_heads == 3 and sa.query.out_features == 3 * size
    assert torch.allclose(model(ids), before, atol=1e-5)


def test_prune_structure_halves_heads_and_ffn_and_keep_all_layers_is_identity():
    torch.manual_seed(0)
    model = build_tinybert((10,), 2).eval()
    ids = model.example_input(2, 10)
    same = keep_layers(model, 2).eval()
    assert torch.equal(same(ids), model(ids))
    prune_structure(model, 0.5)
    assert structure(model) == {"encoder_layers": 2, "heads": [2, 2], "ffn_channels": [64, 64]}
    assert model(ids).shape == (2, 2)
    assert structure(keep_layers(model, 1))["encoder_layers"] == 1


def test_dynamic_padding_ignores_pad_positions():
    torch.manual_seed(0)
    model = build_tinybert((8,), 2).eval()
    ids = model.example_input(1, 5)
    padded = torch.cat([ids, torch.zeros(1, 3, dtype=torch.int64)], 1)
    assert torch.allclose(model(ids), model(padded), atol=1e-5)


# --- tinybert through API and CLI ----------------------------------------------------------------

def _cli(capsys, *argv):
    code = main([*argv, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out.strip().splitlines()[-1])


def test_tinybert_prune_quantize_structured_distill(lab_home, capsys):
    common = ["--model", "tinybert", "--dataset", "text-demo", "--home", str(lab_home), "--baseline-epochs", "2"]
    pruned = _cli(capsys, "prune", *common, "--amount", "0.5", "--finetune-epochs", "1")
    m = pruned["metrics"]
    assert m["sparsity"] == pytest.approx(0.5, abs=0.01) and m["seq_len"] > 0 and m["tokens_per_second"] > 0
    assert {"latency_ms_b1", "latency_ms_b8"} <= set(m) and m["baseline_accuracy"] > 0.5
    assert all(".encoder." in row["name"] for row in pruned["layers"])  # embeddings and head excluded

    q = run(QuantizeSpec(model="tinybert", dataset="text-demo", baseline_epochs=2), home=lab_home)
    assert q.metrics["int8_layers"] == 12 and q.metrics["fp32_layers"] == 0
    assert q.metrics["accuracy"] > 0.5 and q.metrics["size_int8_bytes"] < q.baseline["size_fp32_bytes"]

    s = run(PruneSpec(model="tinybert", dataset="text-demo", method="structured", amount=0.5,
                      finetune_epochs=1, baseline_epochs=2), home=lab_home)
    assert (s.metrics["heads_kept"], s.metrics["heads_before"]) == (4, 8)
    assert s.metrics["flops_dense"] < s.baseline["flops_dense"]

    d = _cli(capsys, "distill", "--teacher", "tinybert", "--dataset", "text-demo", "--home", str(lab_home),
             "--teacher-epochs", "2", "--student-layers", "1", "--epochs", "1")
    assert d["metrics"]["student_layers"] == 1 and d["metrics"]["teacher_layers"] == 2
    assert "scratch_accuracy" in d["metrics"] and d["metrics"]["params_total"] < d["baseline"]["params_total"]


# --- hf:DIR --------------------------------------------------------------------------------------

def test_hf_folder_without_head_gets_one_and_is_fine_tuned(encoder_dir, lab_home):
    model, info = load_hf(f"hf:{encoder_dir}", 4)
    assert info["trained"] is False and info["model_type"] == "bert"
    r = run(TrainSpec(model=f"hf:{encoder_dir}", dataset="text-demo", epochs=3, max_length=16), home=lab_home)
    # a random tiny encoder learns: chance is 0.25, three epochs reached 0.5 (seed 0)
    assert len(r.history) == 3 and r.metrics["accuracy"] > 0.4 and r.metrics["seq_len"] <= 16
    assert any("truncated" in note for note in r.notes)
    again = run(TrainSpec(model=f"hf:{encoder_dir}", dataset="text-demo", epochs=3, max_length=16), home=lab_home)
    assert again.metrics["cached"] is True


def test_hf_methods_via_cli_and_api(encoder_dir, lab_home, capsys):
    name = f"hf:{encoder_dir}"
    common = ["--model", name, "--dataset", "text-demo", "--home", str(lab_home), "--baseline-epochs", "1",
              "--max-length", "16"]
    q = _cli(capsys, "quantize", *common, "--scheme", "int8")
    assert q["metrics"]["int8_layers"] == 12
    f = _cli(capsys, "quantize", *common, "--scheme", "fake", "--bits", "4")
    assert f["metrics"]["bits"] == 4
    s = run(PruneSpec(model=name, dataset="text-demo", method="structured", amount=0.5, finetune_epochs=1,
                      baseline_epochs=1, max_length=16), home=lab_home)
    assert s.metrics["heads_kept"] == 4 and s.metrics["ffn_channels_kept"] == 64
    d = run(DistillSpec(teacher=name, dataset="text-demo", student_layers=1, epochs=1, teacher_epochs=1,
                        max_length=16), home=lab_home)
    assert d.metrics["student_layers"] == 1 and d.spec["model"] == name


def test_hf_bad_folders_are_one_line(tmp_path, capsys):
    not_model = tmp_path / "empty"
    not_model.mkdir()
    gpt = _save_tiny_bert(tmp_path / "gpt", head=True, model_type_override="gpt2")
    no_tok = _save_tiny_bert(tmp_path / "notok", head=True, tokenizer=False)
    for folder, message in ((not_model, "is not a Hugging Face model folder"),
                            (tmp_path / "missing", "model folder not found"),
                            (gpt, "architecture 'gpt2' is not supported"),
                            (no_tok, "has no tokenizer")):
        code = main(["train", "--model", f"hf:{folder}", "--dataset", "text-demo", "--home", str(tmp_path)])
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.count("\n") == 1, err
