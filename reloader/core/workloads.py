"""From the opt-in rules' inputs (:mod:`.optin`) to the decision core's views.

The Kubernetes adapter reads an API object into a :class:`~.optin.Workload`
or :class:`~.optin.Source` and hashes the data; these functions parse the
annotations once, so that every later decision only compares.

:func:`optin_facts` is the parsed opt-in as ``deployment.observed`` records
it, and :func:`optin_from_facts` rebuilds it for ``replay --check``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reloader.core.model import ConfigMapView, DeploymentView, RolloutStatus, Target
from reloader.core.optin import (
    CONFIGMAP,
    SECRET,
    WORKLOAD_KINDS,
    KindOptIn,
    ObjectRef,
    OptIn,
    Source,
    Workload,
    parse_optin,
    source_flags,
)


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


# ---------------------------------------------------------------- as recorded

#: The record kind words of the source kinds (``configmap/NAME``), by opt-in kind.
_RECORDED_KIND = {CONFIGMAP: "configmap", SECRET: "secret"}
_WORKLOAD_KIND = {kind.lower(): kind for kind in WORKLOAD_KINDS}


def optin_facts(view: DeploymentView) -> dict[str, Any] | None:
    """The opt-in of a workload as ``deployment.observed`` records it (compact), or None.

    Only what decisions use: per source kind, ``auto``/``search`` when true,
    the ``reload`` items (sorted), Reloader's ``exclude`` names and, when
    ``auto`` or ``search`` makes them count, the names the pod spec references
    (sorted, left out when none); the workload's
    ``debounce_seconds`` when it overrides ``DEBOUNCE_SECONDS``. None for a
    workload with neither (the label rule alone). Two views with equal facts
    get the same decisions, so the core compares these to tell whether a
    workload changed in a way that matters (its annotation warnings do not).
    """
    facts: dict[str, Any] = {}
    parsed = view.optin
    if parsed is not None:
        for kind, rules in parsed.kinds.items():
            entry: dict[str, Any] = {}
            if rules.auto:
                entry["auto"] = True
            if rules.search:
                entry["search"] = True
            if rules.reload:
                entry["reload"] = sorted({pattern.pattern for pattern in rules.reload})
            if rules.exclude and (rules.auto or rules.search or rules.reload):
                entry["exclude"] = list(rules.exclude)
            names = sorted(name for ref_kind, name in parsed.references if ref_kind == kind)
            if (rules.auto or rules.search) and names:
                entry["references"] = names
            if entry:
                facts[_RECORDED_KIND[kind]] = entry
    if view.debounce_seconds is not None:
        facts["debounce_seconds"] = view.debounce_seconds
    return facts or None


def references_moved(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> bool:
    """Whether the pod template's counted references changed between two :func:`optin_facts`.

    References live in the pod template, so a change of them is a template
    change, which the cluster rolls out itself. Judged on the facts (not the
    whole view) so that replay, which has only the facts, decides alike; and
    only for a source kind whose ``auto``/``search`` stayed as they were, since
    turning those on or off (annotations outside the template, perhaps) is what
    makes references appear in the facts or leave them.
    """
    if before is None or after is None:
        return False
    for kind in before.keys() & after.keys():
        old, new = before[kind], after[kind]
        if not isinstance(old, Mapping) or not isinstance(new, Mapping):
            continue  # debounce_seconds
        rules = ("auto", "search", "exclude")
        same_rules = all(old.get(rule) == new.get(rule) for rule in rules)
        if same_rules and old.get("references") != new.get("references"):
            return True
    return False


def optin_from_facts(
    facts: Mapping[str, Any] | None, kind: str, namespace: str, name: str, target: Target | None
) -> tuple[OptIn | None, float | None]:
    """The ``(optin, debounce_seconds)`` of a view, rebuilt from :func:`optin_facts`.

    ``kind`` is the workload's record kind (``deployment``, ``statefulset``,
    ``daemonset``). What cannot be read (a malformed record) is left out, as
    an annotation that could not be understood is.
    """
    if not isinstance(facts, Mapping):
        return None, None
    kinds: dict[str, KindOptIn] = {}
    references: set[tuple[str, str]] = set()
    for source_kind, recorded in _RECORDED_KIND.items():
        entry = facts.get(recorded)
        if not isinstance(entry, Mapping):
            entry = {}
        patterns = []
        for item in _strings(entry.get("reload")):
            try:
                patterns.append(re.compile(item))
            except re.error:
                continue
        kinds[source_kind] = KindOptIn(
            auto=entry.get("auto") is True,
            reload=tuple(patterns),
            search=entry.get("search") is True,
            exclude=tuple(_strings(entry.get("exclude"))),
        )
        references.update((source_kind, ref) for ref in _strings(entry.get("references")))
    debounce = facts.get("debounce_seconds")
    seconds = (
        float(debounce)
        if isinstance(debounce, int | float) and not isinstance(debounce, bool)
        else None
    )
    parsed = OptIn(
        workload=ObjectRef(_WORKLOAD_KIND.get(kind, kind), namespace, name),
        kinds=kinds,
        references=frozenset(references),
        labels=(target.app, target.env) if target is not None else None,
        debounce_seconds=seconds,
        warnings=(),
    )
    return (parsed if parsed.opted_in else None), seconds


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
