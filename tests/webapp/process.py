"""Runs ``shipshape-web`` as a subprocess on 127.0.0.1 and reads its JSON log lines."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable

from tests.kubeapi.process import program

# Every variable the web app reads: a test's process sees only the ones it sets.
WEB_VARIABLES = (
    "MESSAGE", "APP_ENV", "PORT", "THREADS", "LOG_LEVEL", "LISTEN_HOST", "CONNECTION_LIMIT",
    "CHANNEL_TIMEOUT_SECONDS", "DRAIN_SECONDS", "SHUTDOWN_TIMEOUT_SECONDS", "GIT_COMMIT",
)  # fmt: skip


def shipshape_web() -> str:
    """Return the path of the installed console script."""
    return program("shipshape-web")


class WebProcess:
    """One ``shipshape-web`` process; every line it prints is kept."""

    def __init__(self, env: dict[str, str], command: list[str] | None = None) -> None:
        base = {
            key: value
            for key, value in os.environ.items()
            if key not in WEB_VARIABLES and not key.startswith("OTEL_")
        }
        base.update(PORT="0", LISTEN_HOST="127.0.0.1", DRAIN_SECONDS="0")
        base.update(env)
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            command or [shipshape_web()],
            env=base,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self._readers = [
            threading.Thread(
                target=self._read, args=(self.process.stdout, self.stdout), daemon=True
            ),
            threading.Thread(
                target=self._read, args=(self.process.stderr, self.stderr), daemon=True
            ),
        ]
        for reader in self._readers:
            reader.start()
        self._port: int | None = None

    def _read(self, stream, lines: list[str]) -> None:
        for line in stream:
            with self._changed:
                lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def json_lines(self) -> list[dict]:
        """Return stdout parsed, one object per line (fails on a line that is not JSON)."""
        with self._changed:
            return [json.loads(line) for line in self.stdout]

    def wait_for_line(self, predicate: Callable[[dict], bool], timeout: float = 15.0) -> dict:
        """Wait for a JSON line on stdout that satisfies ``predicate``; return it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.stdout:
                    parsed = json.loads(line)
                    if predicate(parsed):
                        return parsed
                if self.process.poll() is not None and not any(r.is_alive() for r in self._readers):
                    raise AssertionError(
                        f"exited {self.process.returncode}: {self.stdout} {self.stderr}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no such line in {self.stdout} {self.stderr}")
                self._changed.wait(min(remaining, 0.2))

    @property
    def port(self) -> int:
        """The port from the ``listening`` line (PORT=0 picks one)."""
        if self._port is None:
            line = self.wait_for_line(lambda line: line["msg"].startswith("listening on"))
            self._port = int(line["port"])
        return self._port

    def request(
        self, path: str, method: str = "GET", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request on a new connection; return status, headers and body."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def terminate(self, timeout: float = 20.0) -> int:
        """Send SIGTERM and wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = 20.0) -> int:
        """Wait for the process to exit (and its output to be read); return its code."""
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return code

    def kill(self) -> None:
        """End the process if it still runs (teardown)."""
        if self.process.poll() is None:
            self.process.kill()
        self.wait(10)
