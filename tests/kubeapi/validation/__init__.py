"""Validation as the real API server does it, for the Kubernetes API test server.

One hook, `check`, runs on every create, update and patch (on the object as it
will be stored, so a patch is judged by its result), before defaults:

1. decoding: built-in kinds against the Kubernetes OpenAPI schema of the
   version `/version` reports (`schema`), custom kinds against their CRD's
   `openAPIV3Schema` (`crd`). A value of the wrong type is a 400 (a 422 on a
   patch), as the real decoder fails;
2. field validation (`fieldValidation=Strict|Warn|Ignore`, default `Warn`):
   unknown and duplicate fields are a 400 `strict decoding error`, `Warning`
   headers, or nothing; unknown fields are dropped in every mode;
3. validation: the metadata (`meta`), required fields, the per-kind rules
   (`semantic`) and, on update, the fields that may not change (`updates`): a
   422 `Invalid` whose causes name the fields.

The HTTP layer wraps each request in `context.request` (and parses JSON with
`context.loads`, which notes duplicate keys); `context.warning_headers` gives
what to send back.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .. import escalation, rbac
from ..errors import ApiError, bad_request, invalid
from ..ssa.custom import list_invariant_update_causes
from . import context, crd, meta, schema, semantic, updates
from .context import current, loads, request, warning_headers

if TYPE_CHECKING:
    from ..resources import ResourceType
    from ..store import Store

__all__ = ["SCHEMA_VERSION", "check", "current", "loads", "request", "warning_headers"]

SCHEMA_VERSION = schema.SCHEMA_VERSION
_CRD_KEY = "customresourcedefinitions.apiextensions.k8s.io"
_JSON_PATCH = "application/json-patch+json"


def _version(rtype: ResourceType, req: context.Request | None) -> str:
    if req is not None and req.version in rtype.versions:
        return req.version
    return rtype.api_version().rsplit("/", 1)[-1]


def _decode_failure(
    rtype: ResourceType, version: str, verb: str, obj: dict[str, Any], why: str
) -> ApiError:
    if verb == "patch":
        text = json.dumps(obj, separators=(",", ":"))
        return invalid(
            "",
            "",
            "",
            [("FieldValueInvalid", "patch", f"Invalid value: {json.dumps(text)}: {why}")],
        )
    return bad_request(
        f'{rtype.kind} in version "{version}" cannot be handled as a {rtype.kind}: {why}'
    )


def _strict_problems(req: context.Request | None, unknown: list[str], verb: str) -> list[str]:
    if req is None:
        return []
    dups = req.body_duplicates
    if verb == "patch":
        if req.patch_type == _JSON_PATCH:
            dups = []
        return [f'duplicate field "{p}"' for p in dups] + [
            f'unknown field "{p}"' for p in sorted(dict.fromkeys(unknown))
        ]
    if not dups:
        return [f'unknown field "{p}"' for p in dict.fromkeys(unknown)]
    order = req.positions
    items = [(order.get(f"dup:{p}", 0), f'duplicate field "{p}"') for p in dups]
    items += [(order.get(p, len(order)), f'unknown field "{p}"') for p in dict.fromkeys(unknown)]
    return [text for _pos, text in sorted(items, key=lambda item: item[0])]


def check(
    store: Store, rtype: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None
) -> None:
    """Decode-check, field-validate and validate an object about to be stored (in place).

    Unknown fields are removed from `obj`.

    Raises:
        ApiError: 400 for a body that does not decode or (Strict) has unknown or
            duplicate fields, 422 Invalid naming every field that fails validation.
    """
    req = context.current()
    verb = req.verb if req is not None else ("create" if old is None else "update")
    version = _version(rtype, req)
    unknown: list[str] = []
    causes: list[meta.Cause] = []
    if rtype.custom:
        crd_type = store.registry.by_key(_CRD_KEY)
        definition = store.find(crd_type, "", rtype.key) if crd_type is not None else None
        entry = crd.compiled(definition, version) if definition is not None else None
        if entry is not None:
            raw, validator = entry
            crd.prune(obj, raw, "", unknown, True)
            causes = crd.causes(obj, validator) + list_invariant_update_causes(obj, old, raw)
    else:
        node = schema.shape(rtype.group, version, rtype.kind)
        if node is not None:
            findings = schema.Findings()
            try:
                schema.walk(obj, node, findings=findings)
            except schema.DecodeError as err:
                raise _decode_failure(rtype, version, verb, obj, str(err)) from None
            unknown = findings.unknown
            causes = [("FieldValueRequired", p, "Required value") for p in findings.required]
    problems = _strict_problems(req, unknown, verb)
    if problems and req is not None:
        if req.directive == "Strict":
            text = "strict decoding error: " + ", ".join(problems)
            if verb == "patch":
                raise bad_request(text)
            raise bad_request(
                f'{rtype.kind} in version "{version}" cannot be handled as a {rtype.kind}: {text}'
            )
        if req.directive == "Warn":
            req.warnings.extend(problems)
    escalation.confirm_no_escalation(rtype.kind, obj, old)  # a 403 comes before a 422
    causes[:0] = meta.meta_causes(rtype.kind, obj["metadata"], creating=old is None)
    if not rtype.custom:
        causes.extend(semantic.causes(rtype.kind, obj))
        causes.extend(rbac.binding_causes(rtype.kind, obj, old))
        if old is not None:
            causes.extend(updates.update_causes(rtype.kind, obj, old))
    if causes:
        raise invalid(rtype.kind, rtype.group, obj["metadata"].get("name", ""), _unique(causes))


def _unique(causes: list[meta.Cause]) -> list[meta.Cause]:
    """Drop repeated causes: the same one twice, or a second `Required value` for one field.

    The schema's required fields and the per-kind rules overlap; the first (the
    metadata rules' more specific `Required value: must not be empty`) is kept.
    """
    seen: set[meta.Cause] = set()
    required: set[str] = set()
    unique = []
    for cause in causes:
        reason, field, _message = cause
        if cause in seen or (reason == "FieldValueRequired" and field in required):
            continue
        seen.add(cause)
        if reason == "FieldValueRequired":
            required.add(field)
        unique.append(cause)
    return unique
