"""Start-up tweaks (`ui/startup.py`) and settings (`.streamlit/config.toml`) that shorten a cold start.

`skip_repl_check` spares the first element of a fresh server Streamlit's REPL check
(`inspect.stack()`, 0.18 s); if a Streamlit upgrade renames the flag it relies on, the first test fails
and says so. The config keeps file watching off (a LocalSourcesWatcher per session walks sys.modules
after script runs). `disable_nagle` turns Nagle's algorithm off on the server's sockets, which Streamlit's
pre-bound listening socket leaves on (asyncio only sets `TCP_NODELAY` for sockets created with `IPPROTO_TCP`).
"""
import asyncio
import socket
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from streamlit import delta_generator, env_util
from streamlit.web.server.starlette import starlette_server

from ui import startup

ROOT = Path(__file__).resolve().parents[1]


def test_repl_check_is_skipped_on_the_first_element(monkeypatch):
    monkeypatch.setattr(delta_generator, "_use_warning_has_been_displayed", False)
    calls = []
    monkeypatch.setattr(env_util, "is_repl", lambda: calls.append(1) or False)
    assert startup.skip_repl_check() is True  # the flag still exists in this Streamlit
    delta_generator._maybe_print_use_warning()
    assert calls == []  # no inspect.stack() walk
    monkeypatch.setattr(delta_generator, "_use_warning_has_been_displayed", False)
    delta_generator._maybe_print_use_warning()
    assert calls == [1]  # without the tweak Streamlit would have run it


def test_file_watching_is_off_and_run_on_save_stays_off():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none" and config["server"]["runOnSave"] is False


def _nodelay(sock) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_the_server_sockets_get_tcp_nodelay_and_later_connections_inherit_it():
    """A listening socket bound as Streamlit binds it, served by asyncio as uvicorn serves it."""
    async def scenario():
        accepted = []
        listener = starlette_server._bind_socket("127.0.0.1", 0, 8)
        server = await asyncio.start_server(lambda r, w: accepted.append(w), sock=listener)
        port = listener.getsockname()[1]
        try:
            first = socket.socket(socket.AF_INET)  # a plain client socket of this process: Nagle on, not the server's
            first.connect(("127.0.0.1", port))
            while not accepted:
                await asyncio.sleep(0.01)
            before = _nodelay(accepted[0].get_extra_info("socket"))
            changed = startup.disable_nagle()
            existing = _nodelay(accepted[0].get_extra_info("socket"))
            outgoing = _nodelay(first)
            _, second = await asyncio.open_connection("127.0.0.1", port)
            while len(accepted) < 2:
                await asyncio.sleep(0.01)
            later = _nodelay(accepted[1].get_extra_info("socket"))
            first.close()
            for writer in (second, *accepted):
                writer.close()
            return before, changed, existing, later, outgoing
        finally:
            server.close()
            await server.wait_closed()

    with ThreadPoolExecutor(1) as thread:  # its own thread: Playwright's tests may leave a loop running in this one
        before, changed, existing, later, outgoing = thread.submit(asyncio.run, scenario()).result()
    assert before == 0, "Streamlit's server socket now gets TCP_NODELAY by itself: startup.disable_nagle can go"
    assert changed >= 2  # the listener and the connection it accepted (other tests' servers may add more)
    assert existing and later  # the open connection set directly; the next one inherits it from the listener
    assert outgoing == 0  # only the server's own sockets are touched


def test_disable_nagle_once_runs_once_per_process(monkeypatch):
    calls = []
    monkeypatch.setattr(startup, "_nagle_checked", False)
    monkeypatch.setattr(startup, "disable_nagle", lambda: calls.append(1) or 3)
    assert startup.disable_nagle_once() == 3 and startup.disable_nagle_once() == 0
    assert calls == [1]


def test_the_launcher_binds_without_nagle(monkeypatch):
    monkeypatch.setattr(starlette_server, "_bind_socket", starlette_server._bind_socket)  # restored afterwards
    assert startup.nodelay_at_bind() is True and startup.nodelay_at_bind() is True  # wrapped once
    listener = starlette_server._bind_socket("127.0.0.1", 0, 8)
    try:
        assert _nodelay(listener) == 1
    finally:
        listener.close()


def test_the_launcher_skips_the_component_manifest_scan(monkeypatch):
    from streamlit.components.v2 import manifest_scanner
    from streamlit.components.v2.component_manager import BidiComponentManager

    monkeypatch.setattr(BidiComponentManager, "discover_and_register_components",
                        BidiComponentManager.discover_and_register_components)  # restored afterwards
    scans = []
    monkeypatch.setattr(manifest_scanner, "scan_component_manifests", lambda *a, **k: scans.append(1) or [])
    BidiComponentManager().discover_and_register_components(start_file_watching=False)
    assert scans == [1]  # without the launcher Streamlit scans at start
    assert startup.skip_component_scan() is True
    BidiComponentManager().discover_and_register_components(start_file_watching=False)
    assert scans == [1]


def test_the_launcher_runs_streamlit_run_on_app_py(monkeypatch):
    from streamlit.web import cli

    from ui import serve

    calls = []
    monkeypatch.setattr(startup, "defer_plotly_theme", lambda: calls.append("defer") or True)
    monkeypatch.setattr(startup, "nodelay_at_bind", lambda: calls.append("nodelay"))
    monkeypatch.setattr(startup, "skip_component_scan", lambda: calls.append("scan"))
    monkeypatch.setattr(startup, "configure_plotly_theme_when_bound", lambda: calls.append("theme"))
    monkeypatch.setattr(cli, "main", lambda args, prog_name: calls.append((args, prog_name)) or 0)
    assert serve.main(["--server.port", "8600"]) == 0
    assert calls == ["defer", "nodelay", "scan", "theme",
                     (["run", str(ROOT / "app.py"), "--server.port", "8600"], "streamlit")]
    calls.clear()
    assert serve.main(["other.py", "--server.port", "8600"]) == 0  # another script: its theme is not deferred
    assert calls == ["nodelay", "scan", (["run", "other.py", "--server.port", "8600"], "streamlit")]


DEFERRED = """
import json, sys
from ui import startup
assert startup.defer_plotly_theme() is True
import streamlit, streamlit.elements.plotly_chart
before = "plotly.graph_objects" in sys.modules
startup.configure_plotly_theme()
startup.configure_plotly_theme()  # once only
import plotly.io as pio
print(json.dumps({"graph_objects_before": before, "default": pio.templates.default,
                  "template": pio.templates["streamlit"].to_plotly_json()}))
"""


def test_the_deferred_theme_is_the_one_streamlit_configures_at_import():
    """Deferred by the launcher, `import streamlit` loads no plotly.graph_objects; configured later, the theme and the
    default template are exactly those a plain import makes (this process imported streamlit plainly)."""
    import json
    import subprocess
    import sys

    import plotly.io as pio

    out = subprocess.run([sys.executable, "-c", DEFERRED], cwd=ROOT, capture_output=True, text=True, check=True)
    deferred = json.loads(out.stdout)
    assert deferred["graph_objects_before"] is False
    assert deferred["default"] == pio.templates.default == "streamlit"
    assert deferred["template"] == json.loads(json.dumps(pio.templates["streamlit"].to_plotly_json()))


def test_the_theme_is_not_deferred_once_streamlit_is_imported_and_configuring_it_then_does_nothing():
    assert startup.defer_plotly_theme() is False
    startup.configure_plotly_theme()


def test_the_deferred_theme_is_configured_in_the_background_once_the_socket_is_bound(monkeypatch):
    import threading

    monkeypatch.setattr(starlette_server, "_bind_socket", starlette_server._bind_socket)  # restored afterwards
    done = threading.Event()
    monkeypatch.setattr(startup, "_theme_pending", [done.set])
    assert startup.configure_plotly_theme_when_bound() is True
    assert not done.is_set()
    listener = starlette_server._bind_socket("127.0.0.1", 0, 8)
    listener.close()
    assert done.wait(10) and startup._theme_pending == []
