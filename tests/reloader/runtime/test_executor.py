"""The patch workers against the API test server: outcomes, and what health reports."""

from __future__ import annotations

from reloader.core import PatchFailed, PatchFenced, PatchRestart, PatchSucceeded
from tests.reloader.e2e.harness import deployment, ensure_namespace
from tests.reloader.runtime.workers import patch_workers


def restart(attempt: int) -> PatchRestart:
    return PatchRestart(
        "helloworld-test", "helloworld-config-test", "cid-1", "sha256:" + "1" * 64, attempt
    )


def test_only_a_forbidden_patch_is_reported_as_a_permission_problem(kubeapi_private_server):
    server = kubeapi_private_server
    ensure_namespace(server)
    server.create(deployment("helloworld-test"))
    workers = patch_workers(server)
    executor, outcomes, api = workers.executor, workers.outcomes, workers.api
    try:
        # A server error is no permission problem: the replica stays ready.
        fault = server.fail(503, count=1, verb="patch", resource="deployments", client="controller")
        executor.restart(restart(1))
        assert isinstance(outcomes.get(timeout=10), PatchFailed)
        assert api.simulate_get("/readyz").status_code == 200
        assert api.simulate_get("/healthz").json["permissions"] == {"ok": True, "forbidden": {}}
        server.remove_fault(fault)

        denial = server.deny(verb="patch", resource="deployments", client="controller")
        executor.restart(restart(2))
        assert isinstance(outcomes.get(timeout=10), PatchFailed)
        readyz = api.simulate_get("/readyz")
        assert readyz.status_code == 503
        assert [reason.split(":")[0] for reason in readyz.json["reasons"]] == ["patch forbidden"]
        server.remove_fault(denial)

        executor.restart(restart(3))
        assert isinstance(outcomes.get(timeout=10), PatchSucceeded)
        assert api.simulate_get("/readyz").status_code == 200
        errors = "configmap_reload_errors_total"
        for reason in ("server-error", "forbidden"):
            labels = {"operation": "patch", "reason": reason}
            assert workers.metrics.registry.get_sample_value(errors, labels) == 1, reason

        # Once leadership is gone nothing more is sent: the fencing check.
        workers.actor.release()
        server.clear_requests()
        executor.restart(restart(4))
        assert isinstance(outcomes.get(timeout=10), PatchFenced)
        assert server.requests(client="controller", verb="patch") == []
    finally:
        executor.shutdown()
