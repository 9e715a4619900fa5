"""The shipped alert rules on a real Prometheus, scraping a real controller and web app.

Debian's ``prometheus`` server runs on 127.0.0.1 with the PrometheusRule's
``spec.groups`` (intervals shortened to a second) and scrapes a freshly started
``shipshape-controller`` (against the Kubernetes API test server) and
``shipshape-web``, with the labels the ServiceMonitors add (``namespace``,
``pod``, and ``env`` for the app). On this healthy system:

- every metric the rules read from our code exists right after start-up, with
  the label values the rules select (error statuses, failure reasons, the
  Deployments the controller restarts) already at zero;
- every rule evaluates with health ``ok``;
- no alert is pending or firing.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s.conftest import REPO, render, require_tool
from tests.kubeapi import KubeApiServer
from tests.reloader.e2e import harness
from tests.reloader.e2e.harness import configmap, deployment, ensure_namespace, wait_for
from tests.reloader.ha.cluster import ELECTION_ENV
from tests.webapp.process import WebProcess

pytestmark = pytest.mark.slow

NS = "shipshape"
CONTROLLER_POD = "helloworld-controller-0"
WEB_POD = "helloworld-test-7d9f8b6c5-abcde"
#: Metric name prefixes that our code exports (the others the rules read come
#: from kube-state-metrics, cAdvisor, cert-manager and Istio).
OURS = re.compile(r"\b((?:configmap_reload|http_request)[a-z_]*)\b")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rule_groups() -> list[dict[str, Any]]:
    """The PrometheusRule's groups as rendered, evaluated every second here."""
    rendered = [d for d in yaml.safe_load_all(render(REPO / "k8s/monitoring")) if d]
    [rule] = [d for d in rendered if d["kind"] == "PrometheusRule"]
    return [{**group, "interval": "1s"} for group in rule["spec"]["groups"]]


class Prometheus:
    """A ``prometheus`` process with its own storage, and its HTTP API."""

    def __init__(self, workdir: Path, groups: list[dict], targets: list[dict]) -> None:
        self.port = free_port()
        (workdir / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(workdir / "rules.yaml")],
            "scrape_configs": targets,
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        self.log = (workdir / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [
                require_tool("prometheus"),
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def api(self, path: str, **query: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def ready(self) -> bool:
        assert self.process.poll() is None, "prometheus exited; see prometheus.log"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


@pytest.fixture
def kube(kubeapi_private_server: KubeApiServer) -> KubeApiServer:
    ensure_namespace(kubeapi_private_server)
    return kubeapi_private_server


def test_the_shipped_rules_on_a_real_prometheus_see_every_metric_and_stay_quiet(kube, tmp_path):
    groups = rule_groups()
    kube.create(configmap("helloworld-config-test", {"MESSAGE": "hello"}, "test"))
    kube.create(deployment("helloworld-test", "test"))
    cluster = harness.cluster(kube, tmp_path)
    controller = harness.controller(cluster, name=CONTROLLER_POD, env=dict(ELECTION_ENV))
    web = WebProcess({"MESSAGE": "hello", "APP_ENV": "test", "GIT_COMMIT": "0123abc"})
    prometheus = None
    try:
        controller.start(ready=True)
        targets = [
            {
                "job_name": "helloworld-controller",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{controller.port}"],
                        "labels": {"namespace": NS, "pod": CONTROLLER_POD},
                    }
                ],
            },
            {
                "job_name": "helloworld",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{web.port}"],
                        "labels": {"namespace": NS, "pod": WEB_POD, "env": "test"},
                    }
                ],
            },
        ]
        prometheus = Prometheus(tmp_path, groups, targets)
        wait_for(prometheus.ready, "prometheus to be ready", timeout=30, interval=0.2)

        def all_up() -> bool:
            active = prometheus.api("targets")["activeTargets"]
            return len(active) == 2 and all(t["health"] == "up" for t in active)

        wait_for(all_up, "both targets scraped", timeout=20, interval=0.2)

        # 1. Every metric the rules read from our code exists after start-up.
        read = {
            name.removesuffix("_bucket")
            for group in groups
            for rule in group["rules"]
            for name in OURS.findall(rule["expr"])
            if not name.startswith("helloworld_http_requests")
        }
        assert read >= {
            "configmap_reload_errors_total",
            "configmap_reload_restarts_total",
            "configmap_reload_leader_state",
            "http_requests_total",
            "http_request_duration_seconds",
        }, read
        for name in sorted(read):
            series = name + ("_bucket" if name.endswith("_seconds") else "")
            found = prometheus.query(f'count({series}{{namespace="{NS}"}})')
            assert found and float(found[0]["value"][1]) > 0, f"{series} is missing"
        # With the label values the rules and a first event need, at zero.
        zero = {
            f'configmap_reload_restarts_total{{deployment="helloworld-test",pod="{CONTROLLER_POD}"}}',
            'configmap_reload_errors_total{operation="patch",reason="server-error"}',
            'configmap_reload_errors_total{operation="watch",reason="connection"}',
            'configmap_reload_errors_total{operation="journal",reason="write"}',
            'http_requests_total{env="test",path="/",status="500"}',
        }
        for selector in sorted(zero):
            [sample] = prometheus.query(selector)
            assert float(sample["value"][1]) == 0, selector

        # Some traffic, so the SLO's error ratio has a denominator.
        for _ in range(5):
            assert web.request("/")[0] == 200

        # 2. Every rule evaluates with health ok (after a few evaluations).
        def evaluated() -> list[dict] | None:
            rules = [r for g in prometheus.api("rules")["groups"] for r in g["rules"]]
            done = all(r.get("lastEvaluation", "").startswith("20") for r in rules)
            return rules if done and len(rules) == sum(len(g["rules"]) for g in groups) else None

        rules = wait_for(evaluated, "every rule evaluated", timeout=20, interval=0.2)
        bad = [(r["name"], r["health"], r.get("lastError")) for r in rules if r["health"] != "ok"]
        assert bad == []

        def error_ratio() -> list[dict]:
            return prometheus.query('env:helloworld_http_requests:error_ratio_rate5m{env="test"}')

        [ratio] = wait_for(error_ratio, "the test env's error ratio", timeout=20, interval=0.2)
        assert float(ratio["value"][1]) == 0
        [pending] = prometheus.query(f'sum(configmap_reload_pending_restarts{{namespace="{NS}"}})')
        assert float(pending["value"][1]) == 0

        # 3. No alert is pending or firing on this healthy system, over a few
        # more evaluations.
        first = max(r["lastEvaluation"] for r in rules)
        wait_for(
            lambda: all(
                r["lastEvaluation"] > first
                for g in prometheus.api("rules")["groups"]
                for r in g["rules"]
            ),
            "another round of evaluations",
            timeout=10,
            interval=0.2,
        )
        alerts = prometheus.api("alerts")["alerts"]
        assert [(a["labels"]["alertname"], a["state"]) for a in alerts] == []
    finally:
        if prometheus is not None:
            prometheus.stop()
        controller.kill()
        web.kill()
