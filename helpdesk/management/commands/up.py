"""`python manage.py up`: the whole product in one command.

Migrates, seeds the demo data once, then runs daphne (HTTP + WebSocket), a Celery worker and
Celery beat as children. Ctrl-C (or SIGTERM) stops the children, then the embedded servers
this process started. Children get PR_SET_PDEATHSIG, so even a SIGKILLed `up` leaves no orphans.
"""

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from helpdesk import embedded

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


# Daphne's consumers reach the database through one sync thread, a few times per customer message;
# with Django's default (CONN_MAX_AGE=0) each of those opened a new PostgreSQL connection (~4 ms and
# a forked backend each). The children keep theirs for a minute unless the environment says otherwise.
CHILD_ENV_DEFAULTS = {"CONN_MAX_AGE": "60"}


def child_env(base: dict | None = None) -> dict:
    env = {**(os.environ if base is None else base), "PYTHONUNBUFFERED": "1"}
    for key, value in CHILD_ENV_DEFAULTS.items():
        env.setdefault(key, value)
    return env


def web_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "daphne", "-b", host, "-p", str(port), "helpdesk.asgi:application"]


def worker_command(concurrency: int, queue: str, name: str) -> list[str]:
    """The Celery worker `up` runs (the benches start exactly this one)."""
    return [sys.executable, "-m", "celery", "-A", "helpdesk", "worker", "-l", "warning",
            "--concurrency", str(concurrency), "-Q", queue, "-n", name]


class Command(BaseCommand):
    help = "Run the helpdesk: migrate, seed demo data once, serve with daphne + Celery worker + beat."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--no-seed", action="store_true", help="Do not load the demo data.")
        parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes.")

    def handle(self, *args, **opts):
        host, port = opts["host"], opts["port"]
        if not _port_free(host, port):
            raise CommandError(
                f"Port {port} on {host} is already in use (another `up`, or another server). "
                f"Stop it, or run on another port: python manage.py up --port {port + 1}"
            )
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database ready (migrations applied).")
        if not opts["no_seed"] and settings.DEMO_ENABLED:
            call_command("seed_demo", if_empty=True)
        elif not opts["no_seed"]:
            self.stdout.write("Demo data not loaded: DEMO_ENABLED is off (production). Create staff with createsuperuser.")

        env = child_env()
        py = sys.executable
        commands = {
            "web": web_command(host, port),
            "worker": worker_command(opts["concurrency"], settings.CELERY_TASK_DEFAULT_QUEUE,
                                     f"worker-{os.getpid()}@%h"),
            "beat": [py, "-m", "celery", "-A", "helpdesk", "beat", "-l", "warning",
                     "-s", settings.CELERY_BEAT_SCHEDULE_FILENAME,
                     "--pidfile", str(embedded.VAR_DIR / "celerybeat.pid")],
        }
        (embedded.VAR_DIR / "celerybeat.pid").unlink(missing_ok=True)  # stale after a killed run
        children: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop(signum=None, frame=None):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for name, cmd in commands.items():
                children[name] = subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent)
            if not embedded.wait_for_port(port, host, timeout=60):
                raise CommandError("daphne did not start listening within 60 s; see its output above.")
            self._banner(host, port)
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        raise CommandError(f"The {name} process exited with code {child.returncode}; stopping.")
                time.sleep(0.3)
        finally:
            self._stop_children(children)
        self.stdout.write("Stopped daphne, the Celery worker and beat.")

    def _stop_children(self, children: dict[str, subprocess.Popen]) -> None:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children.values():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def _banner(self, host: str, port: int) -> None:
        from helpdesk.management.commands.seed_demo import DEMO_LOGINS

        url = f"http://{host}:{port}"
        lines = [
            "",
            f"  Relaymark helpdesk is running at {url}/",
            f"  Demo host page with the chat widget: {url}/demo/",
            f"  Help centre: {url}/help/",
            "  Demo logins (email / password):",
            *[f"    {role:<8} {email} / {password}" for role, email, password in DEMO_LOGINS],
            "  Ctrl-C stops everything.",
            "",
        ]
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))
