"""Custom resources checked against their CustomResourceDefinition's `openAPIV3Schema`.

As the real server does for a structural schema: fields the schema does not
declare are unknown (a strict-decoding error, a warning, or silently pruned),
except under `x-kubernetes-preserve-unknown-fields: true`; the rest is validated
with `jsonschema` (Draft 4, which OpenAPI 3.0 schemas follow, with `nullable`
and `x-kubernetes-int-or-string` translated), and every problem becomes a cause
worded as the apiextensions validator words it.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import jsonschema

from .meta import Cause, go_value

_ROOT_FIELDS = ("apiVersion", "kind", "metadata")
_cache: dict[tuple[str, str, str], tuple[dict[str, Any], Any]] = {}
_cache_lock = threading.Lock()


def _version_schema(crd: dict[str, Any], version: str) -> dict[str, Any] | None:
    versions = (crd.get("spec") or {}).get("versions") or []
    chosen = next((v for v in versions if v.get("name") == version), None)
    if chosen is None:
        chosen = next((v for v in versions if v.get("storage")), None)
    if chosen is None:
        return None
    return ((chosen.get("schema") or {}).get("openAPIV3Schema")) or None


def _to_jsonschema(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_to_jsonschema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key.startswith("x-kubernetes-") or key in ("nullable", "format", "default"):
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: _to_jsonschema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[key] = _to_jsonschema(value)
        else:
            out[key] = value
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    elif schema.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def compiled(crd: dict[str, Any], version: str) -> tuple[dict[str, Any], Any] | None:
    """Return `(schema, validator)` for one version of a CRD, cached per CRD revision."""
    meta = crd.get("metadata") or {}
    key = (meta.get("uid", ""), meta.get("resourceVersion", ""), version)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    schema = _version_schema(crd, version)
    if schema is None:
        return None
    body = dict(schema)
    props = dict(body.get("properties") or {})
    props.pop("metadata", None)  # ObjectMeta is validated by the server's own rules.
    if props or "properties" in body:
        body["properties"] = props
    validator = jsonschema.Draft4Validator(_to_jsonschema(body))
    entry = (schema, validator)
    with _cache_lock:
        if len(_cache) > 512:
            _cache.clear()
        _cache[key] = entry
    return entry


def prune(value: Any, schema: dict[str, Any], path: str, unknown: list[str], root: bool) -> None:
    """Drop (and name) the fields a structural schema does not declare."""
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields")
        embedded = schema.get("x-kubernetes-embedded-resource")
        if props is None and isinstance(extra, dict):
            for key, item in value.items():
                prune(item, extra, f"{path}[{key}]", unknown, False)
            return
        drop = []
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            if props is not None and key in props:
                prune(item, props[key], sub, unknown, False)
            elif (root or embedded) and key in _ROOT_FIELDS:
                continue
            elif not preserve:
                drop.append(key)
                unknown.append(sub)
        for key in drop:
            del value[key]
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                prune(item, items, f"{path}[{index}]", unknown, False)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array"


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_BODY_RULES = {
    "pattern": lambda v: f"should match '{v}'",
    "minimum": lambda v: f"should be greater than or equal to {v}",
    "maximum": lambda v: f"should be less than or equal to {v}",
    "minLength": lambda v: f"should be at least {v} chars long",
    "maxLength": lambda v: f"may not be longer than {v}",
    "minItems": lambda v: f"should have at least {v} items",
    "maxItems": lambda v: f"must have at most {v} items",
}


def causes(obj: dict[str, Any], validator: Any) -> list[Cause]:
    """Return the schema problems of a custom object, as apiextensions reports them."""
    found: list[Cause] = []
    for error in sorted(validator.iter_errors(obj), key=lambda e: _path(e.absolute_path)):
        path = _path(error.absolute_path)
        value = error.instance
        rule = error.validator
        if rule == "required":
            for name in error.validator_value:
                if isinstance(value, dict) and name not in value:
                    field = f"{path}.{name}" if path else name
                    found.append(("FieldValueRequired", field, "Required value"))
        elif rule == "type":
            want = error.validator_value
            want = want if isinstance(want, str) else next(t for t in want if t != "null")
            got = _json_type(value)
            found.append(
                (
                    "FieldValueTypeInvalid",
                    path,
                    f'Invalid value: "{got}": {path} in body must be of type {want}: "{got}"',
                )
            )
        elif rule == "enum":
            supported = ", ".join(json.dumps(v) for v in error.validator_value)
            found.append(
                (
                    "FieldValueNotSupported",
                    path,
                    f"Unsupported value: {go_value(value)}: supported values: {supported}",
                )
            )
        else:
            rule_text = _BODY_RULES.get(rule)
            text = rule_text(error.validator_value) if rule_text else error.message
            found.append(
                (
                    "FieldValueInvalid",
                    path,
                    f"Invalid value: {go_value(value)}: {path} in body {text}",
                )
            )
    return found
