"""API objects to the core's views: each workload kind's rollout, Secrets only as keyed hashes."""

from __future__ import annotations

import base64
import hashlib

from reloader.core import RolloutStatus
from reloader.core.rollout import RolloutOutcome, rollout_outcome
from reloader.core.secrets import SecretHashKey
from reloader.kube.views import deployment_view, secret_view

KEY = SecretHashKey(b"s" * 32)


def test_a_daemonset_rollout_is_read_from_its_scheduling_counts():
    obj = {
        "metadata": {"name": "agent", "namespace": "b", "generation": 3},
        "spec": {"template": {"spec": {}}},
        "status": {
            "observedGeneration": 3,
            "desiredNumberScheduled": 4,
            "currentNumberScheduled": 4,
            "updatedNumberScheduled": 3,
            "numberAvailable": 4,
        },
    }
    view = deployment_view(obj, "DaemonSet")
    assert (view.kind, view.namespace, view.target) == ("daemonset", "b", None)
    assert view.rollout == RolloutStatus(3, 3, 4, 4, 3, 4)
    assert rollout_outcome(view.rollout, 3) is RolloutOutcome.PROGRESSING
    obj["status"] |= {"currentNumberScheduled": 3, "numberAvailable": 2}
    assert deployment_view(obj, "DaemonSet").rollout == RolloutStatus(3, 3, 4, 3, 3, 2)
    obj["status"] |= {"currentNumberScheduled": 4, "numberAvailable": 4}
    obj["status"]["updatedNumberScheduled"] = 4
    assert rollout_outcome(deployment_view(obj, "DaemonSet").rollout, 3) is RolloutOutcome.COMPLETED


def test_a_partitioned_statefulset_rollout_ends_with_the_ordinals_below_it_not_updated():
    def statefulset(strategy):
        return {
            "metadata": {"name": "db", "namespace": "a", "generation": 2},
            "spec": {"replicas": 3, "updateStrategy": strategy, "template": {"spec": {}}},
            "status": {
                "observedGeneration": 2,
                "replicas": 3,
                "updatedReplicas": 2,
                "availableReplicas": 3,
            },
        }

    partitioned = {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}
    view = deployment_view(statefulset(partitioned), "StatefulSet")
    assert view.rollout.partition == 1
    assert rollout_outcome(view.rollout, 2) is RolloutOutcome.COMPLETED
    assert not view.rollout.on_delete
    for other in ({"type": "OnDelete", "rollingUpdate": {"partition": 1}}, {}, None):
        view = deployment_view(statefulset(other), "StatefulSet")
        assert view.rollout.partition == 0
        assert rollout_outcome(view.rollout, 2) is RolloutOutcome.PROGRESSING
        # OnDelete: the pods take the template when deleted; nothing to follow.
        assert view.rollout.on_delete == (other is not None and other.get("type") == "OnDelete")
    daemonset = statefulset({"type": "OnDelete"}) | {"status": {}}
    assert deployment_view(daemonset, "DaemonSet").rollout.on_delete
    # A Deployment has no OnDelete (its strategy is spec.strategy): never taken as one.
    assert not deployment_view(statefulset({"type": "OnDelete"}), "Deployment").rollout.on_delete


def test_a_statefulset_with_app_env_labels_is_not_selected_by_the_label_rule():
    obj = {
        "metadata": {"name": "db", "namespace": "a", "labels": {"app": "x", "env": "y"}},
        "spec": {"replicas": 2, "template": {"spec": {}}},
        "status": {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 2},
    }
    view = deployment_view(obj, "StatefulSet")
    assert view.kind == "statefulset" and view.target is None and view.optin is None
    assert view.rollout.replicas == 2


def test_a_secret_view_holds_only_keyed_hashes():
    value = base64.b64encode(b"hunter2").decode()
    view = secret_view({"metadata": {"name": "s", "namespace": "a"}, "data": {"pw": value}}, KEY)
    text = repr(view)
    assert view.kind == "secret" and view.data_hash.startswith("hmac-sha256:")
    assert value not in text and "hunter2" not in text
    assert hashlib.sha256(value.encode()).hexdigest() not in text
    assert all(digest.startswith("hmac-sha256:") for _, digest in view.key_digests)
