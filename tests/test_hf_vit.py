"""ViT image encoders from `hf:DIR` (a tiny ViTModel / ViTForImageClassification saved in the test):
load, fine-tune as the baseline, prune, quantize (dynamic int8 in ONNX Runtime) and export, on the
8x8 digits resized to the model's 16x16; through API and CLI; bad input in one line."""
from __future__ import annotations

import json

import pytest
import torch

from compress_core.api import run
from compress_core.cli.main import main
from compress_core.methods.quantize import QuantizeSpec
from compress_core.models.hf_vision import ImageClassifier, load_vit, vision_type
from compress_core.models.text_data import takes_text
from compress_core.models.transformers_env import import_transformers
from compress_core.runs.export import export_run
from compress_core.specs import PruneSpec, TrainSpec

transformers = import_transformers()
EPOCHS = 3


def _save_vit(folder, *, head: bool, num_labels: int = 10):
    config = transformers.ViTConfig(image_size=16, patch_size=4, num_channels=1, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=4, intermediate_size=64, num_labels=num_labels)
    torch.manual_seed(0)
    model = transformers.ViTForImageClassification(config) if head else transformers.ViTModel(config,
                                                                                              add_pooling_layer=False)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    """A head-less ViT encoder: it gets a head for digits' 10 classes and is fine-tuned."""
    return f"hf:{_save_vit(tmp_path_factory.mktemp('vit') / 'encoder', head=False)}"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("vit_home")


def _cli(capsys, *argv):
    code = main([*argv, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out.strip().splitlines()[-1])


def test_a_vit_folder_is_an_image_model(vit):
    assert vision_type(vit) == "vit" and not takes_text(vit)
    model, info = load_vit(vit, 10)
    assert isinstance(model, ImageClassifier) and info["input_shape"] == (1, 16, 16) and info["trained"] is False
    names = [n for n, _ in model.prunable_layers()]
    assert len(names) == 12 and not any("classifier" in n or "embeddings" in n for n in names)
    assert model(torch.zeros(2, 1, 16, 16)).shape == (2, 10)


def test_vit_baseline_prune_and_int8_via_api(vit, home):
    base = run(TrainSpec(model=vit, dataset="digits", epochs=EPOCHS, resize="16x16"), home=home)
    assert base.metrics["accuracy"] > 0.2  # chance is 0.1: the new head and the encoder learned
    pruned = run(PruneSpec(model=vit, dataset="digits", baseline_epochs=EPOCHS, resize="16x16", amount=0.5,
                           finetune_epochs=1), home=home)
    assert pruned.metrics["sparsity"] == pytest.approx(0.5, abs=0.01) and len(pruned.layers) == 12
    assert pruned.metrics["baseline_accuracy"] == pytest.approx(base.metrics["accuracy"])
    q = run(QuantizeSpec(model=vit, dataset="digits", baseline_epochs=EPOCHS, resize="16x16", scheme="int8"),
            home=home)
    assert q.metrics["int8_layers"] == 12 and any("dynamic int8" in n for n in q.notes)
    assert q.metrics["size_int8_bytes"] < q.metrics["size_fp32_onnx_bytes"]
    assert abs(q.metrics["accuracy"] - base.metrics["accuracy"]) < 0.1


def test_vit_via_cli_and_exported_to_onnx(vit, home, tmp_path, capsys):
    common = ["--model", vit, "--dataset", "digits", "--resize", "16x16", "--home", str(home),
              "--baseline-epochs", str(EPOCHS)]
    pruned = _cli(capsys, "prune", *common, "--amount", "0.7", "--finetune-epochs", "0")
    assert pruned["metrics"]["sparsity"] == pytest.approx(0.7, abs=0.01)
    fake = _cli(capsys, "quantize", *common, "--scheme", "fake", "--bits", "4")
    assert fake["metrics"]["bits"] == 4
    info = export_run(pruned["id"], "onnx", tmp_path / "vit.onnx", home)
    assert (tmp_path / "vit.onnx").is_file() and info.get("max_abs_diff", 0) <= 1e-4
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "vit.onnx"), providers=["CPUExecutionProvider"])
    out = session.run(None, {session.get_inputs()[0].name: torch.zeros(3, 1, 16, 16).numpy()})[0]
    assert out.shape == (3, 10)


def test_vit_bad_input_is_one_line(vit, tmp_path, capsys):
    cases = [(["train", "--model", vit, "--dataset", "digits"], "model expects 1x16x16 images; digits gives 1x8x8 "
                                                                "(resize the images with --resize 16x16)"),
             (["prune", "--model", vit, "--dataset", "digits", "--resize", "16x16", "--method", "structured",
               "--amount", "0.5", "--baseline-epochs", "1", "--finetune-epochs", "0"],
              "structured pruning of a ViT is not supported"),
             (["train", "--model", vit, "--dataset", "text-demo"], "takes images (a ViT), but data set 'text-demo' is text")]
    for argv, message in cases:
        code = main([*argv, "--home", str(tmp_path)])
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.splitlines()[-1].startswith("error:"), err
        assert sum(line.startswith("error:") for line in err.splitlines()) == 1
