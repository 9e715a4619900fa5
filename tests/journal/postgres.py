"""A real PostgreSQL server for the tests (a pytest plugin, registered in tests/conftest.py).

One server per test session: ``initdb`` in a temporary directory, listening on
127.0.0.1 on a free port (its unix socket in the same directory), run as
``nobody`` when the tests run as root (initdb refuses root), stopped at the
end. Each test that asks for ``postgres_url`` gets a database of its own.

The server binaries come from the distribution's ``postgresql`` package
(``make test`` installs it); when they are missing the tests FAIL.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: The password of the test server's superuser; tests look for it in output.
PASSWORD_PREFIX = "pg-secret-"


def server_bindir() -> Path:
    """Return the directory of ``initdb``/``pg_ctl``: ``pg_config --bindir``, else the newest."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False, timeout=30
        )
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.name
        return tuple(int(part) for part in name.split(".") if part.isdigit())

    candidates += [
        Path(path)
        for path in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    ]
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    pytest.fail(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install the distribution's "
        "postgresql package (make test does, as root)",
        pytrace=False,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    """A running test server: where it listens and how to reach it."""

    bindir: Path
    directory: Path
    port: int
    user: str
    password: str

    def url(self, database: str = "postgres", *, driver: str = "psycopg") -> str:
        """Return the SQLAlchemy URL of ``database`` (password included)."""
        return f"postgresql+{driver}://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """Return the libpq connection string of ``database`` (for raw psycopg)."""
        return (
            f"host=127.0.0.1 port={self.port} dbname={database} user={self.user} "
            f"password={self.password}"
        )

    def create_database(self) -> str:
        """Create a new, empty database and return its name."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(self.dsn(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return name

    def sql(self, statement: str, database: str = "postgres") -> list[tuple[object, ...]]:
        """Run one statement as the superuser and return its rows (if any)."""
        import psycopg

        with psycopg.connect(self.dsn(database), autocommit=True) as connection:
            cursor = connection.execute(statement)
            return cursor.fetchall() if cursor.description else []


def _as_server_user(argv: list[str]) -> list[str]:
    """Run ``argv`` as ``nobody`` when we are root (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return argv
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", *argv]


def start_server(bindir: Path) -> PostgresServer:
    """Initialise and start a server in a new temporary directory."""
    directory = Path(tempfile.mkdtemp(prefix="shipshape-pg-"))
    password = PASSWORD_PREFIX + secrets.token_hex(8)
    user = "shipshape"
    data = directory / "data"
    pwfile = directory / "pwfile"
    pwfile.write_text(password + "\n", encoding="utf-8")
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        for path in (directory, pwfile):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
    port = _free_port()

    def run(*argv: str) -> None:
        result = subprocess.run(
            _as_server_user(list(argv)),
            capture_output=True,
            text=True,
            check=False,
            timeout=180,
            cwd=directory,
        )
        if result.returncode != 0:
            pytest.fail(
                f"{Path(argv[0]).name} failed: {(result.stderr or result.stdout).strip()}",
                pytrace=False,
            )

    run(
        str(bindir / "initdb"),
        "-D",
        str(data),
        "-U",
        user,
        f"--pwfile={pwfile}",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "--encoding=UTF8",
        "--no-instructions",
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={directory} "
        "-c fsync=on -c max_connections=100 -c shared_buffers=64MB"
    )
    run(
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(directory / "server.log"),
        "-o",
        options,
        "-w",
        "-t",
        "120",
        "start",
    )
    return PostgresServer(bindir, directory, port, user, password)


def stop_server(server: PostgresServer) -> None:
    """Stop the server (fast shutdown) and remove its directory."""
    subprocess.run(
        _as_server_user(
            [
                str(server.bindir / "pg_ctl"),
                "-D",
                str(server.directory / "data"),
                "-m",
                "fast",
                "-w",
                "stop",
            ]
        ),
        capture_output=True,
        check=False,
        timeout=120,
    )
    shutil.rmtree(server.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server."""
    server = start_server(server_bindir())
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The SQLAlchemy URL of a new, empty database of the session's server."""
    return postgres_server.url(postgres_server.create_database())
