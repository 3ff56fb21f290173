"""Bring your own model: every source through the resolver, the fit checks, and hostile files.

Every model here is built inside the test (a factory file, ONNX exports of an MLP and of a CNN
with batch norm and a residual add, a torch.export program, a narrow timm model).
"""
import pytest
import torch
from safetensors.torch import save_file

from byom_helpers import (SmallCNN, forged_onnx, forged_safetensors, make_models, pickle_payload,
                          pt2_with_pickled_weight, torchscript_file, unknown_op_onnx)
from compress_core.data.datasets import load_dataset
from compress_core.data.prepare import parse_normalize, prepare
from compress_core.errors import CompressError
from compress_core.models.fit import check_fits, model_and_data
from compress_core.models.sources import check_model_value, resolve_model
from compress_core.specs import PruneSpec, TrainSpec


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return make_models(tmp_path_factory.mktemp("user_models"))


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return load_dataset("digits", tmp_path_factory.mktemp("data"))


def test_every_source_resolves_to_a_module_that_fits_digits(models, digits):
    for value, kind, trained in [(models["mlp.onnx"], "onnx", True), (models["cnn.onnx"], "onnx", True),
                                 (models["cnn.pt2"], "pt2", True), (models["factory"], "factory", False),
                                 ("timm:test_efficientnet", "timm", False), ("lenet5", "builtin", False)]:
        resolved = resolve_model(value, digits.input_shape, digits.num_classes)
        assert (resolved.kind, resolved.comes_trained) == (kind, trained), value
        check_fits(resolved, digits, value)
        assert resolved.module(digits.x_test[:3]).shape == (3, 10)


def test_onnx_conversion_matches_onnxruntime(models, digits):
    import onnxruntime as ort

    x = digits.x_test[:5]
    for key in ("mlp.onnx", "cnn.onnx"):
        module = resolve_model(models[key], digits.input_shape, 10).module.eval()
        session = ort.InferenceSession(models[key], providers=["CPUExecutionProvider"])
        expected = session.run(None, {"x": x.numpy()})[0]
        assert torch.allclose(module(x), torch.from_numpy(expected), atol=1e-5)


def test_pt2_program_becomes_layer_modules_with_the_same_outputs(tmp_path, digits):
    from byom_helpers import save_pt2

    torch.manual_seed(1)
    original = SmallCNN().eval()
    path = save_pt2(original, tmp_path / "m.pt2")
    module = resolve_model(str(path), digits.input_shape, 10).module.eval()
    types = {type(m).__name__ for m in module.modules()}
    assert {"Conv2d", "BatchNorm2d", "Linear"} <= types
    x = digits.x_test[:4]
    assert torch.allclose(module(x), original(x), atol=1e-5)
    module.train()  # exported programs forbid train(); the rebuilt layers honour it
    assert module.training


def test_safetensors_weights_load_into_any_source_and_make_it_trained(tmp_path, models, digits):
    resolved = resolve_model(models["factory"], digits.input_shape, 10)
    torch.manual_seed(3)
    state = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in resolved.module.state_dict().items()}
    save_file(state, str(tmp_path / "w.safetensors"))
    loaded = resolve_model(models["factory"], digits.input_shape, 10, weights=str(tmp_path / "w.safetensors"))
    assert loaded.comes_trained and loaded.normalize == "none"
    assert torch.equal(loaded.module.state_dict()["0.weight"], state["0.weight"])
    save_file({"0.weight": state["0.weight"]}, str(tmp_path / "partial.safetensors"))
    with pytest.raises(CompressError, match="do not fit Sequential: .* missing"):
        resolve_model(models["factory"], digits.input_shape, 10, weights=str(tmp_path / "partial.safetensors"))


@pytest.mark.parametrize("value, fragment", [
    ("vgg", "unknown model 'vgg'; allowed: mlp, lenet300, lenet5, resnet8, tinybert (built-in); hf:DIR"),
    ("timm:res net", "timm model name must be"),
    ("model.ts", "TorchScript archives are refused"),
    ("model.pth", "is a Python pickle"),
    ("w.safetensors", "holds weights only"),
    ("f.py:2build", "is not a Python function name"),
])
def test_syntax_errors_are_one_line(value, fragment):
    with pytest.raises(CompressError, match=None) as info:
        check_model_value(value)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_spec_accepts_sources_and_new_fields_default_to_none(models):
    spec = PruneSpec(model=models["cnn.onnx"], normalize="0.5,0.25", resize="16")
    assert spec.resize == "16x16" and spec.weights is None
    assert spec.baseline_spec().resize == "16x16"
    assert TrainSpec(model="lenet300").to_dict()["normalize"] is None
    with pytest.raises(CompressError, match="hidden widths apply to the built-in 'mlp' only"):
        TrainSpec(model=models["cnn.onnx"], hidden=(3,))
    with pytest.raises(CompressError, match="normalize must be auto, none, or MEAN,STD"):
        TrainSpec(model="lenet5", normalize="imagenet")
    with pytest.raises(CompressError, match="weights must be a path to a .safetensors file"):
        TrainSpec(model="lenet5", weights="w.pt")


def test_input_shape_and_class_count_are_checked_before_any_work(tmp_path, models, digits):
    from byom_helpers import save_onnx

    big = save_onnx(SmallCNN(3, 10), tmp_path / "rgb.onnx", shape=(3, 32, 32))
    with pytest.raises(CompressError, match=r"^model expects 3x32x32 images; digits gives 1x8x8$"):
        model_and_data(TrainSpec(model=str(big)), digits)
    fixed = save_onnx(SmallCNN(1, 10), tmp_path / "gray.onnx", shape=(1, 16, 16))
    with pytest.raises(CompressError, match=r"model expects 1x16x16 images; digits gives 1x8x8 \(resize the images "
                                            r"with --resize 16x16\)"):
        model_and_data(TrainSpec(model=str(fixed)), digits)
    resolved, data = model_and_data(TrainSpec(model=str(fixed), resize="16x16"), digits)
    assert data.input_shape == (1, 16, 16) and data.x_test.shape[1:] == (1, 16, 16)
    wrong = save_onnx(SmallCNN(1, 3), tmp_path / "three.onnx")
    with pytest.raises(CompressError, match=r"outputs 3 classes; digits has 10"):
        model_and_data(TrainSpec(model=str(wrong)), digits)
    with pytest.raises(CompressError, match=r"outputs 3 classes; digits has 10"):
        model_and_data(TrainSpec(model=models["factory"].replace(":build", ":wrong_classes")), digits)
    with pytest.raises(CompressError, match="returned int, not a torch.nn.Module"):
        model_and_data(TrainSpec(model=models["factory"].replace(":build", ":not_a_module")), digits)


def test_normalize_none_gives_pixels_in_0_1_and_custom_statistics(digits):
    raw = prepare(digits, "none")
    assert raw.x_train.min() >= -1e-5 and raw.x_train.max() <= 16 + 1e-4  # digits pixels are 0..16
    custom = prepare(digits, "2,4")
    assert torch.allclose(custom.x_test, (raw.x_test - 2) / 4, atol=1e-5)
    assert prepare(digits, "auto") is digits
    assert parse_normalize("0.485/0.456/0.406,0.229/0.224/0.225")[0] == (0.485, 0.456, 0.406)
    with pytest.raises(CompressError, match="gives 3 means and standard deviations; digits has 1 channels"):
        prepare(digits, "1/2/3,1/1/1")


# --- hostile files: one line each, nothing executed ------------------------------------------

def _refused(path, digits) -> str:
    with pytest.raises(CompressError) as info:
        resolve_model(str(path), digits.input_shape, digits.num_classes)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_truncated_onnx(tmp_path, models, digits):
    data = open(models["cnn.onnx"], "rb").read()
    (tmp_path / "t.onnx").write_bytes(data[: len(data) // 2])
    assert "is not a readable ONNX model" in _refused(tmp_path / "t.onnx", digits)


def test_onnx_with_an_unknown_operator_names_it(tmp_path, digits):
    message = _refused(unknown_op_onnx(tmp_path / "u.onnx"), digits)
    assert "ONNX operator FrobnicateZ (domain 'com.example')" in message and "not supported by onnx2torch" in message


def test_onnx_initializer_declaring_2_gb_in_a_tiny_file(tmp_path, digits):
    path = forged_onnx(tmp_path / "f.onnx")
    assert path.stat().st_size < 1000
    assert "declares shape [536870912] (2,147,483,648 bytes) but holds 16 bytes" in _refused(path, digits)


def test_safetensors_declaring_2_gb_in_a_tiny_file(tmp_path, models, digits):
    path = forged_safetensors(tmp_path / "f.safetensors")
    with pytest.raises(CompressError, match="declares bytes 0..2147483648 but the file holds 16 bytes"):
        resolve_model(models["factory"], digits.input_shape, 10, weights=str(path))


def test_pt2_that_is_a_pickle_with_a_payload_is_never_unpickled(tmp_path, digits):
    marker = tmp_path / "payload-ran"
    message = _refused(pickle_payload(tmp_path / "evil.pt2", marker), digits)
    assert "is a Python pickle" in message and "not loaded" in message
    assert not marker.exists()


def test_pt2_archive_with_a_pickled_weight_is_refused_unread(tmp_path, models, digits):
    marker = tmp_path / "payload-ran"
    path = pt2_with_pickled_weight(models["cnn.pt2"], tmp_path / "evil.pt2", marker)
    assert "is stored as a pickle; nothing in it was loaded" in _refused(path, digits)
    assert not marker.exists()
    # The guard matters: torch.export.load itself runs this payload.
    with pytest.raises(Exception):
        torch.export.load(str(path))
    assert marker.exists()


def test_torchscript_files_are_refused_whatever_their_name(tmp_path, digits):
    for name in ("m.pt2", "m.onnx"):
        assert "TorchScript archives are refused" in _refused(torchscript_file(tmp_path / name), digits)
    assert "TorchScript archives are refused" in _refused(tmp_path / "m.ts", digits)


def test_an_operator_at_an_opset_onnx2torch_lacks_is_named_with_the_fix(tmp_path, digits):
    from byom_helpers import save_onnx

    path = save_onnx(SmallCNN(), tmp_path / "new.onnx", opset=20)
    message = _refused(path, digits)
    assert "at opset" in message and "not supported by onnx2torch 1.5.15" in message and "opset_version=17" in message


def test_matching_order_does_not_depend_on_which_source_was_imported_first():
    """A module importing one source early (distill imports teacher_pruned) must not change which source
    matches first: the order is that of `_SOURCE_MODULES`."""
    import subprocess
    import sys

    code = ("import compress_core.methods.distill\n"
            "from compress_core.models.sources import _sources\n"
            "print(','.join(s.kind for s in _sources()))")
    kinds = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert kinds.split(",")[0] == "hf" and kinds.split(",")[-1] == "builtin"
    assert kinds.split(",").index("teacher-pruned") > kinds.split(",").index("pt2")
