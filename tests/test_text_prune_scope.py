"""Unstructured pruning of transformers: the attention/FFN projections by default; embeddings and the
head (pooler, classifier) only when asked (`include_embeddings`, `include_head`), also with `--layers`."""
from __future__ import annotations

import json

import pytest

from compress_core.api import run
from compress_core.cli.main import main
from compress_core.errors import CompressError
from compress_core.methods.prune import make_permanent, prune_to, select_layers
from compress_core.models.text import build_tinybert
from compress_core.models.zoo import prunable_layers
from compress_core.specs import PruneSpec

COMMON = dict(model="tinybert", dataset="text-demo", baseline_epochs=2, finetune_epochs=0)


def test_default_scope_is_attention_and_ffn_only():
    model = build_tinybert((8,), 4)
    names = [n for n, _ in prunable_layers(model)]
    assert len(names) == 12 and all(".encoder.layer." in n for n in names)
    with pytest.raises(CompressError, match="matches no prunable layer"):
        select_layers(model, "*embeddings*")
    model.prune_extra = ("embeddings", "head")
    names = [n for n, _ in prunable_layers(model)]
    assert names[0] == "hf.bert.embeddings.word_embeddings" and names[-2:] == ["hf.bert.pooler.dense", "hf.classifier"]
    assert [n for n, _ in select_layers(model, "*word_embeddings,hf.classifier")] == \
        ["hf.bert.embeddings.word_embeddings", "hf.classifier"]


def test_masks_on_embeddings_are_folded_like_the_others():
    model = build_tinybert((8,), 4)
    model.prune_extra = ("embeddings",)
    prune_to(model, "l1", "global", 0.5)
    make_permanent(model)
    state = model.state_dict()
    assert not any(k.endswith(("_orig", "_mask")) for k in state)
    emb = state["hf.bert.embeddings.word_embeddings.weight"]
    assert 0.2 < float((emb == 0).float().mean()) < 0.9


def test_embeddings_and_head_pruned_only_when_asked(lab_home):
    plain = run(PruneSpec(**COMMON, amount=0.5), home=lab_home)
    assert all(".encoder." in row["name"] for row in plain.layers)
    both = run(PruneSpec(**COMMON, amount=0.5, include_embeddings=True, include_head=True), home=lab_home)
    rows = {row["name"]: row["sparsity"] for row in both.layers}
    assert rows["hf.bert.embeddings.word_embeddings"] > 0.1 and rows["hf.classifier"] > 0
    assert both.metrics["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert any("also pruned (embeddings and head" in n for n in both.notes)


def test_cli_head_only_with_a_layer_pattern(lab_home, capsys):
    code = main(["prune", "--model", "tinybert", "--dataset", "text-demo", "--home", str(lab_home),
                 "--baseline-epochs", "2", "--finetune-epochs", "0", "--amount", "0.5", "--include-head",
                 "--layers", "hf.classifier", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    result = json.loads(out.out.strip().splitlines()[-1])
    rows = {row["name"]: row["sparsity"] for row in result["layers"]}
    assert rows["hf.classifier"] == pytest.approx(0.5, abs=0.02) and rows["hf.bert.pooler.dense"] == 0
    assert rows["hf.bert.encoder.layer.0.attention.self.query"] == 0
    assert result["spec"]["include_head"] is True and result["spec"]["include_embeddings"] is False


@pytest.mark.parametrize("argv, message", [
    (["--model", "tinybert", "--dataset", "text-demo", "--method", "wanda", "--include-embeddings"],
     "embeddings take token ids; use l1 or random"),
    (["--model", "tinybert", "--dataset", "text-demo", "--method", "structured", "--include-head"],
     "do not combine with method 'structured'"),
    (["--model", "lenet300", "--dataset", "digits", "--include-head", "--baseline-epochs", "1"],
     "apply to transformer models"),
])
def test_bad_scope_is_one_line(argv, message, tmp_path, capsys):
    code = main(["prune", *argv, "--amount", "0.5", "--finetune-epochs", "0", "--home", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
