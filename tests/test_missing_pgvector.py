"""A DATABASE_URL whose server has no pgvector gets one clear line, not a traceback."""

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def plain_postgres_url() -> str | None:
    """The machine's own PostgreSQL (no pgvector installed), when one answers on 127.0.0.1:5432."""
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return None
    import psycopg

    try:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone():
                return None  # this one has pgvector; nothing to show
            name = f"helpdesk_novector_{uuid.uuid4().hex[:8]}"
            conn.execute(f"CREATE DATABASE {name}")
            return f"postgresql://postgres@127.0.0.1:5432/{name}"
    except psycopg.Error:
        return None


@pytest.fixture
def no_vector_url():
    url = plain_postgres_url()
    yield url
    if url:
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]}")


def test_migrate_against_a_server_without_pgvector_says_how_to_fix_it(no_vector_url):
    url = no_vector_url
    if url is None:
        pytest.skip("needs a PostgreSQL without pgvector on 127.0.0.1:5432 (CI machines have one)")
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("PYTEST_VERSION", None)
    result = subprocess.run([sys.executable, "manage.py", "migrate"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode != 0
    assert "has no 'vector' extension" in result.stderr
    assert "Traceback" not in result.stderr
