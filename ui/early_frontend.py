"""Serve Streamlit's frontend files while Streamlit itself is still starting (`python -m ui.serve`, issue 19).

Why: on a 2-core machine the launcher listens about 1 s after it is started (`import streamlit` 0.65 s, the
runtime 0.25 s), and only then can a browser begin on Streamlit's frontend: about 0.8 s from the index page to
DOMContentLoaded in Chromium, before its first call to the server (docs/performance.md, "Eighth round"). The two do
not depend on each other: the frontend is the streamlit package's static files. So the launcher binds the listening
socket Streamlit is going to bind (same address, port and options as Streamlit's `_bind_socket`) before streamlit is
imported, and serves those files from it while streamlit imports (`start`), from a child process forked before the
import: in the launcher's own process the early server's requests wait for the interpreter lock, which the import
holds, and the frontend was no sooner loaded. When Streamlit's server binds, `hand_over_at_bind` gives it this very
socket: the early server stops accepting first, so every later connection is Streamlit's, and nothing queued in
between is lost. The child answers what it still holds and exits.

On a 2-core machine where Chromium and the server compete for the cores, the gain is small (both finish later when
run side by side); where they do not compete, Home's heading came 0.3-0.5 s sooner (docs/performance.md, "Ninth
round").

What the early server answers:

- a static file of Streamlit's frontend, with Streamlit's cache headers; the index page for `/` and for a page's
  path (`/learn`), as Streamlit does;
- anything else (the frontend's first calls, the health check and the host configuration, which need Streamlit's
  runtime) is held until the hand-over, then forwarded to Streamlit over loopback and its answer relayed unchanged
  (the XSRF cookie the health check sets included). A health check answered "not ready yet" is asked again.

Every early answer closes its connection, so no keep-alive connection of the early server outlives the hand-over.
When the address or port cannot be told before Streamlit reads its configuration (a base URL path, TLS, a Unix
socket), the port is taken, or `COMPRESS_LAB_EARLY_FRONTEND=0`, nothing is served early and Streamlit binds as usual.
Written by hand: no library serves a frontend on a socket that another server takes over.

Only the standard library is imported here: importing anything heavier would delay the very start it is for.
"""
from __future__ import annotations

import http.client
import http.server
import importlib.util
import mimetypes
import os
import re
import select
import signal
import socket
import sys
import threading
import time
import tomllib
import urllib.parse
from pathlib import Path

SWITCH = "COMPRESS_LAB_EARLY_FRONTEND"  # "0" turns the early server off (benchmarks compare both ways)
BACKLOG = 2048  # uvicorn.Config's default backlog, which Streamlit's bind uses
DEFAULT_PORT = 8501
PAGE_PATH = re.compile(r"[A-Za-z0-9_-]+")  # a page's url path: Streamlit answers it with the index page
NO_CACHE = re.compile(r"(?:\.html$|^manifest\.json$)")  # Streamlit's static files that are not cached
IMMUTABLE = "public, immutable, max-age=31536000"  # Streamlit's cache header for its hashed bundles
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade"}
MAX_BODY = 256 * 1024 * 1024  # a forwarded request body larger than this is refused (413)
FORWARD_TIMEOUT = 60.0  # seconds a held request waits for Streamlit before it is answered 503
_OPTIONS = ("port", "address", "baseUrlPath", "sslCertFile", "sslKeyFile")


def static_folder() -> Path | None:
    """Streamlit's frontend files (`streamlit/static`), located without importing streamlit."""
    found = importlib.util.find_spec("streamlit")
    if found is None or not found.submodule_search_locations:
        return None
    folder = Path(list(found.submodule_search_locations)[0]) / "static"
    return folder if (folder / "index.html").is_file() else None


def _camel_to_env(option: str) -> str:
    return "STREAMLIT_SERVER_" + re.sub(r"(?<!^)(?=[A-Z])", "_", option).upper()


def server_options(argv: list[str], environ: dict[str, str], cwd: Path, home: Path) -> dict[str, object]:
    """The `server.*` options that decide the socket, as Streamlit reads them: its defaults, then
    `~/.streamlit/config.toml`, `./.streamlit/config.toml`, `STREAMLIT_SERVER_*` variables, the command line."""
    found: dict[str, object] = {}
    for path in (home / ".streamlit" / "config.toml", cwd / ".streamlit" / "config.toml"):
        try:
            server = tomllib.loads(path.read_text()).get("server", {})
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue
        found.update({k: server[k] for k in _OPTIONS if k in server})
    for option in _OPTIONS:
        if _camel_to_env(option) in environ:
            found[option] = environ[_camel_to_env(option)]
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        option = name.removeprefix("--server.")
        if name.startswith("--server.") and option in _OPTIONS:
            if not eq:
                value = argv[i + 1] if i + 1 < len(argv) else ""
            found[option] = value
    return found


def planned_socket(argv: list[str], environ: dict[str, str] | None = None, cwd: Path | None = None,
                   home: Path | None = None) -> tuple[str, int] | None:
    """(address, port) that Streamlit's server will bind first, or None when it cannot be told here or the early
    server does not apply (a base URL path, TLS, a Unix socket, a port that is not a number)."""
    environ = os.environ if environ is None else environ
    options = server_options(argv, environ, cwd or Path.cwd(), home or Path.home())
    if any(options.get(k) for k in ("baseUrlPath", "sslCertFile", "sslKeyFile")):
        return None
    try:
        port = int(options.get("port", DEFAULT_PORT))
    except (TypeError, ValueError):
        return None
    address = str(options.get("address") or "")
    if address.startswith("unix://") or not 0 < port < 65536:
        return None
    if not address:  # Streamlit's default: the dual-stack wildcard where IPv6 exists (`_get_bind_address`)
        address = "::" if socket.has_ipv6 else "0.0.0.0"
    return address, port


def bind(address: str, port: int) -> socket.socket:
    """A listening socket made as Streamlit's `_bind_socket` makes it, with `TCP_NODELAY` (ui/startup says why)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family=family)
    try:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((address, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
        sock.set_inheritable(True)
        return sock
    except BaseException:
        sock.close()
        raise


def loopback_of(sock: socket.socket) -> tuple[str, int]:
    """Where this process reaches the server listening on `sock`."""
    host, port = sock.getsockname()[:2]
    if host in ("::", "0.0.0.0", ""):
        host = "::1" if sock.family == socket.AF_INET6 else "127.0.0.1"
    return host, port


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sock: socket.socket, early: "EarlyFrontend"):
        super().__init__(sock.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()  # the one socketserver made; ours is already bound and listening
        self.socket = sock
        self.early = early

    def process_request_thread(self, request, client_address):
        with self.early.busy:
            self.early.in_flight += 1
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.early.busy:
                self.early.in_flight -= 1
                self.early.busy.notify_all()

    def get_request(self):
        conn, address = self.socket.accept()
        conn.setblocking(True)  # the listening socket is non-blocking (as Streamlit wants it)
        return conn, address

    def server_close(self):  # the socket belongs to Streamlit after the hand-over: never closed here
        pass

    def handle_error(self, request, client_address):
        """A browser or health check that gave up on a held request is not an error of the server's."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "CompressionLab-early"

    def log_message(self, format, *args):  # quiet, as Streamlit's server is
        pass

    def do_GET(self):
        self._answer(head=False)

    def do_HEAD(self):
        self._answer(head=True)

    def do_POST(self):
        self._forward()

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST

    def _answer(self, head: bool) -> None:
        early: EarlyFrontend = self.server.early
        file = early.static_file(self.path)
        if file is None:
            self._forward()
            return
        body = b"" if head else file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", mimetypes.guess_type(file.name)[0] or "application/octet-stream")
        self.send_header("Content-Length", str(file.stat().st_size))
        relative = file.relative_to(early.folder).as_posix()
        self.send_header("Cache-Control", "no-cache" if NO_CACHE.search(relative) else IMMUTABLE)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def _forward(self) -> None:
        """Wait for the hand-over, then ask Streamlit and relay its answer (see the module's docstring)."""
        early: EarlyFrontend = self.server.early
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._plain(400, "Content-Length is not a number.")
            return
        if length > MAX_BODY:
            self._plain(413, "Request body too large for the starting server.")
            return
        body = self.rfile.read(length) if length else None
        if self.headers.get("Upgrade") or not early.wait_for_streamlit(FORWARD_TIMEOUT):
            self._plain(503, "The server is starting; try again.")
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        answer = early.ask_streamlit(self.command, self.path, headers, body)
        if answer is None:
            self._plain(503, "The server did not answer.")
            return
        status, reason, answer_headers, answer_body = answer
        self.send_response_only(status, reason)  # Streamlit's own Date and Server headers follow
        for name, value in answer_headers:
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer_body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer_body)
        self.close_connection = True

    def _plain(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True


class EarlyFrontend:
    """The early server on `sock` (bound by `bind` at `planned`: address as configured, port), serving `folder`
    until `take` hands the socket over."""

    POLL = 0.01  # seconds between the accept loop's checks for the hand-over (what `take` may wait)

    def __init__(self, sock: socket.socket, folder: Path, planned: tuple[str, int]):
        self.folder = folder.resolve()
        self.planned = tuple(planned)
        self.upstream = loopback_of(sock)
        self._sock: socket.socket | None = sock
        self._server = _Server(sock, self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(self.POLL,),
                                        name="compress-lab early frontend", daemon=True)
        self._handed = threading.Event()
        self._to_streamlit = False
        self._lock = threading.Lock()
        self.busy = threading.Condition()  # guards in_flight: requests being answered
        self.in_flight = 0

    def start(self) -> "EarlyFrontend":
        self._thread.start()
        return self

    def static_file(self, path: str) -> Path | None:
        """The frontend file a GET of `path` is answered with, or None when only Streamlit can answer it."""
        relative = urllib.parse.unquote(urllib.parse.urlsplit(path).path).lstrip("/")
        if path.startswith("//") or "\\" in relative or ".." in relative.split("/") or "\0" in relative:
            return None  # Streamlit refuses these itself (400); let it
        if relative == "" or PAGE_PATH.fullmatch(relative):
            return self.folder / "index.html"
        file = (self.folder / relative).resolve()
        if file.is_relative_to(self.folder) and file.is_file():
            return file
        return None

    def take(self, address: str, port: int) -> socket.socket | None:
        """Stop serving; the socket when Streamlit binds the same address and port, else None (then it is closed,
        and held requests are answered 503). Called once, from Streamlit's bind."""
        return self.hand_over((address, port) == self.planned)

    def hand_over(self, to_streamlit: bool) -> socket.socket | None:
        """Stop accepting; held requests then go to Streamlit (`to_streamlit`) or are answered 503. Returns the
        socket when it goes to Streamlit; closes it otherwise. Only the first call does anything."""
        with self._lock:
            sock, self._sock = self._sock, None
            if sock is None:
                return None
            self._server.shutdown()  # returns once the accept loop has stopped: later connections are Streamlit's
            self._to_streamlit = to_streamlit
            if not to_streamlit:
                sock.close()
            self._handed.set()
            return sock if to_streamlit else None

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being answered (held ones included); whether that happened within `timeout`."""
        with self.busy:
            return self.busy.wait_for(lambda: self.in_flight == 0, timeout)

    def stop(self) -> None:
        """Stop and close without a hand-over (Streamlit did not start)."""
        sock = self.take("", -1)
        if sock is not None:
            sock.close()

    def wait_for_streamlit(self, timeout: float) -> bool:
        return self._handed.wait(timeout) and self._to_streamlit

    def ask_streamlit(self, method: str, path: str, headers: dict[str, str], body: bytes | None):
        """(status, reason, headers, body) of Streamlit's answer, asked again while its health check says it is not
        ready yet or the connection fails; None after FORWARD_TIMEOUT."""
        deadline = time.monotonic() + FORWARD_TIMEOUT
        health = urllib.parse.urlsplit(path).path.endswith("_stcore/health")
        while True:
            try:
                conn = http.client.HTTPConnection(*self.upstream, timeout=FORWARD_TIMEOUT)
                try:
                    conn.request(method, path, body=body, headers=headers)
                    response = conn.getresponse()
                    answer = (response.status, response.reason, response.getheaders(), response.read())
                finally:
                    conn.close()
                if not (health and answer[0] == 503):
                    return answer
            except OSError:
                pass
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)


class ForkedFrontend:
    """The launcher's handle on an `EarlyFrontend` that runs in a child process (see `start`): `take` asks the child
    to stop accepting, waits for its answer, and returns the socket, which both processes hold."""

    ANSWER_TIMEOUT = 5.0  # seconds `take` waits for the child to stop accepting (it polls every 10 ms)

    def __init__(self, sock: socket.socket, planned: tuple[str, int], pid: int, commands: int, answers: int):
        self.planned = tuple(planned)
        self._sock: socket.socket | None = sock
        self._pid, self._commands, self._answers = pid, commands, answers

    def take(self, address: str, port: int) -> socket.socket | None:
        sock, self._sock = self._sock, None
        if sock is None:
            return None
        to_streamlit = (address, port) == self.planned
        try:
            os.write(self._commands, b"1" if to_streamlit else b"0")
            ready, _, _ = select.select([self._answers], [], [], self.ANSWER_TIMEOUT)
            if ready:
                os.read(self._answers, 1)
        except OSError:  # the child is gone (a signal): nothing of it accepts any more
            pass
        finally:
            os.close(self._commands)
            os.close(self._answers)
        threading.Thread(target=_reap, args=(self._pid,), name="compress-lab early frontend reaper",
                         daemon=True).start()
        if not to_streamlit:
            sock.close()
            return None
        return sock

    def stop(self) -> None:
        self.take("", -1)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _serve_in_child(early: EarlyFrontend, commands: int, answers: int) -> None:
    """The child process's life: serve until the launcher says where the socket goes (or exits), stop accepting,
    say so, answer what is still held, exit. Never returns."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl+C in the terminal ends it quietly, with the launcher
        early.start()
        command = os.read(commands, 1)  # b"" when the launcher exited first
        sock = early.hand_over(command == b"1")
        if command:
            os.write(answers, b"k")
        if sock is not None:
            sock.close()  # this process's copy only: the launcher's Streamlit keeps listening on it
        early.wait_idle(FORWARD_TIMEOUT + 5)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


_early: EarlyFrontend | ForkedFrontend | None = None


def start(argv: list[str]) -> ForkedFrontend | EarlyFrontend | None:
    """Bind the socket Streamlit will use and serve the frontend from it; None when it does not apply here.

    The early server runs in a child process forked here, before anything else has started a thread: in the
    launcher's own process its requests would wait for the interpreter lock, which `import streamlit` holds most
    of the time (its requests took longer than the import itself). Where `os.fork` does not exist, it runs in a
    thread of the launcher. Call before anything imports streamlit; `hand_over_at_bind` must follow."""
    global _early
    if os.environ.get(SWITCH, "1") == "0" or _early is not None:
        return None
    planned = planned_socket(argv)
    folder = static_folder()
    if planned is None or folder is None:
        return None
    try:
        sock = bind(*planned)
    except OSError:  # the port is taken (Streamlit then looks for the next one) or the address is not here
        return None
    if hasattr(os, "fork"):
        commands_r, commands_w = os.pipe()
        answers_r, answers_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            os.close(commands_w)
            os.close(answers_r)
            _serve_in_child(EarlyFrontend(sock, folder, planned), commands_r, answers_w)
        os.close(commands_r)
        os.close(answers_w)
        _early = ForkedFrontend(sock, planned, pid, commands_w, answers_r)
    else:
        _early = EarlyFrontend(sock, folder, planned).start()
    host, port = planned
    shown = "localhost" if host in ("::", "0.0.0.0") else host
    print(f"  Compression Lab is starting: http://{'[' + shown + ']' if ':' in shown else shown}:{port} "
          "can be opened now.", file=sys.stderr, flush=True)
    return _early


def hand_over_at_bind(early: ForkedFrontend | EarlyFrontend | None) -> bool:
    """Wrap Streamlit's `_bind_socket` so that its bind takes the early server's socket (or, when Streamlit binds
    another address or port, closes it first). Install before `startup`'s own bind wrappers, which then see the
    socket Streamlit got. Returns whether it applied; when Streamlit's internal is gone, the early server stops."""
    if early is None:
        return False
    try:
        from streamlit.web.server.starlette import starlette_server
    except ImportError:
        early.stop()
        return False
    original = getattr(starlette_server, "_bind_socket", None)
    if original is None:
        early.stop()
        return False

    def bind_socket(address, port, backlog, *args, **kwargs):
        sock = early.take(address, port)
        return sock if sock is not None else original(address, port, backlog, *args, **kwargs)

    starlette_server._bind_socket = bind_socket
    return True
