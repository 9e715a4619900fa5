"""From the opt-in rules' inputs (:mod:`.optin`) to the decision core's views.

The Kubernetes adapter reads an API object into a :class:`~.optin.Workload`
or :class:`~.optin.Source` and hashes the data; these functions parse the
annotations once, so that every later decision only compares.
"""

from __future__ import annotations

from reloader.core.model import ConfigMapView, DeploymentView, RolloutStatus, Target
from reloader.core.optin import Source, Workload, parse_optin, source_flags


def workload_view(
    workload: Workload,
    applied_hash: str | None,
    *,
    resource_version: str = "",
    rollout: RolloutStatus | None = None,
) -> DeploymentView:
    """Return the core's view of a Deployment, StatefulSet or DaemonSet.

    ``target`` is the runbook's label rule (Deployments with ``app`` and
    ``env`` only); ``optin`` is set when an annotation rule is on.
    """
    parsed = parse_optin(workload)
    return DeploymentView(
        name=workload.name,
        target=Target(*parsed.labels) if parsed.labels is not None else None,
        applied_hash=applied_hash,
        resource_version=resource_version,
        rollout=rollout or RolloutStatus(),
        namespace=workload.namespace,
        kind=workload.kind.lower(),
        optin=parsed if parsed.opted_in else None,
        debounce_seconds=parsed.debounce_seconds,
        warnings=tuple(warning.message() for warning in parsed.warnings),
    )


def source_view(
    source: Source,
    data_hash: str,
    key_digests: tuple[tuple[str, str], ...] = (),
    *,
    resource_version: str = "",
) -> ConfigMapView:
    """Return the core's view of a ConfigMap or Secret: hashes and flags, never values.

    For a Secret, ``data_hash`` and ``key_digests`` must be keyed (:mod:`.secrets`).
    """
    ignore, match, warnings = source_flags(source)
    app, env = source.labels.get("app"), source.labels.get("env")
    return ConfigMapView(
        name=source.name,
        target=Target(app, env) if app and env else None,
        data_hash=data_hash,
        key_digests=key_digests,
        resource_version=resource_version,
        namespace=source.namespace,
        kind=source.kind.lower(),
        ignore=ignore,
        match=match,
        warnings=tuple(warning.message() for warning in warnings),
    )
