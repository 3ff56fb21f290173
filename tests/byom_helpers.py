"""Tiny user models built inside the tests: a factory file, ONNX files, a .pt2 program, hostile files."""
from __future__ import annotations

import pickle
import struct
import json
import warnings
from pathlib import Path

import torch
from torch import nn

FACTORY_SOURCE = '''
from torch import nn

def build(input_shape, num_classes):
    c, h, w = input_shape
    return nn.Sequential(nn.Conv2d(c, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * h * w, num_classes))

def wrong_classes(input_shape):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 3))

def not_a_module():
    return 42


class Branchy(nn.Module):
    """A branch on the data (torch.fx cannot trace it) and a reshape by a fixed channel count."""

    def __init__(self, num_classes):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        y = self.conv(x)
        if y.mean() > 100:  # data-dependent control flow
            y = y * 2
        return self.fc(y.reshape(y.shape[0], 8, -1).mean(2))


def branchy(num_classes):
    return Branchy(num_classes)
'''


class SmallCNN(nn.Module):
    """Two convs with batch norm and a residual add, global pooling, a linear classifier."""

    def __init__(self, channels: int = 1, classes: int = 10):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(channels, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.c2, self.b2 = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        z = torch.relu(self.b2(self.c2(y)) + y)
        return self.fc(z.mean(dim=(2, 3)))


def mlp(inputs: int = 64, classes: int = 10) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(inputs, 32), nn.ReLU(), nn.Linear(32, classes))


def save_onnx(model: nn.Module, path: Path, shape=(1, 8, 8), opset: int | None = 17) -> Path:
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(2, *shape),), str(path), dynamo=False, opset_version=opset, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return path


def save_pt2(model: nn.Module, path: Path, shape=(1, 8, 8)) -> Path:
    program = torch.export.export(model.eval(), (torch.zeros(2, *shape),),
                                  dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, str(path))
    return path


def make_models(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    (folder / "factory.py").write_text(FACTORY_SOURCE)
    return {"mlp.onnx": str(save_onnx(mlp(), folder / "mlp.onnx")),
            "cnn.onnx": str(save_onnx(SmallCNN(), folder / "cnn.onnx")),
            "cnn.pt2": str(save_pt2(SmallCNN(), folder / "cnn.pt2")),
            "factory": f"{folder / 'factory.py'}:build"}


class Payload:
    """Unpickling this runs `open(marker, 'w')`: proof that a file was (not) unpickled."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def pickle_payload(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps(Payload(marker), protocol=4))
    return path


def pt2_with_pickled_weight(source: Path, path: Path, marker: Path) -> Path:
    """A real .pt2 archive with one weight marked `use_pickle` and its bytes replaced by a payload pickle.

    `torch.export.load` reads such a weight with `torch.load(weights_only=False)`: it would run the payload.
    """
    import zipfile

    with zipfile.ZipFile(source) as zin:
        members = [(info, zin.read(info.filename)) for info in zin.infolist()]
    config_name = next(info.filename for info, _ in members if info.filename.endswith("model_weights_config.json"))
    config = json.loads(dict((i.filename, d) for i, d in members)[config_name])
    first = next(iter(config["config"]))
    config["config"][first]["use_pickle"] = True
    weight_name = config_name.rsplit("/", 1)[0] + "/" + config["config"][first]["path_name"]
    buffer = __import__("io").BytesIO()
    torch.save(Payload(marker), buffer)  # what torch.export.save writes for a pickled weight
    with zipfile.ZipFile(path, "w") as zout:
        for info, data in members:
            if info.filename == config_name:
                data = json.dumps(config).encode()
            elif info.filename == weight_name:
                data = buffer.getvalue()
            zout.writestr(info, data)
    return path


def forged_safetensors(path: Path) -> Path:
    """A 200-byte file whose header declares a 2 GB float32 tensor."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [536870912], "data_offsets": [0, 2147483648]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    return path


def forged_onnx(path: Path) -> Path:
    """An ONNX graph whose initializer declares 2 GB but holds 16 bytes."""
    from onnx import TensorProto, helper

    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[536870912], raw_data=b"\0" * 16)
    node = helper.make_node("Add", ["x", "w"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 64])], [weight])
    path.write_bytes(helper.make_model(graph).SerializeToString())
    return path


def unknown_op_onnx(path: Path) -> Path:
    from onnx import TensorProto, helper

    node = helper.make_node("FrobnicateZ", ["x"], ["y"], domain="com.example")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 10])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    path.write_bytes(model.SerializeToString())
    return path


def torchscript_file(path: Path) -> Path:
    torch.jit.save(torch.jit.script(mlp()), str(path))
    return path
