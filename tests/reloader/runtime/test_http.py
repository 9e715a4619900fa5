"""The HTTP endpoints: health from loop progress, leader-only readiness, /leadz, /metrics."""

from __future__ import annotations

import select
import threading

import falcon.testing
import pytest
import waitress.wasyncore
from prometheus_client import CollectorRegistry

from reloader.runtime.health import Health
from reloader.runtime.http import HttpServer, create_app
from reloader.runtime.leadership import LeadershipStatus, SoleActor
from reloader.runtime.metrics import ControllerMetrics
from tests.webapp import rawhttp


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Standby:
    """A replica that follows another leader (what the HA elector will report)."""

    identity = "helloworld-controller-1"

    def is_leader(self) -> bool:
        return False

    def status(self) -> LeadershipStatus:
        return LeadershipStatus(self.identity, "helloworld-controller-0", False, 7)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def health(clock):
    health = Health(clock=clock)
    health.register("reconciler", 30)
    health.register("watch/configmaps", 100)
    return health


def client(health, leadership=None, registry=None):
    registry = registry or CollectorRegistry()
    return falcon.testing.TestClient(
        create_app(health, leadership or SoleActor("helloworld-controller-0"), registry)
    )


def test_healthz_is_200_while_loops_make_progress_and_503_when_one_is_stuck(health, clock):
    api = client(health)
    response = api.simulate_get("/healthz")
    assert response.status_code == 200
    assert response.json["loops"]["reconciler"]["ok"] is True
    assert response.headers["cache-control"] == "no-store"
    clock.now += 50
    health.beat("watch/configmaps")
    response = api.simulate_get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "stuck"
    assert response.json["loops"]["reconciler"] == {"ok": False, "seconds_since_progress": 50.0}
    health.beat("reconciler")
    assert api.simulate_get("/healthz").status_code == 200


def test_a_loop_silent_for_exactly_its_limit_is_not_yet_stuck(health, clock):
    clock.now += 30
    health.beat("watch/configmaps")
    api = client(health)
    assert api.simulate_get("/healthz").status_code == 200
    clock.now += 0.001
    assert api.simulate_get("/healthz").status_code == 503


def test_probes_may_use_head(health, clock):
    health.set_synced()
    api = client(health)
    assert api.simulate_head("/healthz").status_code == 200
    assert api.simulate_head("/readyz").status_code == 200
    clock.now += 50
    assert api.simulate_head("/healthz").status_code == 503


@pytest.mark.parametrize("path", ["/leadz", "/metrics"])
def test_head_is_answered_wherever_get_is(health, path):
    api = client(health)
    head, get = api.simulate_head(path), api.simulate_get(path)
    assert head.status_code == get.status_code == 200
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.content == b""


def test_a_loop_that_ended_on_purpose_is_not_stuck(health, clock):
    health.finished("watch/configmaps")
    clock.now += 1000
    health.beat("reconciler")
    assert client(health).simulate_get("/healthz").status_code == 200


def test_a_failing_journal_shows_in_healthz_detail_and_makes_readyz_503(health):
    health.set_synced()
    api = client(health)
    assert api.simulate_get("/readyz").status_code == 200
    health.set_journal(False, "OperationalError: attempt to write a readonly database", backlog=3)
    healthz = api.simulate_get("/healthz")
    assert healthz.status_code == 200, "restarting the process would not make the disk writable"
    assert healthz.json["journal"]["ok"] is False
    assert healthz.json["journal"]["backlog"] == 3
    assert "readonly" in healthz.json["journal"]["error"]
    readyz = api.simulate_get("/readyz")
    assert readyz.status_code == 503
    assert any("journal not writable" in reason for reason in readyz.json["reasons"])
    health.set_journal(True)
    assert api.simulate_get("/readyz").status_code == 200


def test_a_journal_failing_again_and_again_reports_how_long_since_it_first_failed(health, clock):
    health.set_journal(False, "disk I/O error", backlog=1)
    clock.now += 20
    health.set_journal(False, "disk I/O error", backlog=2)
    clock.now += 5
    health.beat("reconciler")
    health.beat("watch/configmaps")
    journal = client(health).simulate_get("/healthz").json["journal"]
    assert (journal["failing_for_seconds"], journal["backlog"]) == (25.0, 2)
    health.set_journal(True)
    health.set_journal(False, "disk I/O error", backlog=1)
    journal = client(health).simulate_get("/healthz").json["journal"]
    assert journal["failing_for_seconds"] == 0.0, "a recovery starts the count again"


def test_a_forbidden_operation_makes_readyz_503_until_it_is_allowed_again(health):
    health.set_synced()
    api = client(health)
    health.set_forbidden("patch", 'deployments.apps "helloworld" is forbidden')
    readyz = api.simulate_get("/readyz")
    assert readyz.status_code == 503
    assert readyz.json["reasons"] == ['patch forbidden: deployments.apps "helloworld" is forbidden']
    healthz = api.simulate_get("/healthz")
    assert healthz.status_code == 200, "a restarted pod has the same Role"
    assert healthz.json["permissions"] == {
        "ok": False,
        "forbidden": {"patch": 'deployments.apps "helloworld" is forbidden'},
    }
    health.set_forbidden("patch", None)
    assert api.simulate_get("/readyz").status_code == 200
    assert api.simulate_get("/healthz").json["permissions"] == {"ok": True, "forbidden": {}}


def test_readyz_waits_for_the_initial_sync_and_turns_503_on_shutdown(health):
    api = client(health)
    response = api.simulate_get("/readyz")
    assert response.status_code == 503
    assert response.json["reasons"] == ["initial list not synced"]
    health.set_synced()
    assert api.simulate_get("/readyz").status_code == 200
    health.set_stopping()
    assert api.simulate_get("/readyz").json["reasons"] == ["shutting down"]


def test_readyz_is_503_on_a_standby_and_leadz_names_the_leader(health):
    health.set_synced()
    api = client(health, Standby())
    assert api.simulate_get("/readyz").status_code == 503
    assert api.simulate_get("/leadz").json == {
        "identity": "helloworld-controller-1",
        "leader": "helloworld-controller-0",
        "is_leader": False,
        "epoch": 7,
    }


def test_leadz_of_the_sole_actor(health):
    assert client(health).simulate_get("/leadz").json == {
        "identity": "helloworld-controller-0",
        "leader": "helloworld-controller-0",
        "is_leader": True,
        "epoch": None,
    }


def test_a_released_sole_actor_leads_no_more(health):
    health.set_synced()
    actor = SoleActor("helloworld-controller-0")
    api = client(health, actor)
    assert actor.release() is True
    assert api.simulate_get("/leadz").json == {
        "identity": "helloworld-controller-0",
        "leader": None,
        "is_leader": False,
        "epoch": None,
    }
    readyz = api.simulate_get("/readyz")
    assert (readyz.status_code, readyz.json["reasons"]) == (503, ["not the leader"])


def test_watch_state_is_reported(health):
    health.set_watch("configmaps", False)
    assert client(health).simulate_get("/healthz").json["watches"] == {"configmaps": {"up": False}}


CONTRACT_METRICS = [
    "configmap_reload_restarts_total",
    "configmap_reload_errors_total",
    "configmap_reload_retry_total",
    "configmap_reload_pending_restarts",
    "configmap_reload_dropped_restarts_total",
    "configmap_reload_leader_state",
    "configmap_reload_leader_transitions_total",
    "configmap_reload_leader_acquire_latency_seconds",
    "configmap_reload_watch_up",
    "configmap_reload_change_to_patch_seconds",
    "configmap_reload_journal_append_seconds",
    "configmap_reload_journal_errors_total",
]


def test_metrics_exposes_every_contract_metric(health):
    registry = CollectorRegistry()
    metrics = ControllerMetrics(registry, "shipshape")
    metrics.know_workload("deployment", "helloworld-test")
    metrics.observe_record("restart.patched", {}, "deployment/helloworld-test")
    metrics.errors.labels("patch", "server-error").inc()
    response = client(health, registry=registry).simulate_get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in CONTRACT_METRICS:
        assert f"\n# TYPE {name.removesuffix('_total')} " in text or f"# TYPE {name} " in text, name
    assert 'configmap_reload_watch_up{resource="configmaps"} 0.0' in text
    assert (
        'configmap_reload_restarts_total{deployment="helloworld-test",kind="deployment",'
        'workload_namespace="shipshape"} 1.0'
    ) in text


def test_every_resource_watched_has_its_watch_series_at_zero_before_it_connects():
    registry = CollectorRegistry()
    ControllerMetrics(registry, "shipshape", ["configmaps", "statefulsets", "secrets"])
    up = {
        sample.labels["resource"]: sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "configmap_reload_watch_up"
    }
    assert up == {"configmaps": 0.0, "statefulsets": 0.0, "secrets": 0.0}
    events = registry.get_sample_value(
        "configmap_reload_watch_events_total", {"resource": "secrets", "type": "MODIFIED"}
    )
    assert events == 0.0


def test_metrics_count_what_records_tell():
    metrics = ControllerMetrics(CollectorRegistry(), "shipshape")
    metrics.observe_record(
        "restart.patched", {"latency_seconds": 1.2}, "deployment/helloworld-test"
    )
    # The same name in another namespace, and another kind: series of their own.
    metrics.observe_record("restart.patched", {}, "deployment/helloworld-test", "team-a")
    metrics.observe_record("restart.patched", {}, "statefulset/helloworld-test", "team-a")
    metrics.observe_record("restart.patched", {}, "statefulset/helloworld-test", "team-a")
    metrics.observe_record("restart.retry", {}, "deployment/helloworld-test")
    metrics.observe_record("restart.dropped", {}, "deployment/helloworld-test")
    metrics.observe_record("rollout.completed", {}, "deployment/helloworld-test")
    metrics.observe_record("rollout.timeout", {}, "deployment/helloworld-test")
    metrics.observe_record("rollout.timeout", {}, "deployment/helloworld-test")
    value = metrics.registry.get_sample_value

    def restarts(kind, namespace):
        labels = {"deployment": "helloworld-test", "kind": kind, "workload_namespace": namespace}
        return value("configmap_reload_restarts_total", labels)

    assert restarts("deployment", "shipshape") == 1
    assert restarts("deployment", "team-a") == 1
    assert restarts("statefulset", "team-a") == 2
    assert value("configmap_reload_change_to_patch_seconds_count") == 1
    assert value("configmap_reload_change_to_patch_seconds_bucket", {"le": "2.0"}) == 1
    assert value("configmap_reload_retry_total") == 1
    assert value("configmap_reload_dropped_restarts_total") == 1
    assert value("configmap_reload_rollouts_total", {"outcome": "completed"}) == 1
    assert value("configmap_reload_rollouts_total", {"outcome": "timeout"}) == 2


@pytest.fixture
def served(health):
    """The endpoints on real waitress on a free loopback port."""
    server = HttpServer(
        create_app(health, SoleActor("helloworld-controller-0"), CollectorRegistry()),
        "127.0.0.1",
        0,
    )
    server.start()
    yield server.port
    server.stop()


@pytest.mark.parametrize(
    "path", ["//metrics", "///healthz", "/%2Fmetrics", "/%2fleadz", "/readyz/"]
)
def test_only_each_endpoints_own_spelling_is_served(served, path):
    """waitress strips leading slashes and decodes %2F: without the check, //metrics
    (which a mesh policy that keeps /metrics for Prometheus does not match) served
    /metrics."""
    spelled = rawhttp.request(served, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert spelled.status == 404, path
    assert spelled.headers["cache-control"] == "no-store"
    own = rawhttp.request(served, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert own.status == 200


@pytest.mark.parametrize(("method", "status"), [("BREW", 501), ("PURGE", 501), ("DELETE", 405)])
def test_an_unknown_method_is_501_and_a_known_one_not_allowed_is_405(served, method, status):
    answer = rawhttp.request(served, f"{method} /metrics HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert answer.status == status, method


class _RacingSelect:
    """waitress's ``select`` module, whose first ``select()`` in the serving thread
    runs ``race`` first: what another thread might do after the loop listed its
    sockets and before it called ``select()``."""

    def __init__(self, race) -> None:
        self._race = race
        self._raced = False

    def select(self, r, w, e, timeout=None):
        if not self._raced and threading.current_thread().name == "http":
            self._raced = True
            self._race()
        return select.select(r, w, e, timeout)

    def __getattr__(self, name):
        return getattr(select, name)


@pytest.mark.parametrize("stopping", [True, False])
def test_a_socket_closed_before_the_loops_select_ends_it_quietly_only_at_a_stop(
    health, monkeypatch, stopping
):
    """stop() may close the listening socket after the loop listed it for select(),
    which then fails with EBADF: at a stop that is the end, not a crash of the thread
    (a traceback in the controller's log at an unlucky SIGTERM); otherwise it is a
    failure and is not hidden."""
    server = HttpServer(
        create_app(health, SoleActor("helloworld-controller-0"), CollectorRegistry()),
        "127.0.0.1",
        0,
    )
    race = server.stop if stopping else server._server.socket.close
    monkeypatch.setattr(waitress.wasyncore, "select", _RacingSelect(race))
    failures: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: failures.append(args.exc_value))
    server.start()
    server._thread.join(5)
    assert not server._thread.is_alive()
    if stopping:
        assert failures == []
    else:
        assert len(failures) == 1 and isinstance(failures[0], OSError)
