"""Distillation: the loss, the labelled fraction, the spec, and short real runs on digits."""
import json
import math

import pytest
import torch
import torch.nn.functional as F

import compress_core
from compress_core.methods import distill
from compress_core.data.datasets import load_dataset
from compress_core.methods.distill import UNLABELED, DistillSpec, distillation_loss, labeled_indices, matched_epochs
from compress_core.errors import CompressError
from compress_core.methods.registry import spec_from_dict

# A small mlp teacher trained for a few epochs keeps every run here to seconds.
SMALL = dict(dataset="digits", teacher="mlp", teacher_hidden=(64,), teacher_epochs=3, hidden=(8,), epochs=2)


@pytest.fixture(autouse=True)
def quick_latency(monkeypatch):
    monkeypatch.setenv("COMPRESS_LAB_LATENCY_REPEATS", "5")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """One home for the module: the teacher baseline is trained once and then cached."""
    return tmp_path_factory.mktemp("distill_home")


# --------------------------------------------------------------------------- loss


def test_loss_matches_a_hand_computed_example():
    student, teacher, labels = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), torch.tensor([0])
    # T = 2: p_t = (1 - a, a), p_s = (a, 1 - a) with a = sigmoid(0.5), so KL = (2a - 1) * 0.5.
    a = 1 / (1 + math.exp(-0.5))
    kl = (2 * a - 1) * 0.5
    ce = math.log(1 + math.exp(-1))  # -log softmax([1, 0])[0]
    expected = 0.5 * 4 * kl + 0.5 * ce
    assert distillation_loss(student, teacher, labels, 2.0, 0.5).item() == pytest.approx(expected, rel=1e-6)


def test_alpha_zero_is_cross_entropy_and_alpha_one_is_pure_kd():
    gen = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(6, 4, generator=gen), torch.randn(6, 4, generator=gen)
    labels = torch.randint(0, 4, (6,), generator=gen)
    T = 3.0
    assert distillation_loss(student, teacher, labels, T, 0.0).item() == pytest.approx(
        F.cross_entropy(student, labels).item(), rel=1e-6)
    p_t, p_s = torch.softmax(teacher / T, 1), torch.softmax(student / T, 1)
    kd = T * T * (p_t * (p_t.log() - p_s.log())).sum(1).mean()
    assert distillation_loss(student, teacher, labels, T, 1.0).item() == pytest.approx(kd.item(), rel=1e-5)
    # labels do not matter at alpha = 1
    assert distillation_loss(student, teacher, (labels + 1) % 4, T, 1.0).item() == pytest.approx(kd.item(), rel=1e-5)


def test_gradient_flows_to_the_student_only():
    student = torch.randn(5, 3, requires_grad=True)
    teacher = torch.randn(5, 3, requires_grad=True)
    distillation_loss(student, teacher, torch.tensor([0, 1, 2, 0, 1]), 4.0, 0.9).backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0


def test_unlabelled_rows_feed_only_the_kd_term():
    gen = torch.Generator().manual_seed(1)
    student, teacher = torch.randn(4, 3, generator=gen), torch.randn(4, 3, generator=gen)
    labels = torch.tensor([2, UNLABELED, 0, UNLABELED])
    known = labels != UNLABELED
    ce_known = F.cross_entropy(student[known], labels[known]).item()
    kd_all = distillation_loss(student, teacher, labels, 2.0, 1.0).item()
    assert distillation_loss(student, teacher, labels, 2.0, 0.3).item() == pytest.approx(0.3 * kd_all + 0.7 * ce_known,
                                                                                          rel=1e-6)
    none_known = torch.full((4,), UNLABELED)
    assert distillation_loss(student, teacher, none_known, 2.0, 0.3).item() == pytest.approx(0.3 * kd_all, rel=1e-6)


# --------------------------------------------------------------------------- labelled fraction and budget


def test_fraction_is_stratified_seeded_and_keeps_every_class():
    y = load_dataset("digits").y_train
    picked = labeled_indices(y, 0.1, seed=0)
    assert len(picked) == round(0.1 * len(y)) and len(set(picked.tolist())) == len(picked)
    for c in range(10):
        assert abs(int((y[picked] == c).sum()) - 0.1 * int((y == c).sum())) <= 1
    assert torch.equal(picked, labeled_indices(y, 0.1, seed=0))
    assert not torch.equal(picked, labeled_indices(y, 0.1, seed=1))
    tiny = labeled_indices(y, 0.001, seed=0)
    assert sorted(y[tiny].tolist()) == list(range(10))
    assert torch.equal(labeled_indices(y, 1.0, seed=0), torch.arange(len(y)))


def test_matched_epochs_give_the_same_number_of_steps():
    assert matched_epochs(60, 1347, 135, 32) == round(60 * 43 / 5)
    assert matched_epochs(7, 500, 500, 32) == 7


# --------------------------------------------------------------------------- spec


@pytest.mark.parametrize("field, value, message", [
    ("temperature", 0, r"temperature must be in \(0, 1000\]; got 0"),
    ("temperature", -1.5, r"temperature must be in \(0, 1000\]; got -1.5"),
    ("alpha", 1.2, r"alpha must be in \[0, 1\]; got 1.2"),
    ("alpha", -0.1, r"alpha must be in \[0, 1\]; got -0.1"),
    ("train_fraction", 0, r"train_fraction must be in \(0, 1\]; got 0"),
    ("train_fraction", 1.5, r"train_fraction must be in \(0, 1\]; got 1.5"),
    ("epochs", 0, r"epochs must be in \[1, 100000\]; got 0"),
    ("transfer", "unlabeled", r"transfer must be one of labeled, all; got 'unlabeled'"),
    ("teacher", "vgg", r"unknown model"),
    ("teacher_hidden", (32,), r"fixed architecture"),
])
def test_spec_rejects_bad_values_naming_them(field, value, message):
    with pytest.raises(CompressError, match=message):
        DistillSpec(**{field: value})


def test_spec_round_trip_and_student_fields():
    spec = DistillSpec(**SMALL, train_fraction=0.2, transfer="all", scratch=False)
    assert spec_from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert (spec.model, spec.hidden) == ("mlp", (8,))  # BaseSpec's model/hidden are the student
    assert spec.teacher_spec().model == "mlp" and spec.teacher_spec().hidden == (64,)


# --------------------------------------------------------------------------- real runs


def test_run_reports_students_teacher_and_saves_weights(home, tmp_path):
    events = []
    result = compress_core.run(DistillSpec(**SMALL, train_fraction=0.5), events.append, home=home,
                               artifacts_dir=tmp_path / "art")
    m = result.metrics
    for key in ("teacher_accuracy", "scratch_accuracy", "accuracy", "gain_vs_scratch", "agreement",
                "scratch_agreement", "labeled_examples", "params_total", "flops_dense", "size_fp32_bytes",
                "latency_ms_b1", "speedup_b64", "theoretical_speedup"):
        assert key in m, key
    assert m["teacher_accuracy"] == result.baseline["accuracy"] == m["baseline_accuracy"]
    assert m["gain_vs_scratch"] == pytest.approx(m["accuracy"] - m["scratch_accuracy"])
    assert m["params_total"] < result.baseline["params_total"] and m["theoretical_speedup"] > 1
    assert 0 <= m["agreement"] <= 1 and 0 <= m["scratch_agreement"] <= 1
    assert m["labeled_examples"] == m["kd_examples"] == round(0.5 * 1347)
    stages = [row["stage"] for row in result.history]
    assert stages.count("distill") == 2 and stages.count("scratch") == 2
    assert {"distill", "scratch", "measure"} <= {e.stage for e in events}
    state = torch.load(tmp_path / "art" / "model.pt", weights_only=True)
    assert state["net.1.weight"].shape == (8, 64)  # the student: 64 inputs, 8 hidden
    assert not any("larger than the teacher" in n for n in result.notes)


def test_scratch_and_distilled_students_start_from_the_same_weights(home, monkeypatch):
    starts = []

    def recording_fit(model, *args, **kwargs):
        starts.append({k: v.clone() for k, v in model.state_dict().items()})
        return real_fit(model, *args, **kwargs)

    real_fit = distill.fit
    monkeypatch.setattr(distill, "fit", recording_fit)
    compress_core.run(DistillSpec(**SMALL), home=home)
    assert len(starts) == 2
    assert all(torch.equal(starts[0][k], starts[1][k]) for k in starts[0])


def test_no_scratch_skips_the_control(home):
    result = compress_core.run(DistillSpec(**SMALL, scratch=False), home=home)
    assert "scratch_accuracy" not in result.metrics and "gain_vs_scratch" not in result.metrics
    assert "scratch" not in {row["stage"] for row in result.history}


def test_a_student_larger_than_the_teacher_gets_a_warning_note(home):
    result = compress_core.run(DistillSpec(**{**SMALL, "hidden": (128,)}, scratch=False), home=home)
    assert result.metrics["params_total"] > result.baseline["params_total"]
    assert any(n.startswith("warning:") and "larger than the teacher" in n for n in result.notes)


def test_transfer_all_distils_on_unlabelled_inputs(home, monkeypatch):
    seen = {"rows": 0, "unlabelled": 0}

    def counting_loss(student_logits, teacher_logits, labels, temperature, alpha):
        seen["rows"] += len(labels)
        seen["unlabelled"] += int((labels == UNLABELED).sum())
        return real_loss(student_logits, teacher_logits, labels, temperature, alpha)

    real_loss = distill.distillation_loss
    monkeypatch.setattr(distill, "distillation_loss", counting_loss)
    spec = DistillSpec(**SMALL, train_fraction=0.1, transfer="all", scratch=False)
    m = compress_core.run(spec, home=home).metrics
    n_train = 1347
    assert m["labeled_examples"] == round(0.1 * n_train) and m["kd_examples"] == n_train
    assert seen == {"rows": 2 * n_train, "unlabelled": 2 * (n_train - m["labeled_examples"])}

    seen.update(rows=0, unlabelled=0)
    labeled = compress_core.run(spec.replace(transfer="labeled"), home=home).metrics
    assert labeled["kd_examples"] == labeled["labeled_examples"] == m["labeled_examples"]
    assert seen == {"rows": 2 * m["labeled_examples"], "unlabelled": 0}


def test_scratch_gets_the_distilled_students_optimiser_steps(home):
    m = compress_core.run(DistillSpec(**SMALL, train_fraction=0.1, transfer="all"), home=home).metrics
    assert m["student_epochs"] == 2 and m["scratch_epochs"] == matched_epochs(2, 1347, 135, 32)


def test_cli_distill_json_and_bad_input(home, capsys):
    from compress_core.cli.main import main

    argv = ["distill", "--teacher", "mlp", "--teacher-hidden", "64", "--teacher-epochs", "3", "--student", "mlp",
            "--hidden", "8", "--dataset", "digits", "--temperature", "2", "--alpha", "0.5", "--epochs", "1",
            "--train-fraction", "0.2", "--transfer", "all", "--no-scratch", "--seed", "0", "--home", str(home), "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    spec = result["spec"]
    assert (spec["model"], spec["hidden"], spec["teacher"], spec["teacher_hidden"]) == ("mlp", [8], "mlp", [64])
    assert (spec["temperature"], spec["alpha"], spec["transfer"], spec["scratch"]) == (2.0, 0.5, "all", False)
    assert "scratch_accuracy" not in result["metrics"] and result["metrics"]["kd_examples"] == 1347

    assert main(["distill", "--alpha", "2", "--home", str(home)]) == 2
    assert "alpha must be in [0, 1]; got 2.0" in capsys.readouterr().err
