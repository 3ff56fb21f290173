"""House rules that keep the engine usable from the CLI, the UI and the API alike."""
import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "compress_core"


def test_engine_never_imports_streamlit():
    for path in ENGINE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "streamlit" for n in names), f"{path.name} imports streamlit"


def test_every_torch_load_is_weights_only():
    for path in [*ENGINE.glob("*.py"), *Path(ENGINE.parent, "pages").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "load" and \
                    getattr(getattr(node.func, "value", None), "id", "") == "torch":
                kw = {k.arg: getattr(k.value, "value", None) for k in node.keywords}
                assert kw.get("weights_only") is True, f"{path.name}:{node.lineno} torch.load without weights_only=True"
