"""The run store: one SQLite file (`<home>/runs.sqlite`) plus `<home>/artifacts/<run id>/`.

Why SQLite: the UI, the CLI and several worker processes read and write runs at
the same time. WAL mode lets readers go on while one writer writes, every write
is a short `BEGIN IMMEDIATE` transaction (so a writer waits for the lock at the
start instead of failing half way), and a long busy timeout turns contention
into a short wait rather than `database is locked`.

Connections are never shared between threads or processes: each thread of each
process gets its own (see `_conn`). Every public method returns plain dicts
with the JSON columns already decoded, so callers never see SQLite rows.
"""
from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from compress_core import paths
from compress_core.errors import CompressError
from compress_core.measure.catalogue import upgrade_record

DB_NAME = "runs.sqlite"
ARTIFACTS = "artifacts"
APP_MARKER = "compression-lab-runs"  # in the meta table: tells our DB from other apps' SQLite files
SQLITE_HEADER = b"SQLite format 3\x00"

BUSY_TIMEOUT_S = 30.0
STALE_AFTER_S = 60.0  # a running run without a heartbeat for this long is treated as dead

QUEUED, RUNNING, FINISHED, FAILED, CANCELLED, INTERRUPTED = (
    "queued", "running", "finished", "failed", "cancelled", "interrupted")
STATES = (QUEUED, RUNNING, FINISHED, FAILED, CANCELLED, INTERRUPTED)
TERMINAL_STATES = frozenset({FINISHED, FAILED, CANCELLED, INTERRUPTED})
# Runs that are still "live" may still be finished / failed / cancelled by their
# owner. `interrupted` is included because a run declared dead after a stall
# (stale heartbeat) may turn out to finish after all; its real result wins.
_OPEN_STATES = (QUEUED, RUNNING, INTERRUPTED)

JSON_COLUMNS = ("spec", "metrics", "layers", "history", "progress", "environment", "extra")
RESULT_COLUMNS = ("metrics", "layers", "history", "environment")
RUN_ID_RE = re.compile(r"^r\d{8}-\d{6}-[0-9a-f]{8}$")


# ---------------------------------------------------------------- schema
def _migrate_to_v1(conn: sqlite3.Connection) -> None:
    """First schema. `seq` gives FIFO claim order and newest-first listing independent of clocks."""
    statements = [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE runs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            spec TEXT NOT NULL,
            metrics TEXT,
            layers TEXT,
            history TEXT,
            progress TEXT,
            error TEXT,
            created_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL,
            heartbeat_at REAL,
            owner_pid INTEGER,
            owner_host TEXT,
            environment TEXT,
            extra TEXT,
            parent_id TEXT,
            cancel_requested INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX runs_status_seq ON runs(status, seq)",
        "CREATE INDEX runs_kind ON runs(kind)",
    ]
    for sql in statements:  # not executescript: it would COMMIT the surrounding migration transaction
        conn.execute(sql)
    conn.execute("INSERT INTO meta(key, value) VALUES ('app', ?)", (APP_MARKER,))


# MIGRATIONS[i] upgrades a store from schema version i to i + 1. Append new
# functions for later versions; never edit old ones (existing files ran them).
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migrate_to_v1]
SCHEMA_VERSION = len(MIGRATIONS)


def _schema_version() -> int:
    # read at call time so a newer module (or a test) can extend MIGRATIONS
    return len(MIGRATIONS)


# ---------------------------------------------------------------- helpers
def _json_default(obj):
    """Make numpy/torch scalars, tensors, paths and dataclasses storable instead of failing a finished run."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def _dumps(value) -> str | None:
    return None if value is None else json.dumps(value, default=_json_default)


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


_HOST = f"{socket.gethostname()}#{_boot_id()}"


def host_id() -> str:
    """`hostname#boot id`: a pid only means something on the same machine in the same boot."""
    return _HOST


def pid_alive(pid: int | None) -> bool:
    """True if `pid` is a live (non-zombie) process on this machine."""
    if not pid or pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C there; rely on heartbeats
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    try:  # a killed child that its parent has not waited for yet is a zombie: dead for us
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return not Path("/proc/self/stat").exists()
    except OSError:
        return True
    state = stat.rsplit(")", 1)[-1].split()[:1]
    return state not in (["Z"], ["X"])


def new_run_id() -> str:
    """Time-sortable, collision-safe across processes, and safe to use as a folder name."""
    return "r" + time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(4)


def check_run_id(run_id: str) -> str:
    """Refuse anything that is not a store-made id before it becomes part of a path."""
    if not isinstance(run_id, str) or not RUN_ID_RE.match(run_id):
        raise CompressError(f"invalid run id {run_id!r}; run ids look like r20250101-120000-0a1b2c3d")
    return run_id


def _progress_dict(progress) -> dict:
    if progress is None:
        return {}
    if hasattr(progress, "to_dict"):
        progress = progress.to_dict()
    elif is_dataclass(progress) and not isinstance(progress, type):
        progress = asdict(progress)
    if not isinstance(progress, dict):
        raise CompressError(f"progress must be a dict or ProgressEvent, not {type(progress).__name__}")
    return dict(progress)


# ---------------------------------------------------------------- the store
class RunStore:
    """All run records of one home folder. Cheap to create; safe to use from many threads and processes."""

    def __init__(self, home: str | os.PathLike | None = None, *, stale_after: float = STALE_AFTER_S):
        self.home = paths.home_dir(home)
        self.path = self.home / DB_NAME
        self.artifacts_root = self.home / ARTIFACTS
        self.stale_after = stale_after
        self._local = threading.local()
        self._check_file()
        self._init_schema()
        self.reap_dead()

    def __repr__(self) -> str:
        return f"RunStore({str(self.home)!r})"

    # -------------------------------------------------------- opening
    def _check_file(self) -> None:
        """Refuse corrupt or foreign files *before* opening them read-write, so they are never touched.

        Note: a store's file is only ever read through SQLite here, never with `open()`. SQLite locks
        with POSIX `fcntl` locks, and the kernel drops *all* of a process's locks on a file when *any*
        descriptor of it is closed. A header read with `open()` stripped the locks of this process's
        other live connections (jobs.open_store's cached store, a dashboard's); a worker process that
        then closed its connection took itself for the last user and deleted -wal and -shm under
        them: their writes were lost and new connections failed with "disk I/O error".
        """
        path = self.path
        if path.is_dir():
            raise CompressError(f"run store {path} is a folder; expected an SQLite file")
        if not path.exists() or path.stat().st_size == 0:
            return  # new store
        sidecars = [Path(f"{path}-wal"), Path(f"{path}-shm")]
        existed = [p.exists() for p in sidecars]
        try:
            # read-only: SQLite checks the header itself (SQLITE_NOTADB) and waits, under its own locks,
            # for another process that is still writing the first pages of a brand-new store
            conn = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
            try:
                self._validate(conn, path)
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            self._drop_sidecars(sidecars, existed)
            name = getattr(exc, "sqlite_errorname", "")  # Python 3.11+; the message is the fallback
            not_a_db = name == "SQLITE_NOTADB" or "file is not a database" in str(exc)
            if not_a_db and not self._has_sqlite_header(path):
                raise CompressError(
                    f"run store {path} is not an SQLite database (corrupt or some other file); "
                    "it was left untouched: move it away or use another --home") from None
            if not_a_db or name.startswith("SQLITE_CORRUPT") or "malformed" in str(exc):
                raise CompressError(
                    f"run store {path} is a damaged SQLite database ({exc}); "
                    "it was left untouched: move it away or use another --home") from None
            raise CompressError(  # locked for too long, no permission, I/O: not a verdict on the file
                f"run store {path} could not be read ({exc}); it was left untouched: "
                "check the folder's permissions and free space, or use another --home") from None
        except CompressError:
            self._drop_sidecars(sidecars, existed)
            raise

    @staticmethod
    def _has_sqlite_header(path: Path) -> bool:
        """Only for the error message, once SQLite has refused the file: no live connection can hold
        locks on a file that is not a database, so this `open()` cannot drop any (see `_check_file`)."""
        try:
            with open(path, "rb") as fh:
                return fh.read(len(SQLITE_HEADER)) == SQLITE_HEADER
        except OSError:
            return False

    @staticmethod
    def _drop_sidecars(sidecars: list[Path], existed: list[bool]) -> None:
        # a read-only look at a WAL database can leave empty -wal/-shm files; don't litter other apps' folders
        for side, was_there in zip(sidecars, existed):
            if not was_there:
                try:
                    if side.name.endswith("-shm") or side.stat().st_size == 0:
                        side.unlink()
                except OSError:
                    pass

    @staticmethod
    def _validate(conn: sqlite3.Connection, path: Path) -> int:
        """Return the file's schema version, 0 for an empty database; raise for foreign or newer files."""
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")}
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if not tables and version == 0:
            return 0
        marker = None
        if "meta" in tables:
            row = conn.execute("SELECT value FROM meta WHERE key='app'").fetchone()
            marker = row[0] if row else None
        if marker != APP_MARKER or "runs" not in tables:
            raise CompressError(
                f"run store {path} is an SQLite database of some other application "
                f"(tables: {', '.join(sorted(tables)) or 'none'}); it was left untouched: "
                "move it away or use another --home")
        if version > _schema_version():
            raise CompressError(
                f"run store {path} has schema version {version}, newer than this Compression Lab "
                f"understands (up to {_schema_version()}); upgrade compress_core to open it")
        return version

    def _init_schema(self) -> None:
        """Create or migrate under a write lock so concurrent first opens run each migration once."""
        conn = self._conn()
        if self._validate(conn, self.path) != _schema_version():  # the common case needs no write lock
            try:
                conn.execute("BEGIN IMMEDIATE")
                version = self._validate(conn, self.path)  # again: another process may have done it meanwhile
                for step in range(version, _schema_version()):
                    MIGRATIONS[step](conn)
                    conn.execute(f"PRAGMA user_version = {step + 1}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            deadline = time.monotonic() + BUSY_TIMEOUT_S
            while True:  # switching needs a moment of exclusive access; retry rather than fail
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (re-made after fork: SQLite handles must not cross processes)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the lock up front (no deadlock-prone lock upgrades)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local.conn = None

    # -------------------------------------------------------- records
    @staticmethod
    def _row(row: sqlite3.Row) -> dict:
        run = {k: row[k] for k in row.keys() if k != "seq"}
        for key in JSON_COLUMNS:
            if key in run and run[key] is not None:
                run[key] = json.loads(run[key])
        if "cancel_requested" in run:
            run["cancel_requested"] = bool(run["cancel_requested"])
        # result keys without a column of their own (baseline, artifacts, notes, ...) sit at the top
        # level, so a finished record reads like the engine's RunResult.to_dict()
        for key, value in (run.pop("extra", None) or {}).items():
            run.setdefault(key, value)
        return upgrade_record(run)  # runs stored by older versions read with today's metric keys

    def _fetch(self, conn: sqlite3.Connection, run_id: str) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise CompressError(f"no run with id {run_id!r} in {self.path}")
        return row

    def artifacts_dir(self, run_id: str) -> Path:
        """`<home>/artifacts/<run id>/`, created on demand; the id is validated so it cannot escape."""
        path = self.artifacts_root / check_run_id(run_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def create_run(self, kind: str, spec: dict, status: str = QUEUED, parent_id: str | None = None,
                   owner_pid: int | None = None, check_queue: Callable[[int], None] | None = None) -> str:
        """Add a run; `status="running"` records a run this process executes itself (owner_pid defaults to us).

        `check_queue(queued)` runs inside the write transaction with the number of queued runs
        and may raise to refuse the run (the global queue cap), so racing submitters cannot
        slip past it together.
        """
        if not isinstance(kind, str) or not kind:
            raise CompressError(f"run kind must be a non-empty string, not {kind!r}")
        if status not in (QUEUED, RUNNING):
            raise CompressError(f"a new run must be 'queued' or 'running', not {status!r}")
        if parent_id is not None:
            check_run_id(parent_id)
        spec_json = _dumps(dict(spec))
        now = time.time()
        run_id = new_run_id()
        running = status == RUNNING
        with self._write() as conn:
            if check_queue is not None and status == QUEUED:
                check_queue(conn.execute("SELECT COUNT(*) FROM runs WHERE status=?", (QUEUED,)).fetchone()[0])
            conn.execute(
                "INSERT INTO runs (id, kind, status, spec, progress, created_at, started_at, heartbeat_at,"
                " owner_pid, owner_host, parent_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, kind, status, spec_json, "{}", now,
                 now if running else None, now if running else None,
                 (owner_pid or os.getpid()) if running else None, _HOST if running else None, parent_id))
        return run_id

    def claim_next(self, owner_pid: int | None = None) -> dict | None:
        """Atomically take the oldest queued run (FIFO) and mark it running for `owner_pid`."""
        conn = self._conn()
        # cheap unlocked peek first: idle workers poll often and should not queue up for the write lock
        if conn.execute("SELECT 1 FROM runs WHERE status = ? LIMIT 1", (QUEUED,)).fetchone() is None:
            return None
        now = time.time()
        with self._write() as conn:
            row = conn.execute("SELECT id FROM runs WHERE status = ? ORDER BY seq LIMIT 1", (QUEUED,)).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE runs SET status=?, started_at=?, heartbeat_at=?, owner_pid=?, owner_host=? WHERE id=?",
                (RUNNING, now, now, owner_pid or os.getpid(), _HOST, row["id"]))
            return self._row(self._fetch(conn, row["id"]))

    def mark_running(self, run_id: str, pid: int | None = None) -> None:
        """Hand a queued (or re-own a running) run to process `pid`."""
        now = time.time()
        with self._write() as conn:
            status = self._fetch(conn, run_id)["status"]
            if status not in (QUEUED, RUNNING):
                raise CompressError(f"run {run_id} is {status}; only queued runs can start")
            conn.execute(
                "UPDATE runs SET status=?, started_at=COALESCE(started_at, ?), heartbeat_at=?, owner_pid=?,"
                " owner_host=? WHERE id=?", (RUNNING, now, now, pid or os.getpid(), _HOST, run_id))

    def update_progress(self, run_id: str, progress) -> None:
        """Store the latest progress event (stage, step, total, message, metrics); doubles as a heartbeat."""
        data = _dumps(_progress_dict(progress))
        with self._write() as conn:
            conn.execute("UPDATE runs SET progress=?, heartbeat_at=? WHERE id=? AND status=?",
                         (data, time.time(), run_id, RUNNING))

    def heartbeat(self, run_id: str) -> None:
        """Prove the owner is alive; `reap_dead` interrupts runs whose heartbeat goes stale."""
        with self._write() as conn:
            conn.execute("UPDATE runs SET heartbeat_at=? WHERE id=? AND status=?", (time.time(), run_id, RUNNING))

    def _close_run(self, run_id: str, status: str, **columns) -> bool:
        """Move an open run to a terminal state; False (no change) if it already ended."""
        columns = {"status": status, "finished_at": time.time(), **columns}
        sets = ", ".join(f"{k}=?" for k in columns)
        with self._write() as conn:
            self._fetch(conn, run_id)
            cur = conn.execute(
                f"UPDATE runs SET {sets} WHERE id=? AND status IN ({','.join('?' * len(_OPEN_STATES))})",
                (*columns.values(), run_id, *_OPEN_STATES))
            return cur.rowcount > 0

    def finish(self, run_id: str, result: dict) -> bool:
        """Store a run's result (metrics, layers, history, environment; other keys go to `extra`).

        The result's spec (every field, defaults filled in) replaces the submitted one, which
        may have named only the fields the user changed.
        """
        if hasattr(result, "to_dict"):
            result = result.to_dict()
        result = dict(result or {})
        extra = {k: v for k, v in result.items()
                 if k not in RESULT_COLUMNS and k not in ("id", "kind", "status", "spec")}
        spec = {"spec": _dumps(result["spec"])} if isinstance(result.get("spec"), dict) else {}
        return self._close_run(
            run_id, FINISHED, error=None, **spec,
            **{k: _dumps(result.get(k)) for k in RESULT_COLUMNS}, extra=_dumps(extra or None))

    def fail(self, run_id: str, message: str) -> bool:
        """Record that a run raised; `message` is shown to the user as is."""
        return self._close_run(run_id, FAILED, error=str(message))

    def mark_cancelled(self, run_id: str) -> bool:
        """The owner stopped the run after a cancel request."""
        return self._close_run(run_id, CANCELLED, error=None)

    def mark_interrupted(self, run_id: str, message: str) -> bool:
        """The run stopped without a result (its process died or was stopped)."""
        return self._close_run(run_id, INTERRUPTED, error=str(message))

    def cancel(self, run_id: str) -> str:
        """Cancel a run and return its status: queued -> cancelled at once; running -> flag for its owner."""
        self.reap_dead()
        with self._write() as conn:
            status = self._fetch(conn, run_id)["status"]
            if status == QUEUED:
                conn.execute("UPDATE runs SET status=?, finished_at=?, cancel_requested=1 WHERE id=?",
                             (CANCELLED, time.time(), run_id))
                return CANCELLED
            if status == RUNNING:
                conn.execute("UPDATE runs SET cancel_requested=1 WHERE id=?", (run_id,))
            return status

    def is_cancel_requested(self, run_id: str) -> bool:
        """Asked by the run's owner between steps (usually from its progress callback)."""
        try:
            row = self._fetch(self._conn(), run_id)
        except CompressError:  # deleted while it ran: stop it, like a cancel
            return True
        return bool(row["cancel_requested"]) or row["status"] == CANCELLED

    def get(self, run_id: str) -> dict:
        """One run as a dict; unknown ids raise CompressError."""
        self.reap_dead()
        return self._row(self._fetch(self._conn(), run_id))

    def list_runs(self, status: str | Iterable[str] | None = None, kind: str | None = None,
                  limit: int | None = None) -> list[dict]:
        """Runs, newest first, optionally filtered by status (one or several) and kind; only the newest `limit`
        when given (Home shows eight: reading every record of a lab with 2,000 runs took 0.17 s)."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise CompressError(f"run list limit must be a whole number >= 0, not {limit!r}")
        self.reap_dead()
        where, args = [], []
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            bad = [s for s in statuses if s not in STATES]
            if bad:
                raise CompressError(f"unknown run status {bad[0]!r}; allowed: {', '.join(STATES)}")
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            args += statuses
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [self._row(r) for r in self._conn().execute(sql, args)]

    def count(self, status: str | None = None) -> int:
        """Number of runs (in one status); used to decide how many workers to start."""
        if status is None:
            return self._conn().execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        return self._conn().execute("SELECT COUNT(*) FROM runs WHERE status=?", (status,)).fetchone()[0]

    def delete(self, run_id: str) -> None:
        """Remove a run and its artifacts; a running run must be cancelled first (its worker still writes)."""
        check_run_id(run_id)
        self.reap_dead()
        with self._write() as conn:
            status = self._fetch(conn, run_id)["status"]
            if status == RUNNING:
                raise CompressError(f"run {run_id} is still running; cancel it and delete it once it has stopped")
            conn.execute("DELETE FROM runs WHERE id=?", (run_id,))
        shutil.rmtree(self.artifacts_root / run_id, ignore_errors=True)

    def _is_dead(self, row: sqlite3.Row, now: float) -> str | None:
        """Why a running run's owner is gone, or None if it may still be alive."""
        host = row["owner_host"] or ""
        name, _, boot = host.partition("#")
        my_name, _, my_boot = _HOST.partition("#")
        if name == my_name:
            if boot and my_boot and boot != my_boot:
                return "the machine restarted while it ran"
            if not pid_alive(row["owner_pid"]):
                return f"its process (pid {row['owner_pid']}) died"
        last = row["heartbeat_at"] or row["started_at"] or row["created_at"]
        if now - last > self.stale_after:
            return f"its process (pid {row['owner_pid']} on {name or 'unknown host'}) stopped responding " \
                   f"(no heartbeat for {now - last:.0f} s)"
        return None

    def reap_dead(self) -> list[str]:
        """Mark running runs whose owner process is gone as `interrupted`; return their ids.

        Called on open and by `get`/`list_runs`, so a run is never shown as running after its process died.
        """
        now = time.time()
        rows = self._conn().execute(
            "SELECT id, owner_pid, owner_host, heartbeat_at, started_at, created_at FROM runs WHERE status=?",
            (RUNNING,)).fetchall()
        reaped = []
        for row in rows:
            why = self._is_dead(row, now)
            if why is None:
                continue
            with self._write() as conn:  # only if nothing changed since we looked (no lost finish/heartbeat)
                cur = conn.execute(
                    "UPDATE runs SET status=?, finished_at=?, error=? WHERE id=? AND status=? AND "
                    "owner_pid IS ? AND heartbeat_at IS ?",
                    (INTERRUPTED, now, f"interrupted: {why} before the run ended", row["id"], RUNNING,
                     row["owner_pid"], row["heartbeat_at"]))
            if cur.rowcount:
                reaped.append(row["id"])
        return reaped

    # -------------------------------------------------------- export
    def export(self, format: str = "csv", runs: list[dict] | None = None) -> str:
        """All runs (or `runs`) as CSV (flat `spec.*` / `metric.*` columns) or JSON (full records)."""
        runs = self.list_runs() if runs is None else runs
        if format == "json":
            return json.dumps(runs, indent=2, default=_json_default)
        if format == "csv":
            return neutralise_formulas(to_dataframe(runs)).to_csv(index=False)
        raise CompressError(f"unknown export format {format!r}; allowed: csv, json")

    def to_dataframe(self, runs: list[dict] | None = None):
        """Runs as a flat pandas DataFrame (see module-level `to_dataframe`)."""
        return to_dataframe(self.list_runs() if runs is None else runs)


BASE_COLUMNS = ["id", "kind", "status", "parent_id", "created_at", "started_at", "finished_at",
                "duration_s", "stage", "progress", "error", "cancel_requested", "owner_pid"]


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(df):
    """Text cells a spreadsheet would run as a formula (=, +, -, @, tab, CR first) get a leading `'`.

    OWASP's advice for CSV injection: a run name or file name like `=HYPERLINK(...)` must stay
    text when runs.csv is opened in a spreadsheet. Numbers are left alone (they are not text).
    """
    import pandas as pd

    df = df.copy()
    for col in df.columns:
        if df[col].dtype == object or pd.api.types.is_string_dtype(df[col]):
            df[col] = df[col].map(lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v)
    return df


def _cell(value):
    """Scalars stay; lists/dicts become JSON text so CSV and Arrow (Streamlit tables) get one type per cell."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, default=_json_default)


def to_dataframe(runs: list[dict]):
    """One row per run: times as UTC datetimes, `spec.<key>` and `metric.<name>` columns flattened."""
    import pandas as pd  # only the UI/export need pandas; workers stay light

    rows = []
    for run in runs:
        prog = run.get("progress") or {}
        started, finished = run.get("started_at"), run.get("finished_at")
        total = prog.get("total") or 0
        row = {
            "id": run.get("id"), "kind": run.get("kind"), "status": run.get("status"),
            "parent_id": run.get("parent_id"),
            "created_at": run.get("created_at"), "started_at": started, "finished_at": finished,
            "duration_s": (finished - started) if started and finished else None,
            "stage": prog.get("stage"),
            "progress": (min(1.0, prog.get("step", 0) / total) if total else None),
            "error": run.get("error"), "cancel_requested": run.get("cancel_requested"),
            "owner_pid": run.get("owner_pid"),
        }
        for key, value in (run.get("spec") or {}).items():
            row[f"spec.{key}"] = _cell(value)
        for key, value in (run.get("metrics") or {}).items():
            if isinstance(value, float) and math.isnan(value):
                value = None
            row[f"metric.{key}"] = _cell(value)
        rows.append(row)
    df = pd.DataFrame(rows)
    for col in BASE_COLUMNS:
        if col not in df.columns:
            df[col] = None
    extra = sorted(c for c in df.columns if c not in BASE_COLUMNS)
    df = df[BASE_COLUMNS + [c for c in extra if c.startswith("spec.")] + [c for c in extra if c.startswith("metric.")]]
    df["owner_pid"] = df["owner_pid"].astype("Int64")
    for col in ("created_at", "started_at", "finished_at"):
        df[col] = pd.to_datetime(df[col].astype("float64"), unit="s", utc=True)
    return df
