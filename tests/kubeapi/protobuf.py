"""Decoding of the Kubernetes protobuf wire format, for the kinds `kubectl` sends that way.

`kubectl`'s typed clients (`kubectl create namespace|configmap|secret|
serviceaccount|role|rolebinding|deployment`, `kubectl auth can-i`) send request bodies as
protobuf (`application/vnd.kubernetes.protobuf`) and do not fall back to JSON.
This module decodes those kinds into the JSON form the store keeps, from their
field numbers in k8s.io/api's `generated.proto`. Bodies of other kinds get a
415 that names them. Responses are always JSON, which every client accepts.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

MAGIC = b"k8s\x00"

# A schema maps a field number to (JSON name, type); a type is a scalar name,
# a nested schema, or ("list", type) / ("map", value type). `int0` and `bool0`
# are Go fields without a pointer: gogo-protobuf writes their zero value, which
# JSON (omitempty) leaves out; `int` and `bool` are pointers, kept when zero.
Schema = dict[int, tuple[str, Any]]

_TIME: Schema = {1: ("seconds", "int"), 2: ("nanos", "int")}
_OWNER_REFERENCE: Schema = {
    5: ("apiVersion", "string"),
    1: ("kind", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),
    6: ("controller", "bool"),
    7: ("blockOwnerDeletion", "bool"),
}
OBJECT_META: Schema = {
    1: ("name", "string"),
    2: ("generateName", "string"),
    3: ("namespace", "string"),
    5: ("uid", "string"),
    6: ("resourceVersion", "string"),
    7: ("generation", "int0"),
    8: ("creationTimestamp", "time"),
    9: ("deletionTimestamp", "time"),
    10: ("deletionGracePeriodSeconds", "int"),
    11: ("labels", ("map", "string")),
    12: ("annotations", ("map", "string")),
    13: ("ownerReferences", ("list", _OWNER_REFERENCE)),
    14: ("finalizers", ("list", "string")),
}
_LOCAL_REF: Schema = {1: ("name", "string")}
_OBJECT_REF: Schema = {
    1: ("kind", "string"),
    2: ("namespace", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),
    5: ("apiVersion", "string"),
    6: ("resourceVersion", "string"),
    7: ("fieldPath", "string"),
}
_POLICY_RULE: Schema = {
    1: ("verbs", ("list", "string")),
    2: ("apiGroups", ("list", "string")),
    3: ("resources", ("list", "string")),
    4: ("resourceNames", ("list", "string")),
    5: ("nonResourceURLs", ("list", "string")),
}
_SUBJECT: Schema = {
    1: ("kind", "string"),
    2: ("apiGroup", "string"),
    3: ("name", "string"),
    4: ("namespace", "string"),
}
_ROLE_REF: Schema = {1: ("apiGroup", "string"), 2: ("kind", "string"), 3: ("name", "string")}
_RESOURCE_ATTRIBUTES: Schema = {
    1: ("namespace", "string"),
    2: ("verb", "string"),
    3: ("group", "string"),
    4: ("version", "string"),
    5: ("resource", "string"),
    6: ("subresource", "string"),
    7: ("name", "string"),
}
_NON_RESOURCE_ATTRIBUTES: Schema = {1: ("path", "string"), 2: ("verb", "string")}

# What `kubectl create deployment NAME --image=I [--port=P] [--replicas=N] -- CMD`
# sends: the selector, and a pod template of plain containers.
_LABEL_SELECTOR: Schema = {
    1: ("matchLabels", ("map", "string")),
    2: (
        "matchExpressions",
        (
            "list",
            {1: ("key", "string"), 2: ("operator", "string"), 3: ("values", ("list", "string"))},
        ),
    ),
}
_CONTAINER: Schema = {
    1: ("name", "string"),
    2: ("image", "string"),
    3: ("command", ("list", "string")),
    4: ("args", ("list", "string")),
    5: ("workingDir", "string"),
    6: (
        "ports",
        (
            "list",
            {
                1: ("name", "string"),
                2: ("hostPort", "int0"),
                3: ("containerPort", "int0"),
                4: ("protocol", "string"),
                5: ("hostIP", "string"),
            },
        ),
    ),
    7: ("env", ("list", {1: ("name", "string"), 2: ("value", "string")})),
    14: ("imagePullPolicy", "string"),
}
_POD_SPEC: Schema = {
    2: ("containers", ("list", _CONTAINER)),
    3: ("restartPolicy", "string"),
    8: ("serviceAccountName", "string"),
    20: ("initContainers", ("list", _CONTAINER)),
}

KIND_SCHEMAS: dict[str, Schema] = {
    "Deployment": {
        1: ("metadata", OBJECT_META),
        2: (
            "spec",
            {
                1: ("replicas", "int"),
                2: ("selector", _LABEL_SELECTOR),
                3: ("template", {1: ("metadata", OBJECT_META), 2: ("spec", _POD_SPEC)}),
                4: ("strategy", {1: ("type", "string")}),
                5: ("minReadySeconds", "int0"),
                6: ("revisionHistoryLimit", "int"),
                7: ("paused", "bool0"),
                9: ("progressDeadlineSeconds", "int"),
            },
        ),
    },
    "Namespace": {
        1: ("metadata", OBJECT_META),
        2: ("spec", {1: ("finalizers", ("list", "string"))}),
        3: ("status", {1: ("phase", "string")}),
    },
    "ConfigMap": {
        1: ("metadata", OBJECT_META),
        2: ("data", ("map", "string")),
        3: ("binaryData", ("map", "bytes")),
        4: ("immutable", "bool"),
    },
    "Secret": {
        1: ("metadata", OBJECT_META),
        2: ("data", ("map", "bytes")),
        3: ("type", "string"),
        4: ("stringData", ("map", "string")),
        5: ("immutable", "bool"),
    },
    "ServiceAccount": {
        1: ("metadata", OBJECT_META),
        2: ("secrets", ("list", _OBJECT_REF)),
        3: ("imagePullSecrets", ("list", _LOCAL_REF)),
        4: ("automountServiceAccountToken", "bool"),
    },
    "Role": {1: ("metadata", OBJECT_META), 2: ("rules", ("list", _POLICY_RULE))},
    "ClusterRole": {1: ("metadata", OBJECT_META), 2: ("rules", ("list", _POLICY_RULE))},
    "RoleBinding": {
        1: ("metadata", OBJECT_META),
        2: ("subjects", ("list", _SUBJECT)),
        3: ("roleRef", _ROLE_REF),
    },
    "ClusterRoleBinding": {
        1: ("metadata", OBJECT_META),
        2: ("subjects", ("list", _SUBJECT)),
        3: ("roleRef", _ROLE_REF),
    },
    "SelfSubjectAccessReview": {
        1: ("metadata", OBJECT_META),
        2: (
            "spec",
            {
                1: ("resourceAttributes", _RESOURCE_ATTRIBUTES),
                2: ("nonResourceAttributes", _NON_RESOURCE_ATTRIBUTES),
            },
        ),
    },
    # RBAC reviews and tokens (access.py): what `kubectl auth can-i --list`,
    # `kubectl auth whoami` and `kubectl create token` send.
    "SelfSubjectRulesReview": {
        1: ("metadata", OBJECT_META),
        2: ("spec", {1: ("namespace", "string")}),
    },
    "SelfSubjectReview": {1: ("metadata", OBJECT_META)},
    "TokenRequest": {
        1: ("metadata", OBJECT_META),
        2: (
            "spec",
            {
                1: ("audiences", ("list", "string")),
                3: (
                    "boundObjectRef",
                    {
                        1: ("kind", "string"),
                        2: ("apiVersion", "string"),
                        3: ("name", "string"),
                        4: ("uid", "string"),
                    },
                ),
                4: ("expirationSeconds", "int"),
            },
        ),
    },
    "DeleteOptions": {
        1: ("gracePeriodSeconds", "int"),
        2: ("preconditions", {1: ("uid", "string"), 2: ("resourceVersion", "string")}),
        3: ("orphanDependents", "bool"),
        4: ("propagationPolicy", "string"),
        5: ("dryRun", ("list", "string")),
    },
}


class ProtobufError(ValueError):
    """A protobuf body this server cannot read (malformed, or a kind it has no schema for)."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    fields = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value = data[pos : pos + length]
            if len(value) != length:
                raise ProtobufError("truncated field")
            pos += length
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        fields.append((number, wire, value))
    return fields


def _scalar(kind: str, value: Any) -> Any:  # noqa: PLR0911 - one return per type
    if kind == "string":
        return value.decode()
    if kind == "bytes":
        return base64.b64encode(value).decode()
    if kind == "bool":
        return bool(value)
    if kind in ("int", "int0"):
        number = value - (1 << 64) if value >= 1 << 63 else value
        return None if kind == "int0" and not number else number  # int0: a plain Go int
    if kind == "bool0":
        return True if value else None  # a plain Go bool: false is omitted
    if kind == "time":
        seconds = decode_message(value, _TIME).get("seconds", 0)
        if not seconds:
            return None  # the zero time: unset, as JSON would omit it
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    raise ProtobufError(f"unknown scalar type {kind}")


def _value(kind: Any, value: Any) -> Any:
    if isinstance(kind, dict):
        return decode_message(value, kind)
    return _scalar(kind, value)


def decode_message(data: bytes, schema: Schema) -> dict[str, Any]:
    """Decode one message by its schema; fields the schema lacks are skipped."""
    result: dict[str, Any] = {}
    for number, _wire, value in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if isinstance(kind, tuple) and kind[0] == "list":
            result.setdefault(name, []).append(_value(kind[1], value))
        elif isinstance(kind, tuple) and kind[0] == "map":
            entry = {n: v for n, _w, v in _fields(value)}
            key = entry.get(1, b"").decode()
            result.setdefault(name, {})[key] = _scalar(kind[1], entry.get(2, b""))
        else:
            result[name] = _value(kind, value)
    # gogo-protobuf writes empty strings and messages that JSON would omit.
    return {k: v for k, v in result.items() if v not in ("", [], {}, None)}


def decode(body: bytes) -> dict[str, Any]:
    """Decode a `k8s\\0`-framed protobuf object into its JSON form.

    Raises:
        ProtobufError: The body is not framed, is malformed, or is of a kind
            this module has no schema for.
    """
    if not body.startswith(MAGIC):
        raise ProtobufError("protobuf body lacks the k8s\\0 prefix")
    envelope = {n: v for n, _w, v in _fields(body[len(MAGIC) :])}
    type_meta = decode_message(
        envelope.get(1, b""), {1: ("apiVersion", "string"), 2: ("kind", "string")}
    )
    kind = type_meta.get("kind", "")
    schema = KIND_SCHEMAS.get(kind)
    if schema is None:
        raise ProtobufError(
            f"this test server reads protobuf bodies only for {', '.join(sorted(KIND_SCHEMAS))}, "
            f"not {kind or 'an untyped body'}; send JSON"
        )
    obj = decode_message(envelope.get(2, b""), schema)
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}
