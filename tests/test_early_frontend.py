"""The launcher's early frontend (ui/early_frontend.py): the socket Streamlit will bind, planned from the same
settings; Streamlit's frontend files served from it before Streamlit is up; requests only Streamlit can answer held
and forwarded once the socket is handed over; and no early server where the socket cannot be told in advance."""
from __future__ import annotations

import http.client
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ui import early_frontend
from ui.early_frontend import EarlyFrontend

FOLDER = early_frontend.static_folder()
HOME = Path("/nonexistent-home")  # no global Streamlit config


def planned(argv=(), environ=None, project_config: str | None = None, tmp_path: Path | None = None):
    cwd = HOME
    if project_config is not None:
        (tmp_path / ".streamlit").mkdir()
        (tmp_path / ".streamlit" / "config.toml").write_text(project_config)
        cwd = tmp_path
    return early_frontend.planned_socket(list(argv), environ or {}, cwd, HOME)


def test_the_planned_socket_follows_streamlits_defaults_config_environment_and_command_line(tmp_path):
    wildcard = "::" if socket.has_ipv6 else "0.0.0.0"
    assert planned() == (wildcard, 8501)
    config = '[server]\naddress = "localhost"\nport = 8600\nheadless = true\n'
    assert planned(project_config=config, tmp_path=tmp_path) == ("localhost", 8600)
    env = {"STREAMLIT_SERVER_PORT": "8700"}
    assert planned(environ=env, tmp_path=tmp_path) == (wildcard, 8700)
    assert planned(["--server.port", "8800"], env) == (wildcard, 8800)  # the command line wins
    assert planned(["--server.port=8900", "--server.address=127.0.0.1"], env) == ("127.0.0.1", 8900)


def test_the_repository_config_plans_localhost():
    root = Path(__file__).resolve().parents[1]
    assert early_frontend.planned_socket([], {}, root, HOME) == ("localhost", 8501)


@pytest.mark.parametrize("argv, environ", [
    (["--server.baseUrlPath", "lab"], {}),
    ([], {"STREAMLIT_SERVER_SSL_CERT_FILE": "/x.pem"}),
    (["--server.address", "unix:///tmp/lab.sock"], {}),
    (["--server.port", "eighty"], {}),
    (["--server.port", "70000"], {}),
])
def test_no_early_server_where_the_socket_cannot_be_planned(argv, environ):
    assert early_frontend.planned_socket(argv, environ, HOME, HOME) is None


def test_the_switch_turns_it_off(monkeypatch):
    monkeypatch.setenv(early_frontend.SWITCH, "0")
    assert early_frontend.start(["--server.port", "1"]) is None


@pytest.fixture
def early():
    sock = early_frontend.bind("127.0.0.1", 0)
    server = EarlyFrontend(sock, FOLDER, ("127.0.0.1", sock.getsockname()[1])).start()
    yield server
    server.stop()


def get(port: int, path: str, method: str = "GET", headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read(), response.getheaders()
    finally:
        conn.close()


def test_static_files_and_page_paths_map_to_the_frontend_and_nothing_else():
    server = EarlyFrontend.__new__(EarlyFrontend)
    server.folder = FOLDER.resolve()
    index = FOLDER.resolve() / "index.html"
    assert server.static_file("/") == server.static_file("/learn") == server.static_file("/?embed=true") == index
    assert server.static_file("/deep_compression?x=1") == index
    assert server.static_file("/favicon.png") == FOLDER.resolve() / "favicon.png"
    for path in ("/_stcore/health", "/_stcore/host-config", "/component/ui.live_chart.assets/live_chart.js",
                 "/media/abc.png", "/learn/", "/../index.html", "/static/../../__init__.py", "//evil.example/x",
                 "/%2e%2e/__init__.py", "/nothing.js"):
        assert server.static_file(path) is None, path


def test_the_frontend_is_served_with_streamlits_cache_headers_one_request_per_connection(early):
    port = early.planned[1]
    status, headers, body, _ = get(port, "/")
    assert status == 200 and body == (FOLDER / "index.html").read_bytes()
    assert headers["cache-control"] == "no-cache" and headers["connection"] == "close"
    assert headers["content-type"].startswith("text/html")
    bundle = next((FOLDER / "static" / "js").glob("index.*.js"))
    status, headers, body, _ = get(port, f"/static/js/{bundle.name}")
    assert status == 200 and body == bundle.read_bytes() and "immutable" in headers["cache-control"]
    assert "javascript" in headers["content-type"]
    status, headers, body, _ = get(port, "/learn", method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) == (FOLDER / "index.html").stat().st_size


class _Streamlit(http.server.BaseHTTPRequestHandler):
    """Stands in for Streamlit's server after the hand-over: not ready once, then healthy with its XSRF cookie."""
    protocol_version = "HTTP/1.1"
    asked: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.asked.append((self.path, self.headers.get("Cookie")))
        ready = len([p for p, _ in self.asked if p == "/_stcore/health"]) > 1 or self.path != "/_stcore/health"
        body = (b"ok" if ready else b"unavailable") if self.path == "/_stcore/health" else b'{"config": 1}'
        self.send_response(200 if ready else 503)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", "_streamlit_xsrf=token; Path=/")
        self.end_headers()
        self.wfile.write(body)


def held(port: int, path: str, answers: list, headers: dict | None = None) -> threading.Thread:
    thread = threading.Thread(target=lambda: answers.append(get(port, path, headers=headers)), daemon=True)
    thread.start()
    return thread


def test_requests_for_streamlit_wait_for_the_hand_over_and_get_its_answer(early):
    port = early.planned[1]
    answers: list = []
    _Streamlit.asked = []
    threads = [held(port, "/_stcore/health", answers), held(port, "/_stcore/host-config", answers, {"Cookie": "a=b"})]
    for thread in threads:
        thread.join(0.5)
    assert answers == []  # held: Streamlit has not bound yet
    sock = early.take("127.0.0.1", port)  # what Streamlit's bind gets
    assert sock is not None and sock.getsockname()[1] == port
    streamlit = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Streamlit, bind_and_activate=False)
    streamlit.socket.close()
    streamlit.socket = sock
    sock.setblocking(True)
    threading.Thread(target=streamlit.serve_forever, args=(0.05,), daemon=True).start()
    try:
        for thread in threads:
            thread.join(20)
        by_body = {a[2]: a for a in answers}
        status, headers, _, raw = by_body[b"ok"]  # asked again after "unavailable"
        assert status == 200 and headers["set-cookie"] == "_streamlit_xsrf=token; Path=/"
        assert [k.lower() for k, _ in raw].count("date") <= 1 and headers["connection"] == "close"
        assert by_body[b'{"config": 1}'][0] == 200
        assert ("/_stcore/host-config", "a=b") in _Streamlit.asked  # the browser's headers go along
        # A connection made after the hand-over is Streamlit's own: even for the index page.
        assert get(port, "/")[2] == b'{"config": 1}'
    finally:
        streamlit.shutdown()
        sock.close()


def test_when_streamlit_binds_elsewhere_the_socket_is_closed_and_held_requests_fail_fast(early):
    port = early.planned[1]
    answers: list = []
    thread = held(port, "/_stcore/health", answers)
    thread.join(0.3)
    assert early.take("127.0.0.1", port + 1) is None
    thread.join(20)
    assert answers and answers[0][0] == 503
    with pytest.raises(OSError):
        get(port, "/")
    assert early.take("127.0.0.1", port) is None  # once only


def test_the_launcher_hands_the_socket_to_streamlits_bind(monkeypatch):
    from streamlit.web.server.starlette import starlette_server

    monkeypatch.setattr(starlette_server, "_bind_socket", starlette_server._bind_socket)  # restored afterwards
    sock = early_frontend.bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = EarlyFrontend(sock, FOLDER, ("127.0.0.1", port)).start()
    assert early_frontend.hand_over_at_bind(server) is True
    got = starlette_server._bind_socket("127.0.0.1", port, 2048)
    try:
        assert got is sock and not got.getblocking()
        other = starlette_server._bind_socket("127.0.0.1", 0, 8)  # a later bind is Streamlit's own
        assert other is not sock
        other.close()
    finally:
        got.close()
    assert early_frontend.hand_over_at_bind(None) is False


FORKED = """
import http.client, json, os, socket, sys, time
from ui import early_frontend
port = int(sys.argv[1])
early = early_frontend.start(["--server.port", str(port), "--server.address", "127.0.0.1"])
def ask(path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.getheader("Server"), len(response.read())
first = ask("/learn")
sock = early.take("127.0.0.1", port)
child_gone = False
for _ in range(200):  # the child exits once nothing is held (the reaper thread collects it)
    try:
        os.kill(early._pid, 0)
    except ProcessLookupError:
        child_gone = True
        break
    time.sleep(0.05)
sock.settimeout(0.5)
conn = socket.create_connection(("127.0.0.1", port))
conn.sendall(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
accepted, _ = sock.accept()  # the connection waits for the launcher's own server: nobody else accepts it
print(json.dumps({"kind": type(early).__name__, "first": first, "same_port": sock.getsockname()[1] == port,
                  "child_gone": child_gone, "queued_for_streamlit": accepted is not None}))
"""


def test_the_launcher_serves_from_a_child_process_and_takes_the_socket_back(tmp_path):
    """`start` forks the early server (so it never waits for the import's interpreter lock); after `take` the child
    has stopped accepting and exits, and the socket's next connection waits for the launcher's own server."""
    port = _free_port()
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", FORKED, str(port)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["kind"] == "ForkedFrontend" and out["first"][0] == 200
    assert out["first"][1].startswith("CompressionLab-early") and out["first"][2] == (FOLDER / "index.html").stat().st_size
    assert out["same_port"] and out["child_gone"] and out["queued_for_streamlit"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
