"""Every method on every kind of user model, through the CLI: prune (l1, structured), distil, int8, export.

The models come trained (ONNX, .pt2, or a factory / timm model given --weights), so each
baseline is evaluated as given, never retrained; that is asserted too.
"""
import json

import pytest
import torch
from safetensors.torch import save_file

from byom_helpers import make_models
from compress_core.cli.main import main
from compress_core.models.sources import resolve_model


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """name -> extra CLI arguments selecting that model (every one comes trained)."""
    folder = tmp_path_factory.mktemp("byom")
    models = make_models(folder)
    out = {key: ["--model", models[key]] for key in ("mlp.onnx", "cnn.onnx", "cnn.pt2")}
    for key, value in (("factory", models["factory"]), ("timm", "timm:test_efficientnet")):
        torch.manual_seed(0)
        module = resolve_model(value, (1, 8, 8), 10).module
        path = folder / f"{key}.safetensors"
        save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
        out[key] = ["--model", value, "--weights", str(path)]
    return out


def _run(argv, home, capsys) -> dict:
    code = main([*argv, "--home", str(home), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-2000:]
    return json.loads(captured.out)


SOURCES = ["mlp.onnx", "cnn.onnx", "cnn.pt2", "factory", "timm"]


@pytest.mark.parametrize("source", SOURCES)
def test_prune_l1_and_structured_then_export(source, sources, tmp_path_factory, capsys):
    home = tmp_path_factory.mktemp("home")
    l1 = _run(["prune", *sources[source], "--method", "l1", "--amount", "0.5", "--finetune-epochs", "1"], home, capsys)
    assert l1["metrics"]["sparsity"] == pytest.approx(0.5, abs=0.02)
    assert l1["history"][0]["stage"] == "finetune"  # no baseline training: the model came trained
    structured = _run(["prune", *sources[source], "--method", "structured", "--amount", "0.5",
                       "--finetune-epochs", "1"], home, capsys)
    assert structured["metrics"]["params_total"] < structured["baseline"]["params_total"]
    classifier = structured["layers"][-1]
    assert classifier["channels_kept"] == classifier["channels_before"] == 10  # the classes are never pruned
    for fmt in ("onnx", "safetensors"):
        out = tmp_path_factory.mktemp("export") / f"model.{fmt}"
        assert main(["export", structured["id"], "--format", fmt, "--out", str(out), "--home", str(home)]) == 0
        assert out.stat().st_size > 0


@pytest.mark.parametrize("source", SOURCES)
def test_user_model_as_teacher_and_int8(source, sources, tmp_path_factory, capsys):
    home = tmp_path_factory.mktemp("home")
    teacher = [a.replace("--model", "--teacher") for a in sources[source]]
    distilled = _run(["distill", *teacher, "--student", "mlp", "--hidden", "4", "--epochs", "1", "--no-scratch"],
                     home, capsys)
    assert distilled["metrics"]["params_total"] < distilled["baseline"]["params_total"]
    int8 = _run(["quantize", *sources[source], "--scheme", "int8"], home, capsys)
    assert int8["metrics"]["runtime"] == "onnxruntime" and int8["metrics"]["size_int8_bytes"] > 0
    assert any(row.get("int8") for row in int8["layers"]), int8["layers"]  # real int8 layers (tiny models grow:
    # the scales and zero points outweigh the bytes saved, and the run reports that size honestly)
    out = tmp_path_factory.mktemp("export") / "model.onnx"  # the int8 artifact is the deployable .onnx
    assert main(["export", int8["id"], "--format", "onnx", "--out", str(out), "--home", str(home)]) == 0


def test_prune_then_distil_student_is_a_pruned_copy_of_the_teacher(sources, tmp_path_factory, capsys):
    home = tmp_path_factory.mktemp("home")
    teacher = ["--teacher", sources["cnn.pt2"][1]]
    run = _run(["distill", *teacher, "--student", "teacher-pruned:0.5", "--epochs", "1", "--no-scratch"], home, capsys)
    assert run["metrics"]["params_total"] < run["baseline"]["params_total"]
    names = [row["name"] for row in run["layers"]]
    assert "fc_module" in names  # the teacher's own layers, fewer channels
    out = tmp_path_factory.mktemp("export") / "student.onnx"
    assert main(["export", run["id"], "--format", "onnx", "--out", str(out), "--home", str(home)]) == 0
    assert main(["prune", "--model", "teacher-pruned:0.5", "--amount", "0.5", "--home", str(home)]) == 2
    assert "a distillation student only" in capsys.readouterr().err


def test_methods_that_cannot_apply_say_which_and_continue_or_fail_in_one_line(sources, tmp_path_factory, capsys):
    home = tmp_path_factory.mktemp("home")
    factory = sources["factory"][1].replace(":build", ":branchy")
    # torch.fx cannot trace this model, but int8 goes through its ONNX graph, so it quantizes whole
    int8 = _run(["quantize", "--model", factory, "--scheme", "int8", "--baseline-epochs", "1"], home, capsys)
    assert int8["metrics"]["runtime"] == "onnxruntime" and int8["metrics"]["int8_layers"] > 0
    code = main(["prune", "--model", factory, "--method", "structured", "--amount", "0.5", "--baseline-epochs", "1",
                 "--home", str(home)])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "structured pruning left Branchy inconsistent" in errors[0]
    assert "Traceback" not in err
