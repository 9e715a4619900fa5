"""Which ConfigMaps and Secrets a workload opts in to be restarted for.

A workload (an ``apps/v1`` Deployment, StatefulSet or DaemonSet) declares its
dependencies with annotations. Two families mean the same thing:

* stakater/Reloader's (``reloader.stakater.com/auto``,
  ``configmap.reloader.stakater.com/reload`` ...), so that workloads written
  for Reloader switch without touching their manifests;
* Shipshape's own (``shipshape.io/auto``, ``shipshape.io/configmap-reload``
  ...), which win when both are set on the same object.

The rules, for one ConfigMap or Secret ``S`` in the workload's namespace
(Reloader's, checked against its handler):

1. ``ignore: "true"`` on ``S`` removes it from everything: no workload
   restarts for it, by any of the rules below.
2. Reloader's exclude list of ``S``'s kind
   (``configmaps.exclude.reloader.stakater.com/reload``, exact names, on the
   workload's own metadata only) takes ``S`` out of rules 3 to 5.
3. ``auto`` (any kind) or the typed ``configmap-auto``/``secret-auto`` set to
   true: ``S`` counts when the pod spec references it (env ``valueFrom``,
   ``envFrom``, ``configMap``/``secret`` volumes, ``projected`` sources; init
   containers too). ``auto: "false"`` only leaves this rule off: it does not
   cancel the typed variant nor an explicit list.
4. ``configmap-reload``/``secret-reload``, a comma-separated list: ``S``
   counts when its name matches an item, referenced by the pod spec or not
   (:mod:`.reloadlists`: whole-name patterns, bounded).
5. ``search: "true"``: ``S`` counts when it carries ``match: "true"`` and the
   pod spec references it.
6. The runbook's label rule: a ConfigMap with ``app``/``env`` labels counts
   for the Deployment with the same two labels (in the controller's own
   namespace only: the core applies :attr:`Policy.label_rule_namespace`).

Where the annotations are read, also as in Reloader: on the workload's own
metadata; when it carries none of the keys that concern ``S``'s kind (the
kind's list, ``auto``, the kind's typed ``auto``, ``search``, in either
family), on its pod template's metadata instead.

``shipshape.io/debounce`` (``500ms``, ``30s``, ``2m``, ``1m30s``; 0 to 1 h)
overrides ``DEBOUNCE_SECONDS`` for the workload.

Values that cannot be understood never raise: they come back as
:class:`AnnotationWarning` items, for the caller to report once per workload
(a warning Event and a journal record), and the annotation is taken as false
(or, for ``debounce``, as absent). ``auto`` and Shipshape's own booleans take
the spellings of Go's ``strconv.ParseBool``, as Reloader reads ``auto``:
``true``/``false``, ``True``, ``TRUE``, ``t``, ``1`` and their negatives.
Reloader compares its ``search``, ``match`` and ``ignore`` with ``"true"``
alone, and so do we for those three names (another true spelling is false
and reported).

Everything here is pure: plain mappings in, frozen values out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reloader.core.reloadlists import reload_patterns

# The workload kinds that can opt in, and the sources they can depend on.
DEPLOYMENT = "Deployment"
STATEFULSET = "StatefulSet"
DAEMONSET = "DaemonSet"
WORKLOAD_KINDS = (DEPLOYMENT, STATEFULSET, DAEMONSET)
CONFIGMAP = "ConfigMap"
SECRET = "Secret"  # noqa: S105 - a name, not a credential
SOURCE_KINDS = (CONFIGMAP, SECRET)

# Reasons a source counts for a workload.
REASON_AUTO = "auto"
REASON_RELOAD = "reload"
REASON_SEARCH = "search"
REASON_LABELS = "labels"

# stakater/Reloader's annotations.
RELOADER_AUTO = "reloader.stakater.com/auto"
RELOADER_CONFIGMAP_AUTO = "configmap.reloader.stakater.com/auto"
RELOADER_SECRET_AUTO = "secret.reloader.stakater.com/auto"  # noqa: S105 - a name, not a credential
RELOADER_CONFIGMAP_RELOAD = "configmap.reloader.stakater.com/reload"
RELOADER_SECRET_RELOAD = "secret.reloader.stakater.com/reload"  # noqa: S105 - a name, not a credential
RELOADER_SEARCH = "reloader.stakater.com/search"
RELOADER_MATCH = "reloader.stakater.com/match"
RELOADER_IGNORE = "reloader.stakater.com/ignore"

# Shipshape's equivalents (they win on conflict), and the debounce override.
SHIPSHAPE_AUTO = "shipshape.io/auto"
SHIPSHAPE_CONFIGMAP_AUTO = "shipshape.io/configmap-auto"
SHIPSHAPE_SECRET_AUTO = "shipshape.io/secret-auto"  # noqa: S105 - a name, not a credential
SHIPSHAPE_CONFIGMAP_RELOAD = "shipshape.io/configmap-reload"
SHIPSHAPE_SECRET_RELOAD = "shipshape.io/secret-reload"  # noqa: S105 - a name, not a credential
SHIPSHAPE_SEARCH = "shipshape.io/search"
SHIPSHAPE_MATCH = "shipshape.io/match"
SHIPSHAPE_IGNORE = "shipshape.io/ignore"
SHIPSHAPE_DEBOUNCE = "shipshape.io/debounce"

# (Shipshape's name, Reloader's name) of each setting, Shipshape's first.
AUTO = (SHIPSHAPE_AUTO, RELOADER_AUTO)
SEARCH = (SHIPSHAPE_SEARCH, RELOADER_SEARCH)
MATCH = (SHIPSHAPE_MATCH, RELOADER_MATCH)
IGNORE = (SHIPSHAPE_IGNORE, RELOADER_IGNORE)
TYPED_AUTO = {
    CONFIGMAP: (SHIPSHAPE_CONFIGMAP_AUTO, RELOADER_CONFIGMAP_AUTO),
    SECRET: (SHIPSHAPE_SECRET_AUTO, RELOADER_SECRET_AUTO),
}
RELOAD = {
    CONFIGMAP: (SHIPSHAPE_CONFIGMAP_RELOAD, RELOADER_CONFIGMAP_RELOAD),
    SECRET: (SHIPSHAPE_SECRET_RELOAD, RELOADER_SECRET_RELOAD),
}

# Reloader's exclude lists (exact names), read on the workload's metadata only.
EXCLUDE = {
    CONFIGMAP: "configmaps.exclude.reloader.stakater.com/reload",
    SECRET: "secrets.exclude.reloader.stakater.com/reload",
}

MAX_DEBOUNCE_SECONDS = 3600.0

# Reloader's workload annotations that change what restarts, which Shipshape
# does not implement, or not where they are: reported, not silently ignored.
_ON_TEMPLATE = "is read on the workload's metadata only, as by Reloader: ignored here"
UNSUPPORTED = {
    **{name: _ON_TEMPLATE for name in EXCLUDE.values()},
    "deployment.reloader.stakater.com/pause-period": (
        "is not supported: ignored (shipshape.io/debounce spaces restarts out)"
    ),
}

# Go's strconv.ParseBool, which Reloader uses for auto; its search, match and
# ignore are compared with "true" alone.
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_EXACT_TRUE = frozenset({RELOADER_SEARCH, RELOADER_MATCH, RELOADER_IGNORE})

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

# How much of a bad value a warning repeats.
_SHOWN = 64


@dataclass(frozen=True, order=True)
class ObjectRef:
    """One object by kind, namespace and name (``Deployment``, ``shop``, ``web``)."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        """Return ``namespace/kind/name``."""
        return f"{self.namespace}/{self.kind}/{self.name}"


@dataclass(frozen=True)
class AnnotationWarning:
    """An annotation value that could not be understood and was taken as false (or absent).

    Attributes:
        subject: The object that carries it.
        annotation: The annotation's name.
        value: Its value, cut to 64 characters.
        problem: What is wrong, in words, naming what was done instead.
    """

    subject: ObjectRef
    annotation: str
    value: str
    problem: str

    def message(self) -> str:
        """Return one line for an Event, a log line or a journal record."""
        return f"{self.subject}: {self.annotation}={self.value!r} {self.problem}"


@dataclass(frozen=True)
class Workload:
    """What the opt-in rules need of a Deployment, StatefulSet or DaemonSet.

    Attributes:
        kind: ``Deployment``, ``StatefulSet`` or ``DaemonSet``.
        namespace: Its namespace.
        name: Its name.
        labels: Its metadata labels.
        annotations: Its metadata annotations.
        template_annotations: Its pod template's annotations.
        pod_spec: Its pod template's ``spec``, as the API returns it (JSON).
    """

    kind: str
    namespace: str
    name: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    template_annotations: Mapping[str, str]
    pod_spec: Mapping[str, Any]

    @property
    def ref(self) -> ObjectRef:
        """Return the workload's reference."""
        return ObjectRef(self.kind, self.namespace, self.name)


@dataclass(frozen=True)
class Source:
    """The metadata of a ConfigMap or Secret: never its data.

    Attributes:
        kind: ``ConfigMap`` or ``Secret``.
        namespace: Its namespace.
        name: Its name.
        labels: Its labels.
        annotations: Its annotations.
    """

    kind: str
    namespace: str
    name: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]

    @property
    def ref(self) -> ObjectRef:
        """Return the source's reference."""
        return ObjectRef(self.kind, self.namespace, self.name)


@dataclass(frozen=True)
class KindOptIn:
    """A workload's opt-in for one source kind, parsed once.

    Attributes:
        auto: Whether every referenced source of this kind counts.
        reload: The patterns of the explicit list (compiled, anchored).
        search: Whether referenced sources carrying ``match: "true"`` count.
        exclude: The names of Reloader's exclude list: they count by none of
            these rules (and are left out of :attr:`OptIn.references`).
    """

    auto: bool
    reload: tuple[re.Pattern[str], ...]
    search: bool
    exclude: tuple[str, ...] = ()

    def lists(self, name: str) -> bool:
        """Whether the ``reload`` list takes the source ``name`` (and no exclusion drops it)."""
        return name not in self.exclude and any(p.fullmatch(name) for p in self.reload)


@dataclass(frozen=True)
class OptIn:
    """A workload's annotations, parsed: what the rules need, and what was wrong.

    Attributes:
        workload: The workload.
        kinds: The opt-in per source kind (``ConfigMap``, ``Secret``).
        references: The ``(kind, name)`` of every source its pod spec
            references, less the names its exclude lists take out.
        labels: Its ``app``/``env`` labels (the runbook rule), or None.
        debounce_seconds: Its ``shipshape.io/debounce``, or None.
        warnings: The values that could not be understood.
    """

    workload: ObjectRef
    kinds: Mapping[str, KindOptIn]
    references: frozenset[tuple[str, str]]
    labels: tuple[str, str] | None
    debounce_seconds: float | None
    warnings: tuple[AnnotationWarning, ...]

    @property
    def opted_in(self) -> bool:
        """Whether any annotation rule is on (the label rule aside)."""
        return any(k.auto or k.reload or k.search for k in self.kinds.values())


@dataclass(frozen=True)
class Dependency:
    """A source a workload restarts for, and the rules that say so (sorted)."""

    source: ObjectRef
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Dependencies:
    """The answer of :func:`dependencies` for one workload.

    Attributes:
        workload: The workload.
        sources: The sources it restarts for, sorted by reference.
        debounce_seconds: Its debounce override, or None for ``DEBOUNCE_SECONDS``.
        warnings: Values that could not be understood, on the workload and on
            the sources considered (each once).
    """

    workload: ObjectRef
    sources: tuple[Dependency, ...]
    debounce_seconds: float | None
    warnings: tuple[AnnotationWarning, ...]


# ---------------------------------------------------------------- from objects


def workload_from_object(obj: Mapping[str, Any], kind: str | None = None) -> Workload:
    """Return the :class:`Workload` of an API object (a JSON dict).

    Args:
        obj: The Deployment, StatefulSet or DaemonSet as the API returns it.
        kind: Its kind, when ``obj`` does not say (list items carry none).

    Raises:
        ValueError: The kind is none of the three.
    """
    kind = kind or str(obj.get("kind") or "")
    if kind not in WORKLOAD_KINDS:
        raise ValueError(f"not a workload kind: {kind!r}")
    metadata = obj.get("metadata") or {}
    template = (obj.get("spec") or {}).get("template") or {}
    return Workload(
        kind=kind,
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        labels=dict(metadata.get("labels") or {}),
        annotations=dict(metadata.get("annotations") or {}),
        template_annotations=dict((template.get("metadata") or {}).get("annotations") or {}),
        pod_spec=template.get("spec") or {},
    )


def source_from_object(obj: Mapping[str, Any], kind: str | None = None) -> Source:
    """Return the :class:`Source` of a ConfigMap or Secret object: its metadata only.

    Raises:
        ValueError: The kind is neither ``ConfigMap`` nor ``Secret``.
    """
    kind = kind or str(obj.get("kind") or "")
    if kind not in SOURCE_KINDS:
        raise ValueError(f"not a ConfigMap or Secret: {kind!r}")
    metadata = obj.get("metadata") or {}
    return Source(
        kind=kind,
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        labels=dict(metadata.get("labels") or {}),
        annotations=dict(metadata.get("annotations") or {}),
    )


# ---------------------------------------------------------------- references


def references(pod_spec: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    """Return the ``(kind, name)`` of every ConfigMap and Secret a pod spec references.

    Containers and init containers: env ``valueFrom.configMapKeyRef`` and
    ``secretKeyRef``, ``envFrom`` ``configMapRef`` and ``secretRef``; volumes:
    ``configMap``, ``secret`` (``secretName``) and the sources of ``projected``
    volumes. Optional references count like the others.
    """
    found: set[tuple[str, str]] = set()

    def add(kind: str, name: object) -> None:
        if isinstance(name, str) and name:
            found.add((kind, name))

    containers = [*(pod_spec.get("containers") or ()), *(pod_spec.get("initContainers") or ())]
    for container in containers:
        for env in container.get("env") or ():
            value_from = env.get("valueFrom") or {}
            add(CONFIGMAP, (value_from.get("configMapKeyRef") or {}).get("name"))
            add(SECRET, (value_from.get("secretKeyRef") or {}).get("name"))
        for env_from in container.get("envFrom") or ():
            add(CONFIGMAP, (env_from.get("configMapRef") or {}).get("name"))
            add(SECRET, (env_from.get("secretRef") or {}).get("name"))
    for volume in pod_spec.get("volumes") or ():
        add(CONFIGMAP, (volume.get("configMap") or {}).get("name"))
        add(SECRET, (volume.get("secret") or {}).get("secretName"))
        for projection in (volume.get("projected") or {}).get("sources") or ():
            add(CONFIGMAP, (projection.get("configMap") or {}).get("name"))
            add(SECRET, (projection.get("secret") or {}).get("name"))
    return frozenset(found)


# ---------------------------------------------------------------- parsing


def parse_optin(workload: Workload) -> OptIn:
    """Parse a workload's annotations and pod spec once, for :func:`reasons` to reuse."""
    warnings: list[AnnotationWarning] = []
    ref = workload.ref
    kinds: dict[str, KindOptIn] = {}
    found = references(workload.pod_spec)
    for kind in SOURCE_KINDS:
        annotations = _annotations_for(workload, kind)
        auto = _flag(annotations, AUTO, ref, warnings)
        typed = _flag(annotations, TYPED_AUTO[kind], ref, warnings)
        value = workload.annotations.get(EXCLUDE[kind], "")
        exclude = tuple(sorted({n.strip() for n in value.split(",")} - {""}))
        found -= {(kind, name) for name in exclude}
        kinds[kind] = KindOptIn(
            auto=auto or typed,
            reload=_patterns(annotations, RELOAD[kind], ref, warnings),
            search=_flag(annotations, SEARCH, ref, warnings),
            exclude=exclude,
        )
    app, env = workload.labels.get("app"), workload.labels.get("env")
    return OptIn(
        workload=ref,
        kinds=kinds,
        references=found,
        labels=(app, env) if app and env and workload.kind == DEPLOYMENT else None,
        debounce_seconds=_debounce(workload, ref, warnings),
        warnings=_unique([*warnings, *_unsupported(workload, ref)]),
    )


def source_flags(source: Source) -> tuple[bool, bool, tuple[AnnotationWarning, ...]]:
    """Return ``(ignore, match, warnings)`` of a ConfigMap's or Secret's annotations."""
    warnings: list[AnnotationWarning] = []
    ignore = _flag(source.annotations, IGNORE, source.ref, warnings)
    match = _flag(source.annotations, MATCH, source.ref, warnings)
    return ignore, match, _unique(warnings)


def reasons(optin: OptIn, source: Source) -> tuple[str, ...]:
    """Return why ``source`` counts for the workload of ``optin`` (sorted; empty: it does not).

    Bad values on ``source`` are taken as false here; :func:`source_flags`
    reports them.
    """
    if source.kind not in SOURCE_KINDS or source.namespace != optin.workload.namespace:
        return ()
    ignore, match, _ = source_flags(source)
    if ignore:
        return ()
    kind = optin.kinds[source.kind]
    referenced = (source.kind, source.name) in optin.references
    found: list[str] = []
    if kind.auto and referenced:
        found.append(REASON_AUTO)
    if kind.lists(source.name):
        found.append(REASON_RELOAD)
    if kind.search and match and referenced:
        found.append(REASON_SEARCH)
    if (
        optin.labels is not None
        and source.kind == CONFIGMAP
        and (source.labels.get("app"), source.labels.get("env")) == optin.labels
    ):
        found.append(REASON_LABELS)
    return tuple(sorted(found))


def dependencies(workload: Workload, sources: Iterable[Source]) -> Dependencies:
    """Return which of ``sources`` the workload restarts for, its debounce and what was wrong.

    Only sources in the workload's namespace can count (references are
    namespace-local); the warnings cover the workload's annotations and those
    of the sources in its namespace.
    """
    optin = parse_optin(workload)
    found: list[Dependency] = []
    warnings = list(optin.warnings)
    for source in sources:
        if source.namespace != workload.namespace:
            continue
        warnings.extend(source_flags(source)[2])
        why = reasons(optin, source)
        if why:
            found.append(Dependency(source.ref, why))
    return Dependencies(
        workload=optin.workload,
        sources=tuple(sorted(found, key=lambda d: d.source)),
        debounce_seconds=optin.debounce_seconds,
        warnings=_unique(warnings),
    )


def parse_duration(text: str) -> float | None:
    """Return a Go-style duration (``500ms``, ``30s``, ``2m``, ``1h``, ``1m30s``) in seconds.

    A unit is required on every number; ``None`` when ``text`` is not such a duration.
    """
    text = text.strip()
    if not text or not _DURATION.match(text):
        return None
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


# ---------------------------------------------------------------- helpers


def _annotations_for(workload: Workload, kind: str) -> Mapping[str, str]:
    """Reloader's lookup: the workload's own annotations, else its pod template's."""
    keys = (*AUTO, *TYPED_AUTO[kind], *RELOAD[kind], *SEARCH)
    if any(key in workload.annotations for key in keys):
        return workload.annotations
    return workload.template_annotations


def _pick(annotations: Mapping[str, str], names: tuple[str, str]) -> tuple[str, str] | None:
    """Return ``(name, value)`` of the first of ``names`` present: Shipshape's wins."""
    for name in names:
        if name in annotations:
            return name, annotations[name]
    return None


def _flag(
    annotations: Mapping[str, str],
    names: tuple[str, str],
    subject: ObjectRef,
    warnings: list[AnnotationWarning],
) -> bool:
    picked = _pick(annotations, names)
    if picked is None:
        return False
    name, value = picked
    if name in _EXACT_TRUE and value in _TRUE and value != "true":
        problem = 'is false to Reloader, which reads only "true": taken as false'
        warnings.append(AnnotationWarning(subject, name, value, problem))
        return False
    if value in _TRUE:
        return True
    if value not in _FALSE:
        warnings.append(
            AnnotationWarning(subject, name, value[:_SHOWN], "is not true or false: taken as false")
        )
    return False


def _patterns(
    annotations: Mapping[str, str],
    names: tuple[str, str],
    subject: ObjectRef,
    warnings: list[AnnotationWarning],
) -> tuple[re.Pattern[str], ...]:
    picked = _pick(annotations, names)
    if picked is None:
        return ()
    name, value = picked
    patterns, problems = reload_patterns(value)
    warnings.extend(
        AnnotationWarning(subject, name, shown[:_SHOWN], problem) for shown, problem in problems
    )
    return patterns


def _debounce(
    workload: Workload, subject: ObjectRef, warnings: list[AnnotationWarning]
) -> float | None:
    for where in (workload.annotations, workload.template_annotations):
        if SHIPSHAPE_DEBOUNCE not in where:
            continue
        value = where[SHIPSHAPE_DEBOUNCE]
        seconds = parse_duration(value)
        if seconds is None or seconds > MAX_DEBOUNCE_SECONDS:
            warnings.append(
                AnnotationWarning(
                    subject,
                    SHIPSHAPE_DEBOUNCE,
                    value[:_SHOWN],
                    "is not a duration from 0s to 1h (such as 500ms, 30s, 2m):"
                    " DEBOUNCE_SECONDS applies",
                )
            )
            return None
        return seconds
    return None


def _unsupported(workload: Workload, subject: ObjectRef) -> Iterable[AnnotationWarning]:
    for where in (workload.annotations, workload.template_annotations):
        for name, problem in UNSUPPORTED.items():
            if name in where and (problem != _ON_TEMPLATE or where is not workload.annotations):
                yield AnnotationWarning(subject, name, where[name][:_SHOWN], problem)


def _unique(warnings: Iterable[AnnotationWarning]) -> tuple[AnnotationWarning, ...]:
    return tuple(dict.fromkeys(warnings))
