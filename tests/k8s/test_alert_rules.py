"""The PrometheusRule: promtool checks and unit tests, coverage and scoping."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.k8s.conftest import REPO, Render, require_tool

PROMTOOL_TESTS = Path(__file__).parent / "promtool"
#: Every alert the operations runbook names, plus the two non-paging test-env
#: alerts the runbook asks for without naming.
RUNBOOK_ALERTS = {
    "HelloworldHighErrorRate", "HelloworldHighLatencyP95", "HelloworldErrorBudgetBurnFast",
    "HelloworldErrorBudgetBurnSlow", "HelloworldProdHPANearMaxReplicas",
    "HelloworldProdPDBDisruptionsExhausted", "HelloworldProdPDBInsufficientHealthyPods",
    "ConfigMapReloadErrors", "ConfigMapReloadWatchDown", "ConfigMapReloadMetricsAbsent",
    "ConfigMapReloadHighRestartRate", "ConfigMapReloadDroppedRestarts",
    "ConfigMapReloadLeaderFlapping", "ConfigMapReloadNoActiveLeader",
    "ConfigMapReloadPendingRestartsStuck", "IstioGateway5xxRate", "IstioGateway429Saturation",
    "KubePodCrashLooping", "KubePodHighMemory", "CertManagerCertExpiringSoon",
}  # fmt: skip
TEST_ENV_ALERTS = {"HelloworldTestHighErrorRate", "HelloworldTestHighLatencyP95"}
PROD_HOST = 'request_host="prod.helloworld.shipshape.example.com"'


@pytest.fixture(scope="module")
def groups(renders: dict[str, Render]) -> list[dict]:
    rule = renders["k8s/monitoring"].one("PrometheusRule", "helloworld-alerts")
    return rule["spec"]["groups"]


@pytest.fixture(scope="module")
def alerts(groups: list[dict]) -> dict[str, dict]:
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def write_suite(directory: Path, groups: list[dict]) -> list[Path]:
    """Write the extracted rule groups next to copies of the promtool tests."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    tests = []
    for source in sorted(PROMTOOL_TESTS.glob("*_test.yaml")):
        tests.append(Path(shutil.copy(source, directory / source.name)))
    return tests


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_every_runbook_alert_exists_once(groups: list[dict], alerts: dict[str, dict]) -> None:
    names = [r["alert"] for g in groups for r in g["rules"] if "alert" in r]
    assert len(names) == len(set(names))
    assert set(names) == RUNBOOK_ALERTS | TEST_ENV_ALERTS


def test_rules_pass_promtool_check(groups: list[dict], tmp_path: Path) -> None:
    write_suite(tmp_path, groups)
    result = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rules_pass_their_promtool_unit_tests(groups: list[dict], tmp_path: Path) -> None:
    tests = write_suite(tmp_path, groups)
    result = promtool("test", "rules", *(t.name for t in tests), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(tests)


def test_every_alert_has_a_firing_and_a_silent_unit_test(alerts: dict[str, dict]) -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for path in PROMTOOL_TESTS.glob("*_test.yaml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    assert set(alerts) - fires == set(), "alerts never shown to fire"
    assert set(alerts) - silent == set(), "alerts never shown to stay quiet"


def test_scoping_and_routing_labels(groups: list[dict], alerts: dict[str, dict]) -> None:
    recorded = {r["record"]: r["expr"] for g in groups for r in g["rules"] if "record" in r}
    for name, rule in alerts.items():
        labels = rule["labels"]
        assert (labels["severity"], labels["paging"]) in {
            ("critical", "true"),
            ("warning", "false"),
        }, name
        expr = rule["expr"]
        if name.startswith("Helloworld") and not name.startswith("HelloworldProd"):
            env = "test" if name in TEST_ENV_ALERTS else "prod"
            uses = re.findall(r"(env:[\w:]+)\{env=\"(\w+)\"\}", expr)
            assert uses and {e for _, e in uses} == {env}, name
            assert all(record in recorded for record, _ in uses), name
        if name in TEST_ENV_ALERTS:
            assert labels["severity"] == "warning", name
        if name.startswith("Istio"):
            assert expr.count(PROD_HOST) == 2, name
        if name.startswith("HelloworldProd"):
            assert 'helloworld-prod"' in expr and labels["env"] == "prod", name
        if name.startswith(("ConfigMapReload", "Kube", "CertManager")):
            assert 'namespace="shipshape"' in expr, name
    for expr in recorded.values():
        assert 'namespace="shipshape"' in expr


def test_burn_rate_windows_and_factors(alerts: dict[str, dict]) -> None:
    fast = alerts["HelloworldErrorBudgetBurnFast"]["expr"]
    slow = alerts["HelloworldErrorBudgetBurnSlow"]["expr"]
    assert "rate1h{" in fast and "rate5m{" in fast and fast.count("(14.4 * 0.001)") == 2
    assert "rate6h{" in slow and "rate30m{" in slow and slow.count("(6 * 0.001)") == 2


def test_runbook_urls_name_the_alert_section(alerts: dict[str, dict]) -> None:
    base = "https://github.com/shipshape/shipshape/blob/main/docs/runbooks/alerts.md#"
    headings = set(re.findall(r"^## (\w+)$", (REPO / "docs/runbooks/alerts.md").read_text(), re.M))
    for name, rule in alerts.items():
        assert rule["annotations"]["runbook_url"] == base + name.lower()
        assert name in headings


@pytest.mark.parametrize(
    ("needle", "replacement", "suite"),
    [
        ('{env="prod"}', "{}", "app_slo_test.yaml"),  # prod alerts see every env
        ('{env="test"}', "{}", "app_slo_test.yaml"),  # test alerts see every env
        (PROD_HOST + ", ", "", "istio_test.yaml"),  # Istio alerts see every host
        ("(14.4 * 0.001)", "(1 * 0.001)", "app_slo_test.yaml"),  # fast burn threshold
        ('namespace="shipshape", ', "", "pods_test.yaml"),  # pod alerts see every namespace
    ],
)
def test_unit_tests_catch_broken_scoping(
    groups: list[dict], tmp_path: Path, needle: str, replacement: str, suite: str
) -> None:
    broken = copy.deepcopy(groups)
    changed = 0
    for group in broken:
        for rule in group["rules"]:
            if needle in rule["expr"]:
                rule["expr"] = rule["expr"].replace(needle, replacement)
                changed += 1
    assert changed
    write_suite(tmp_path, broken)
    result = promtool("test", "rules", suite, cwd=tmp_path)
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr
