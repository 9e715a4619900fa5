"""What ``/readyz`` and ``/healthz`` say when RBAC forbids writes in one namespace of several.

The patch workers run against the API test server with the real client; the
RBAC denial is the server's (a 403 with the real authorizer's message).
"""

from __future__ import annotations

from reloader.core import PatchFailed, PatchRestart, PatchSucceeded
from reloader.runtime.health import Health
from tests.reloader.e2e.harness import deployment
from tests.reloader.runtime.workers import patch_workers

TEAMS = ("team-a", "team-b")


def restart(namespace: str, attempt: int) -> PatchRestart:
    return PatchRestart(
        "helloworld-test",
        "helloworld-config-test",
        f"cid-{namespace}",
        "sha256:" + str(attempt) * 64,
        attempt,
        namespace=namespace,
    )


def test_a_patch_allowed_in_one_namespace_does_not_hide_one_forbidden_in_another(
    kubeapi_private_server,
):
    server = kubeapi_private_server
    for ns in TEAMS:
        server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        workload = deployment("helloworld-test")
        workload["metadata"]["namespace"] = ns
        server.create(workload)
    workers = patch_workers(server)
    executor, outcomes, api = workers.executor, workers.outcomes, workers.api
    try:
        denial = server.deny(verb="patch", resource="deployments", namespace="team-b")
        executor.restart(restart("team-b", 1))
        assert isinstance(outcomes.get(timeout=10), PatchFailed)
        assert api.simulate_get("/readyz").status_code == 503

        # team-a's RoleBinding still allows it: that says nothing of team-b.
        executor.restart(restart("team-a", 2))
        assert isinstance(outcomes.get(timeout=10), PatchSucceeded)
        readyz = api.simulate_get("/readyz")
        assert readyz.status_code == 503, readyz.json
        assert [reason.split(":")[0] for reason in readyz.json["reasons"]] == ["patch forbidden"]
        assert "team-b" in readyz.json["reasons"][0]
        permissions = api.simulate_get("/healthz").json["permissions"]
        assert permissions["ok"] is False and "team-b" in permissions["forbidden"]["patch"]

        # Allowed again where it was forbidden: ready again.
        server.remove_fault(denial)
        executor.restart(restart("team-b", 3))
        assert isinstance(outcomes.get(timeout=10), PatchSucceeded)
        assert api.simulate_get("/readyz").status_code == 200
        assert api.simulate_get("/healthz").json["permissions"] == {"ok": True, "forbidden": {}}
    finally:
        executor.shutdown()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_forbidden_write_no_longer_made_stops_being_reported_after_the_ttl():
    clock = Clock()
    health = Health(clock=clock, forbidden_ttl=60.0)
    health.set_synced()
    health.set_forbidden("patch", 'deployments.apps "a" is forbidden: ... "team-b"', "team-b")
    health.set_forbidden("patch", 'deployments.apps "a" is forbidden: ... "team-c"', "team-c")
    ready, detail = health.readiness(is_leader=True)
    assert not ready and len(detail["reasons"]) == 2
    _, live = health.liveness()
    assert live["permissions"]["forbidden"]["patch"].count("is forbidden") == 2
    clock.now += 50
    health.set_forbidden("patch", 'deployments.apps "a" is forbidden: ... "team-c"', "team-c")
    clock.now += 20  # team-b's not seen for 70 s, team-c's for 20 s
    ready, detail = health.readiness(is_leader=True)
    assert not ready and len(detail["reasons"]) == 1 and "team-c" in detail["reasons"][0]
    clock.now += 61
    assert health.readiness(is_leader=True)[0]
    assert health.liveness()[1]["permissions"] == {"ok": True, "forbidden": {}}
