"""The apply request: `PATCH` with `application/apply-patch+yaml`."""

from __future__ import annotations

from typing import Any

from ..errors import bad_request, invalid
from . import managers


def apply_request(
    store: Any,
    rtype: Any,
    namespace: str,
    name: str,
    config: dict[str, Any],
    *,
    actor: str,
    context: managers.WriteContext | None,
    query: dict[str, str],
    dry_run: bool,
) -> tuple[int, dict[str, Any]]:
    """Apply a configuration; create the object when it is missing.

    Returns:
        `(code, object)`: 201 when the apply created the object, 200 otherwise.

    Raises:
        ApiError: 422 without `fieldManager`, 400 for a body without `apiVersion`
            and `kind`, naming another object or setting `metadata.managedFields`,
            500 for keyed lists repeating an item, 409 for conflicts.
    """
    from ..store import rfc3339

    if context is None or not query.get("fieldManager"):
        raise invalid(
            "PatchOptions",
            "meta.k8s.io",
            "",
            [("FieldValueRequired", "fieldManager", "Required value: is required for apply patch")],
        )
    if not config.get("apiVersion") or not config.get("kind"):
        raise bad_request(
            "invalid object type: "
            f"{config.get('apiVersion') or '/'}, Kind={config.get('kind') or ''}"
        )
    if config.get("kind") != rtype.kind:
        raise bad_request(
            f"the kind of the provided object ({config.get('kind')}) does not match the "
            f"resource ({rtype.kind})"
        )
    meta = config.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    if meta.get("name") not in (None, name):
        raise bad_request(
            f"the name of the object ({meta.get('name')}) does not match the name on the URL "
            f"({name})"
        )
    meta["name"] = name
    with store.lock:
        live = store.find(rtype, namespace, name)
        if live is None and context.subresource:
            store.get(rtype, namespace, name)  # raises 404 NotFound, as for any subresource
        now = rfc3339(store.clock())
        merged, managed = managers.apply(rtype, live, config, context, now, store=store)
        context.applied = managed
        try:
            with managers.writing(context):
                if live is None:
                    merged.get("metadata", {}).pop("resourceVersion", None)
                    return 201, store.create(rtype, namespace, merged, actor, dry_run)
                wanted_rv = meta.get("resourceVersion")
                merged["metadata"]["resourceVersion"] = (
                    wanted_rv or live["metadata"]["resourceVersion"]
                )
                return 200, store.update(
                    rtype,
                    namespace,
                    name,
                    merged,
                    actor,
                    subresource=context.subresource or None,
                    dry_run=dry_run,
                )
        finally:
            context.applied = None
