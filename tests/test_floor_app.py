"""benchmarks/floor_app.py, Streamlit's floor for `bench_ui.py --floor`: it must draw what the cold start waits
for on the lab's Home (title, run table, the Classics card's link, a sidebar radio) and use none of the lab's code."""
from __future__ import annotations

import ast
from pathlib import Path

from streamlit.testing.v1 import AppTest

FLOOR_APP = Path(__file__).resolve().parents[1] / "benchmarks" / "floor_app.py"


def test_the_floor_app_draws_homes_elements():
    at = AppTest.from_file(str(FLOOR_APP), default_timeout=30).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Compression Lab"]
    table = [m.value for m in at.markdown if m.value.startswith("| method |")]
    assert len(table) == 1 and len(table[0].splitlines()) == 2 + 8  # heading, rule, eight runs
    links = at.get("page_link")
    assert len(links) == 13 and links[-1].proto.label == "**Classics**"
    assert at.sidebar.radio[0].label == "Backend"


def test_the_floor_app_imports_only_streamlit():
    tree = ast.parse(FLOOR_APP.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"streamlit"}
