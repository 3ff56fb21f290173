"""House rules that keep the engine usable from the CLI, the UI and the API alike.

The import graph is read from the source (every import, at module level or inside a
function), so a rule broken in a rarely run code path fails here, not in front of a user.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "compress_core"
SUBPACKAGES = ("data", "models", "training", "methods", "measure", "runs", "explore", "present", "cli")


def _modules() -> dict[str, Path]:
    """Dotted name -> file for every module of the engine (packages by their __init__)."""
    out = {}
    for path in ENGINE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """Engine modules that `path` imports (relative imports resolved; `from pkg import mod` counts as mod)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and target != "compress_core":
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, name, modules) for name, path in modules.items()}


def test_the_engine_is_split_into_subpackages():
    for sub in SUBPACKAGES:
        assert (ENGINE / sub / "__init__.py").exists(), f"compress_core/{sub} is not a package"
        assert ast.get_docstring(ast.parse((ENGINE / sub / "__init__.py").read_text())), f"{sub} has no docstring"


def test_engine_never_imports_streamlit():
    for path in ENGINE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "streamlit" for n in names), f"{path} imports streamlit"


def test_the_engine_never_imports_the_cli():
    for name, targets in _graph().items():
        if name.startswith("compress_core.cli") or name == "compress_core.__main__":
            continue
        bad = sorted(t for t in targets if t.startswith("compress_core.cli"))
        assert not bad, f"{name} imports the CLI ({', '.join(bad)})"


def test_no_import_circles():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_graph_reader_sees_imports():
    """The reader sees module-level and function-level imports (so the checks above cannot pass vacuously)."""
    graph = _graph()
    assert "compress_core.methods.registry" in graph["compress_core.api"]
    assert "compress_core.methods.registry" in graph["compress_core.cli.main"]
    assert any(t.startswith("compress_core.measure") for t in graph["compress_core.methods.prune"])


def test_every_torch_load_is_weights_only():
    for path in [*ENGINE.rglob("*.py"), *Path(ROOT, "pages").glob("*.py"), *Path(ROOT, "ui").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "load" and \
                    getattr(getattr(node.func, "value", None), "id", "") == "torch":
                kw = {k.arg: getattr(k.value, "value", None) for k in node.keywords}
                assert kw.get("weights_only") is True, f"{path.name}:{node.lineno} torch.load without weights_only=True"
