"""Helpers shared by the benchmark scripts: paths, running manage.py, writing results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"
BANKING77 = DATA / "banking77"


def manage(*args: str) -> str:
    """Run a management command the way a user would; return its stdout (progress bars go to stderr)."""
    out = subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, check=True,
                         stdout=subprocess.PIPE, text=True)
    return out.stdout


def write(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2))
    return path
