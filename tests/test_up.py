"""`manage.py up` starts every process on fresh embedded services and stops them all again."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_env(var_dir: Path) -> dict:
    """No DATABASE_URL / REDIS_URL: `up` must bring its own PostgreSQL and Valkey under var_dir."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(HELPDESK_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1", CELERY_QUEUE=f"up-test-{os.getpid()}")
    return env


def start_up(var_dir: Path, port: int) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "up", "--no-seed", "--port", str(port), "--concurrency", "1"],
        cwd=ROOT, env=fresh_env(var_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if "Ctrl-C stops everything" in line:
            return proc, lines
    proc.kill()
    raise AssertionError("`up` did not come up:\n" + "".join(lines))


def embedded_pids(var_dir: Path) -> list[int]:
    pids = []
    for proc in psutil.process_iter(["cmdline", "name"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if str(var_dir) in cmd and ("postgres" in cmd or "valkey" in cmd):
            pids.append(proc.pid)
    return pids


@pytest.fixture
def var_dir(tmp_path_factory):
    # A short path: PostgreSQL's unix socket path must stay under 107 bytes.
    path = Path(tmp_path_factory.mktemp("up"))
    yield path
    for pid in embedded_pids(path):
        psutil.Process(pid).kill()


def test_up_serves_the_app_with_worker_and_beat_and_ctrl_c_stops_everything(var_dir):
    port = free_port()
    proc, lines = start_up(var_dir, port)
    try:
        output = "".join(lines)
        assert f"http://127.0.0.1:{port}/" in output
        assert "admin@relaymark.example" in output  # the demo logins are printed
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=10) as response:
            assert response.status == 200 and b"Sign in" in response.read()
        children = psutil.Process(proc.pid).children()
        commands = [" ".join(c.cmdline()) for c in children]
        assert any("daphne" in c for c in commands)
        assert any("worker" in c for c in commands)
        assert any("beat" in c for c in commands)
        assert embedded_pids(var_dir), "the embedded PostgreSQL and Valkey run under the var dir"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    for child in children:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    time.sleep(0.5)
    assert embedded_pids(var_dir) == [], "Ctrl-C also stops the embedded servers"


def test_a_killed_up_leaves_no_orphans_and_the_next_run_recovers(var_dir):
    port = free_port()
    proc, _ = start_up(var_dir, port)
    # The embedded servers are shared daemons and are reused by the next run; the app's own
    # processes must not outlive `up`.
    children = [c for c in psutil.Process(proc.pid).children() if "valkey" not in c.name()]
    proc.kill()  # no chance to clean up: the children must notice on their own
    proc.wait()
    gone, alive = psutil.wait_procs(children, timeout=20)
    assert alive == []
    again, lines = start_up(var_dir, port)  # stale pid files and the leftover servers are recovered
    again.send_signal(signal.SIGINT)
    again.wait(timeout=60)
    assert again.returncode == 0
    time.sleep(0.5)
    assert embedded_pids(var_dir) == []


def test_a_port_in_use_is_a_clear_one_line_error(var_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "manage.py", "up", "--no-seed", "--port", str(port)],
            cwd=ROOT, env=fresh_env(var_dir), capture_output=True, text=True, timeout=180,
        )
    assert result.returncode != 0
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr
