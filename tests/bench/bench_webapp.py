"""Throughput and latency of shipshape-web against a bare WSGI app, same waitress, same run.

Four servers run side by side on 127.0.0.1 with the same settings (the
defaults: THREADS=8 and the rest): the bare WSGI hello world of
``tests/bench/bare_wsgi.py``; ``shipshape-web`` with its metrics and JSON access
log (stdout to a file, as a container runtime would take it); and
``shipshape-web`` with tracing on as well, every request traced, then one in
ten (``OTEL_TRACES_SAMPLER``), spans exported over OTLP/HTTP to a receiver in
this process. ``wrk`` (one thread, 8 connections, so it takes one of the two
cores at most) loads one server at a time, the order rotating each round; the
medians of the rounds are printed.

Goal (issue 6): instrumented throughput >= 0.85 of the bare server's, p99 under
10 ms at 8 connections. This prints the figures; it never fails for slowness.
Set BENCH_SECONDS and BENCH_ROUNDS to change the run's length.

Throughput on a shared machine moves with whatever else runs there, so the
load average is printed, and so is each server's CPU time per request (user
plus system, from ``/proc``): the cost of a request, which other load disturbs
less than it disturbs requests per second.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.otlp_receiver import OtlpReceiver

ROOT = Path(__file__).resolve().parents[2]
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = 8
WEB_VARIABLES = (
    "MESSAGE", "APP_ENV", "PORT", "THREADS", "LOG_LEVEL", "LISTEN_HOST", "CONNECTION_LIMIT",
    "CHANNEL_TIMEOUT_SECONDS", "DRAIN_SECONDS", "SHUTDOWN_TIMEOUT_SECONDS",
)  # fmt: skip


BARE = "bare WSGI"
WEB = "shipshape-web"
TRACED = "shipshape-web + tracing (all)"
SAMPLED = "shipshape-web + tracing (10 %)"


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_us_per_request: float = float("nan")


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU time of process ``pid`` so far (Linux), else NaN."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def run_wrk(url: str, seconds: int) -> WrkResult:
    wrk = shutil.which("wrk")
    output = subprocess.run(
        [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", url],
        capture_output=True, text=True, check=True, timeout=seconds + 30,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", output).group(1))
    p50 = _milliseconds(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = _milliseconds(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        errors += int(non_2xx.group(1))
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return WrkResult(rps, p50, p99, requests, errors)


class Server:
    """One server process on a free port; stopped with SIGTERM."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], logdir: Path) -> None:
        self.name = name
        self.stdout_path = logdir / f"{name.replace(' ', '_')}.out"
        self._stdout = self.stdout_path.open("w")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self._stdout, stderr=subprocess.STDOUT
        )
        self.port = self._wait_for_port()
        self.url = f"http://127.0.0.1:{self.port}/"

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = self.stdout_path.read_text()
            ready = re.search(r"^ready (\d+)$", text, re.M)
            if ready:
                return int(ready.group(1))
            for line in text.splitlines():
                if line.startswith("{") and '"port"' in line:
                    return int(json.loads(line)["port"])
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited: {text}")
            time.sleep(0.05)
        raise AssertionError(f"{self.name} did not start: {self.stdout_path.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._stdout.close()


def _environment(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in WEB_VARIABLES and not key.startswith("OTEL_")
    }
    env.update(PORT="0", LISTEN_HOST="127.0.0.1", DRAIN_SECONDS="0", PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


def test_shipshape_web_against_bare_wsgi():
    wrk = shutil.which("wrk")
    assert wrk, "wrk is not installed: `make bench` installs it (Debian package wrk)"
    web = shutil.which("shipshape-web") or str(Path(sys.executable).parent / "shipshape-web")
    servers: list[Server] = []
    served: dict[str, int] = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as logdir, OtlpReceiver() as receiver:
        traced = {"OTEL_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
        sampled = {
            **traced,
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.1",
        }
        configs = [
            (BARE, [sys.executable, "-m", "tests.bench.bare_wsgi"], {}),
            (WEB, [web], {}),
            (TRACED, [web], traced),
            (SAMPLED, [web], sampled),
        ]
        try:
            for name, command, extra in configs:
                servers.append(Server(name, command, _environment(**extra), Path(logdir)))
            for server in servers:
                served[server.name] = run_wrk(server.url, 2).requests  # warm up
            results: dict[str, list[WrkResult]] = {server.name: [] for server in servers}
            for round_index in range(ROUNDS):
                shift = round_index % len(servers)
                for server in servers[shift:] + servers[:shift]:
                    cpu_before = cpu_seconds(server.process.pid)
                    result = run_wrk(server.url, SECONDS)
                    cpu = cpu_seconds(server.process.pid) - cpu_before
                    result.cpu_us_per_request = cpu * 1e6 / max(result.requests, 1)
                    results[server.name].append(result)
                    served[server.name] += result.requests
            access_lines = sum(
                1
                for line in servers[1].stdout_path.read_text().splitlines()
                if '"logger":"webapp.access"' in line
            )
        finally:
            for server in servers:
                server.stop()
        spans = len(receiver.spans())

    medians = {
        name: (
            statistics.median(r.requests_per_second for r in runs),
            statistics.median(r.p50_ms for r in runs),
            statistics.median(r.p99_ms for r in runs),
            statistics.median(r.cpu_us_per_request for r in runs),
        )
        for name, runs in results.items()
    }
    bare_rps = medians[BARE][0]
    print()
    print(
        f"shipshape-web vs bare WSGI: same waitress settings (THREADS=8), "
        f"wrk -t1 -c{CONNECTIONS} on 127.0.0.1, {ROUNDS} rounds of {SECONDS} s, medians"
    )
    print(
        f"{'server':<34}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'ratio':>8}"
        f"{'CPU us/req':>12}   req/s per round"
    )
    for name, (rps, p50, p99, cpu) in medians.items():
        rounds = ", ".join(f"{r.requests_per_second:.0f}" for r in results[name])
        print(
            f"{name:<34}{rps:>9.0f}{p50:>9.2f}{p99:>9.2f}{rps / bare_rps:>8.2f}"
            f"{cpu:>12.0f}   {rounds}"
        )
    print(
        f"load average before and after: {' '.join(f'{x:.2f}' for x in load_before)} / "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )
    print(f"access lines written by {WEB}: {access_lines} for {served[WEB]} requests")
    print(
        f"spans received over OTLP/HTTP: {spans} for {served[TRACED]} traced "
        f"and {served[SAMPLED]} sampled requests"
    )
    print("goal: ratio >= 0.85 with all instrumentation on; p99 < 10 ms at 8 connections")

    for name, runs in results.items():
        assert all(run.errors == 0 for run in runs), f"{name} answered errors"
    # wrk counts the requests it saw answered; those in flight when it stopped
    # were answered (and logged) too.
    assert access_lines >= served[WEB]
    assert spans > 0
