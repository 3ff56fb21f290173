"""Transformer distillation: narrower students and the hidden-state (MSE) term, on the built-in
tinybert and on a tiny BERT folder saved in the test; through API and CLI; exported back out."""
from __future__ import annotations

import json

import pytest
import torch

from compress_core.api import run
from compress_core.cli.main import main
from compress_core.errors import CompressError
from compress_core.methods.distill import DistillSpec
from compress_core.methods.distill_hidden import HiddenDistiller, encode, masked_mse
from compress_core.models.text import build_tinybert, layer_indices
from compress_core.models.text_students import narrow_student, teacher_layer_map
from compress_core.models.transformers_env import import_transformers
from compress_core.runs.export import export_run, load_run_model

from test_text import _save_tiny_bert

transformers = import_transformers()
TINY = dict(teacher="tinybert", dataset="text-demo", teacher_epochs=2)


def _cli(capsys, *argv):
    code = main([*argv, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out.strip().splitlines()[-1])


def test_layer_map_is_the_layer_dropping_initialisation():
    assert teacher_layer_map(6, 3) == [1, 3, 5] == layer_indices(6, 3)
    assert teacher_layer_map(2, 2) == [0, 1] and teacher_layer_map(4, 1) == [3]
    with pytest.raises(CompressError, match=r"student_layers must be in \[1, 2\]"):
        teacher_layer_map(2, 3)


def test_narrow_student_has_the_widths_asked_and_the_teachers_vocabulary():
    teacher = build_tinybert((16,), 4)
    torch.manual_seed(0)
    s = narrow_student(teacher, layers=1, hidden_size=32, intermediate_size=48, heads=2).eval()
    cfg = s.hf.config
    assert (cfg.hidden_size, cfg.intermediate_size, cfg.num_attention_heads, cfg.num_hidden_layers) == (32, 48, 2, 1)
    assert cfg.vocab_size == teacher.hf.config.vocab_size and s.pad_id == teacher.pad_id
    assert teacher.hf.config.hidden_size == 64  # the teacher's config is not touched
    ids = torch.randint(1, 50, (3, 10))
    assert s(ids).shape == (3, 4)
    logits, hidden, mask = encode(s, ids)
    assert len(hidden) == 1 and hidden[0].shape == (3, 10, 32) and torch.allclose(logits, s(ids))
    wrapped = HiddenDistiller(s, 64)
    assert isinstance(wrapped.proj, torch.nn.Linear) and wrapped.proj.weight.shape == (64, 32)
    assert isinstance(HiddenDistiller(teacher, 64).proj, torch.nn.Identity)


def test_masked_mse_ignores_padding():
    a, b = torch.zeros(1, 3, 2), torch.zeros(1, 3, 2)
    b[0, 2] = 100.0  # a padded position
    assert float(masked_mse(a, b, torch.tensor([[True, True, False]]))) == 0.0
    b[0, 0] = 2.0
    assert float(masked_mse(a, b, torch.tensor([[True, True, False]]))) == pytest.approx(4 * 2 / (2 * 2))


def test_narrow_tinybert_student_with_hidden_term_via_api(lab_home):
    r = run(DistillSpec(**TINY, student_hidden_size=32, student_heads=2, student_intermediate_size=64,
                        student_layers=1, hidden_weight=1.0, epochs=2), home=lab_home)
    m = r.metrics
    assert (m["student_hidden_size"], m["student_heads"], m["student_intermediate_size"]) == (32, 2, 64)
    assert m["student_layers"] == 1 and m["teacher_layers"] == 2 and m["hidden_layer_map"] == [1]
    assert m["params_total"] < r.baseline["params_total"] and "scratch_accuracy" in m and m["hidden_mse"] > 0
    assert any("32->64 projection" in n for n in r.notes) and any("randomly initialised" in n for n in r.notes)
    assert r.spec["hidden_weight"] == 1.0 and r.spec["student_hidden_size"] == 32


def test_the_hidden_term_pulls_the_students_states_to_the_teachers(lab_home):
    """Same student, same steps: a heavy hidden-state weight leaves a smaller hidden MSE than a negligible one."""
    common = dict(**TINY, student_layers=1, epochs=2, scratch=False)
    weak = run(DistillSpec(**common, hidden_weight=1e-6), home=lab_home).metrics["hidden_mse"]
    strong = run(DistillSpec(**common, hidden_weight=10.0), home=lab_home).metrics["hidden_mse"]
    assert strong < weak


def test_hidden_weight_zero_is_plain_hinton(lab_home):
    r = run(DistillSpec(**TINY, student_layers=1, epochs=1, scratch=False), home=lab_home)
    assert "hidden_mse" not in r.metrics and r.spec["hidden_weight"] == 0.0


def test_narrow_hf_student_via_cli_exports_as_a_folder(lab_home, tmp_path, capsys):
    folder = _save_tiny_bert(tmp_path / "bert", head=True)
    d = _cli(capsys, "distill", "--teacher", f"hf:{folder}", "--dataset", "text-demo", "--home", str(lab_home),
             "--teacher-epochs", "1", "--epochs", "1", "--max-length", "16", "--student-hidden-size", "16",
             "--student-heads", "2", "--student-intermediate-size", "32", "--hidden-weight", "0.5")
    m = d["metrics"]
    assert m["student_hidden_size"] == 16 and m["student_layers"] == 2 and m["hidden_layer_map"] == [0, 1]
    assert m["params_total"] < d["baseline"]["params_total"]
    info = export_run(d["id"], "hf", tmp_path / "out", lab_home)
    assert info["max_abs_diff"] <= 1e-4
    hf = transformers.AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "out"), local_files_only=True)
    assert (hf.config.hidden_size, hf.config.num_attention_heads, hf.config.intermediate_size) == (16, 2, 32)
    model, data, _ = load_run_model(d["id"], lab_home)
    ids = data.x_test[:8]
    with torch.no_grad():
        got = hf.eval()(input_ids=ids, attention_mask=(ids != model.pad_id).long()).logits
        assert float((got - model(ids)).abs().max()) <= 1e-4


@pytest.mark.parametrize("argv, message", [
    (["--teacher", "tinybert", "--student-hidden-size", "30", "--student-heads", "4"],
     "student hidden size 30 is not a multiple of its 4 attention heads"),
    (["--teacher", "lenet300", "--student-hidden-size", "32"], "a narrower student needs a transformer teacher"),
    (["--teacher", "lenet300", "--hidden-weight", "1"], "hidden_weight 1 needs a transformer teacher"),
    (["--teacher", "tinybert", "--student-layers", "1", "--hidden-weight", "-1"], "hidden_weight"),
    (["--teacher", "tinybert", "--student-heads", "0"], "student_heads"),
])
def test_bad_student_settings_are_one_line(argv, message, tmp_path, capsys):
    dataset = "text-demo" if "tinybert" in argv else "digits"
    code = main(["distill", *argv, "--dataset", dataset, "--home", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_heads_that_do_not_divide_the_teachers_width_fail_at_build():
    teacher = build_tinybert((16,), 4)  # hidden 64
    with pytest.raises(CompressError, match="hidden size 64 is not a multiple of its 3 attention heads"):
        narrow_student(teacher, heads=3)
