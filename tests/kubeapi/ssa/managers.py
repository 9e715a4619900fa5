"""`metadata.managedFields`: who owns which field, kept on every write; server-side apply.

Every write records the writer's fields under its manager, as the API server's
field manager does:
- an update (create, PUT, merge/strategic/JSON patch) is operation `Update`: its
  manager takes the fields it added or changed, from whoever owned them, and
  every manager loses the fields that were removed;
- an apply (`application/apply-patch+yaml`) is operation `Apply`: the
  configuration is merged into the live object, the applier owns exactly the
  fields it applied, fields it applied before and stops applying are removed
  unless another manager owns them, and setting a field another manager owns
  to a different value is a conflict (409) unless forced, which moves the
  field to the applier. Setting it to the same value shares it. The manager
  `kubectl` upgrading a client-side applied object is let through conflicts
  on the fields its last-applied annotation still describes (`lastapplied`).

The manager of a request is its `fieldManager` query parameter, or else the
User-Agent's product (the part before the first `/`), as the real server
derives it. Writes made inside the server (rollouts) use the actor's name.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import ApiError, bad_request
from . import custom, fields, lastapplied, schema
from .fields import Path

APPLY = "Apply"
UPDATE = "Update"
APPLY_PATCH = "application/apply-patch+yaml"

# Fields no manager owns: identity and bookkeeping the server sets.
_IGNORED: tuple[Path, ...] = (
    ("f:apiVersion",),
    ("f:kind",),
    *(
        ("f:metadata", f"f:{name}")
        for name in (
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "selfLink",
        )
    ),
)


@dataclass
class WriteContext:
    """Who is writing, as one request says it.

    Attributes:
        manager: The field manager (`fieldManager`, or from the User-Agent).
        api_version: The `apiVersion` the request used (`apps/v1`).
        subresource: `status`, `scale`, or "".
        force: `force=true` on an apply.
    """

    manager: str
    api_version: str = ""
    subresource: str = ""
    force: bool = False
    applied: list[dict[str, Any]] | None = None


_CONTEXT: contextvars.ContextVar[WriteContext | None] = contextvars.ContextVar(
    "kubeapi_write_context", default=None
)


def manager_from(field_manager: str | None, user_agent: str | None) -> str:
    """Return the manager of a request: `fieldManager`, else the User-Agent's product."""
    if field_manager:
        return field_manager
    return (user_agent or "").split("/")[0][:128]


def current() -> WriteContext | None:
    """Return the write context of the request being served, if any."""
    return _CONTEXT.get()


@contextlib.contextmanager
def writing(context: WriteContext) -> Iterator[WriteContext]:
    """Attribute the store writes made inside the block to a request's manager."""
    token = _CONTEXT.set(context)
    try:
        yield context
    finally:
        _CONTEXT.reset(token)


@dataclass
class Entry:
    """One `managedFields` entry."""

    manager: str
    operation: str
    api_version: str
    subresource: str = ""
    time: str | None = None
    paths: set[Path] = field(default_factory=set)

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Entries are told apart by manager, operation, version (updates) and subresource."""
        version = self.api_version if self.operation == UPDATE else ""
        return (self.manager, self.operation, version, self.subresource)

    def label(self) -> str:
        """Return the manager as conflict messages print it."""
        if self.operation == UPDATE:
            return f'"{self.manager}" using {self.api_version}'
        return f'"{self.manager}"'

    def to_json(self) -> dict[str, Any]:
        """Return the entry as stored in `metadata.managedFields`."""
        out: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields.encode(self.paths),
        }
        if self.subresource:
            out["subresource"] = self.subresource
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        """Read a stored entry."""
        return cls(
            manager=data.get("manager", ""),
            operation=data.get("operation", UPDATE),
            api_version=data.get("apiVersion", ""),
            subresource=data.get("subresource", ""),
            time=data.get("time"),
            paths=fields.decode(data.get("fieldsV1") or {}),
        )


def entries_of(obj: dict[str, Any] | None) -> dict[tuple[str, str, str, str], Entry]:
    """Return an object's managedFields entries by key."""
    out: dict[tuple[str, str, str, str], Entry] = {}
    for data in ((obj or {}).get("metadata") or {}).get("managedFields") or []:
        if isinstance(data, dict):
            entry = Entry.from_json(data)
            out[entry.key] = entry
    return out


def _encode_entries(entries: dict[tuple[str, str, str, str], Entry]) -> list[dict[str, Any]]:
    ordered = sorted(
        (e for e in entries.values() if e.paths),
        key=lambda e: (e.time or "", e.operation != APPLY, e.manager),
    )
    return [e.to_json() for e in ordered]


def _ignored(path: Path, status_reset: bool) -> bool:
    if status_reset and path[:1] == ("f:status",):
        return True
    return any(path[: len(prefix)] == prefix for prefix in _IGNORED)


def _filter(paths: set[Path], status_reset: bool) -> set[Path]:
    return {p for p in paths if not _ignored(p, status_reset)}


def _shape(rtype: Any, api_version: str, store: Any) -> schema.Shape:
    """Return the shape of `rtype`'s objects in a version (a custom kind's from its CRD)."""
    version = api_version.rsplit("/", maxsplit=1)[-1] or rtype.preferred_version
    openapi = None
    if rtype.custom and store is not None:
        openapi = custom.openapi_schema(store, rtype, version)
    return schema.root(rtype.group, version, rtype.kind, custom=rtype.custom, openapi=openapi)


def _strip(obj: dict[str, Any] | None) -> Any:
    if obj is None:
        return fields.MISSING
    out = copy.deepcopy(obj)
    out.get("metadata", {}).pop("managedFields", None)
    return out


def track(  # noqa: PLR0917 - the store's call site
    rtype: Any,
    old: dict[str, Any] | None,
    new: dict[str, Any],
    actor: str,
    now: str,
    subresource: str | None = None,
    *,
    store: Any = None,
) -> None:
    """Set `new`'s managedFields for a write of `old` into `new` (called by the store).

    An apply has already computed them (the request's context carries them);
    any other write is an `Update` by the request's manager, or by `actor`.
    `store` holds the CRDs whose schemas shape custom objects (None: schemaless).
    """
    context = _CONTEXT.get()
    meta = new.setdefault("metadata", {})
    if context is not None and context.applied is not None:
        meta["managedFields"] = context.applied
        if not context.applied:
            meta.pop("managedFields", None)
        return
    manager = context.manager if context is not None and context.manager else actor
    api_version = (context.api_version if context else "") or new.get("apiVersion", "")
    sub = (context.subresource if context else "") or (subresource or "")
    sent = meta.get("managedFields")
    old_fields = ((old or {}).get("metadata") or {}).get("managedFields")
    if sent is None or sent == old_fields:
        base = entries_of(old)
    elif sent == []:
        base = {}
    else:
        base = entries_of(new)
    shape = _shape(rtype, api_version, store)
    before, after = _strip(old), _strip(new)
    added, modified, removed = fields.compare(before, after, shape)
    status_reset = rtype.has_status and sub != "status"
    changed = _filter(added | modified, status_reset and old is not None)
    removed = _filter(removed, False)
    for entry in base.values():
        entry.paths -= changed | removed
    me = Entry(manager, UPDATE, api_version, sub, now)
    key = me.key
    if key in base:
        me.paths = base[key].paths
        if not changed and not removed:
            me.time = base[key].time
    me.paths = (me.paths - removed) | changed
    base[key] = me
    encoded = _encode_entries(base)
    if encoded:
        meta["managedFields"] = encoded
    else:
        meta.pop("managedFields", None)


def conflict_error(conflicts: list[tuple[Entry, Path]]) -> ApiError:
    """Return the 409 an apply gets for fields other managers own, with the real message."""
    conflicts = sorted(conflicts, key=lambda c: (c[0].manager, c[1]))
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f"conflict with {entry.label()}",
            "field": fields.path_string(path),
        }
        for entry, path in conflicts
    ]
    if len(conflicts) == 1:
        entry, path = conflicts[0]
        message = (
            f"Apply failed with 1 conflict: conflict with {entry.label()}: "
            f"{fields.path_string(path)}"
        )
    else:
        lines = []
        last = None
        for entry, path in conflicts:
            if entry.label() != last:
                lines.append(f"conflicts with {entry.label()}:")
                last = entry.label()
            lines.append(f"- {fields.path_string(path)}")
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return ApiError(409, message, reason="Conflict", details={"causes": causes})


class _ErrorWithoutStatus(ApiError):
    """A failure the real server answers as a plain Go error: code 500 and no `reason`."""

    def status(self) -> dict[str, Any]:
        """Return the `Status` object, without `reason` (Go's `StatusReasonUnknown`)."""
        body = super().status()
        body.pop("reason", None)
        return body


def typed_patch_error(config: dict[str, Any], errors: list[str]) -> ApiError:
    """Return the 500 an applied configuration the typed conversion refuses gets.

    Worded as the field manager's `failed to create typed patch object
    (NAMESPACE/NAME; GROUP/VERSION, Kind=KIND): ...` with structured-merge-diff's
    errors (one alone, several under `errors:`).
    """
    meta = config.get("metadata") or {}
    api_version = str(config.get("apiVersion", ""))
    group_version = api_version if "/" in api_version else f"/{api_version}"
    detail = errors[0] if len(errors) == 1 else "\n  ".join(["errors:", *errors])
    return _ErrorWithoutStatus(
        500,
        f"failed to create typed patch object ({meta.get('namespace', '')}/{meta.get('name', '')};"
        f" {group_version}, Kind={config.get('kind', '')}): {detail}",
    )


def apply(
    rtype: Any,
    live: dict[str, Any] | None,
    config: dict[str, Any],
    context: WriteContext,
    now: str,
    *,
    store: Any = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Merge an applied configuration into the live object (None: it is created).

    Args:
        store: Holds the CRDs whose schemas shape custom objects.

    Returns:
        `(object, managedFields)`: the object to store and its new managedFields.

    Raises:
        ApiError: 400 for a configuration that sets `metadata.managedFields`
            (any list, even empty; null is nil), 500 for one whose keyed lists
            repeat an item (the typed conversion's error), 409 Conflict naming
            the fields other managers own.
    """
    if isinstance((config.get("metadata") or {}).get("managedFields"), list):
        raise bad_request("metadata.managedFields must be nil")
    shape = _shape(rtype, context.api_version, store)
    duplicates = fields.duplicate_entries(config, shape)
    if duplicates:
        raise typed_patch_error(config, duplicates)
    status_reset = rtype.has_status and context.subresource != "status"
    sent = config
    config = copy.deepcopy(config)
    config_meta = config.setdefault("metadata", {})
    config_meta.pop("managedFields", None)
    config_meta.pop("resourceVersion", None)
    if status_reset:
        config.pop("status", None)
    applied = _filter(fields.to_set(config, shape), status_reset)
    base = entries_of(live)
    me_key = (context.manager, APPLY, "", context.subresource)
    last = base.get(me_key)
    live_plain = _strip(live)
    merged = fields.merge(live_plain, config, shape)
    others = [e for k, e in base.items() if k != me_key]
    if last is not None:
        kept = fields.prefixes(applied.union(*(e.paths for e in others)))
        gone = sorted(last.paths - applied, key=len)
        removed: list[Path] = []
        for path in gone:
            if path in kept or any(path[: len(r)] == r for r in removed):
                continue
            if fields.remove(merged, path, shape):
                removed.append(path)
    added, modified, removed_paths = fields.compare(live_plain, merged, shape)
    changed = _filter(added | modified, status_reset and live is not None)
    conflicts = [(entry, path) for entry in others for path in sorted(entry.paths & changed)]
    if conflicts and not context.force and context.manager == lastapplied.UPGRADING_MANAGER:
        # Fields client-side apply last set, and nobody changed since, are no
        # conflict: the apply goes on as forced when they are all there are.
        allowed = lastapplied.unchanged_fields(live_plain, shape, context.api_version)
        conflicts = [(entry, path) for entry, path in conflicts if path not in allowed]
        if conflicts:
            raise conflict_error(conflicts)
    elif conflicts and not context.force:
        raise conflict_error(conflicts)
    for entry in others:
        entry.paths -= changed | removed_paths
    me = Entry(context.manager, APPLY, context.api_version, context.subresource, now, applied)
    if last is not None and last.paths == applied and not changed and not removed_paths:
        me.time = last.time
        me.api_version = (
            last.api_version if last.api_version == context.api_version else me.api_version
        )
    base[me_key] = me
    if context.manager == lastapplied.UPGRADING_MANAGER:
        lastapplied.rewritten(merged, sent)
    return merged, _encode_entries(base)


def request_context(
    query: dict[str, str], headers: Any, api_version: str, subresource: str
) -> WriteContext:
    """Return the write context of one API request (its manager, version, force)."""
    return WriteContext(
        manager=manager_from(query.get("fieldManager"), headers.get("User-Agent")),
        api_version=api_version,
        subresource=subresource,
        force=query.get("force") in ("true", "1"),
    )
