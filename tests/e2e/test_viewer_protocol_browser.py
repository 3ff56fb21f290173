"""The load generator's viewers send what Chromium sends: a slider move's rerun request, field by field.

`benchmarks/viewer_protocol.py` rebuilds the browser's side of Streamlit's websocket protocol so that
`bench_viewers.py` can simulate many viewers without many browsers. Here a real Chromium moves each
preview slider while Playwright records the websocket frames; the frames the browser received are fed
to a `viewer_protocol.Session`, and the request it builds for the same move must equal the one the
browser sent (widget states, page script hash, fragment id, cached message hashes, context).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("viewer_protocol", ROOT / "benchmarks" / "viewer_protocol.py")
vp = sys.modules["viewer_protocol"] = importlib.util.module_from_spec(_spec)  # dataclasses look it up
_spec.loader.exec_module(vp)

READY_TIMEOUT_MS = 120_000
# page -> (slider key, text shown once its preview is drawn, keys pressed, the slider's values after them)
MOVES = {"prune": ("prune_amount", "Accuracy, one-shot", ["ArrowRight", "ArrowRight"], [51, 52]),
         "quantize": ("quantize_bits", "Instant preview", ["ArrowRight", "ArrowLeft"], [5, 4]),
         "distill": ("distill_temperature", "Instant preview", ["ArrowRight", "ArrowRight"], [4.5, 5.0])}
IDLE = """() => !document.querySelector('[data-testid="stStatusWidget"]')
              && !document.querySelector('[data-testid="stSkeleton"]')"""


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory, request):
    """A server whose home already holds the digits baseline (trained here), so every preview page is ready."""
    from compress_core.context import RunContext
    from compress_core.specs import PruneSpec
    from compress_core.training.baseline import get_baseline

    server = request.config.pluginmanager.get_plugin(str(Path(__file__).with_name("conftest.py")))
    home = tmp_path_factory.mktemp("viewer_protocol_home")
    get_baseline(PruneSpec().baseline_spec(), RunContext.create(home=home))
    port = server.free_port()
    process = server.start_app(home, port, home / "streamlit.log")
    try:
        server.wait_healthy(f"http://localhost:{port}", process)
        yield f"http://localhost:{port}"
    finally:
        server.stop_app(process, home)


@pytest.mark.parametrize("name", list(MOVES))
def test_slider_move_request_equals_the_browsers(lab_url, page, name):
    app_url = lab_url
    key, ready, presses, values = MOVES[name]
    frames = []  # ("in"|"out", payload) in the order the browser saw them
    page.on("websocket", lambda ws: (ws.on("framereceived", lambda p: frames.append(("in", p))),
                                     ws.on("framesent", lambda p: frames.append(("out", p)))))
    page.goto(f"{app_url}/{name}")
    page.get_by_text(ready).first.wait_for(timeout=READY_TIMEOUT_MS)
    for _ in range(2):
        page.wait_for_function(IDLE, timeout=60_000)
        page.wait_for_timeout(500)
    thumb = page.locator(f".st-key-{key} input[type='range']")
    thumb.focus()
    for press in presses:
        sent_before = sum(1 for d, _ in frames if d == "out")
        thumb.press(press)
        page.wait_for_function(IDLE, timeout=60_000)
        page.wait_for_timeout(800)
        assert sum(1 for d, _ in frames if d == "out") > sent_before, "the browser sent no rerun request"

    session = vp.Session(url=f"{app_url}/{name}", page_name=name)
    moves_checked = 0
    for direction, payload in frames:
        if direction == "in":
            session.absorb(vp.parse(payload))
            continue
        browser = vp.request_shape(payload)
        if browser["kind"] != "rerun_script":
            continue  # e.g. a heartbeat
        if not browser["widgets"]:  # the page request
            assert browser == vp.request_shape(session.open_page())
            continue
        ours = vp.request_shape(session.move(key, values[moves_checked]))
        differing = {k: (ours["widgets"].get(k), v) for k, v in browser["widgets"].items() if ours["widgets"].get(k) != v}
        assert not differing and ours["widgets"].keys() == browser["widgets"].keys(), (differing, ours["widgets"].keys())
        assert ours == browser
        assert browser["fragment_id"], "a preview slider reruns only its fragment"
        moves_checked += 1
    assert moves_checked == len(presses)
