"""Built-in kinds checked against the Kubernetes OpenAPI schema, as the server decodes them.

The schemas are the JSON-schema rendering of the Kubernetes OpenAPI spec that
the `kubernetes-validate` package ships for each Kubernetes version (its
`-local-strict` variant: every object closes its properties). We take the one
of the version `/version` reports, so schema and server agree.

The real server decodes a body into Go structs: a value of the wrong JSON type
fails the decode (`json: cannot unmarshal string into Go struct field
DeploymentSpec.spec.replicas of type int32`), an unknown or repeated field is
a strict-decoding error (or warning, or nothing) and is dropped, and required
fields are checked afterwards by validation. `Shape.walk` does all three in one
pass over the object, against a tree compiled once per kind and cached.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ..discovery import KUBERNETES_VERSION
from . import times

SCHEMA_VERSION = f"{KUBERNETES_VERSION['major']}.{KUBERNETES_VERSION['minor']}.0"
_SCHEMA_DIR = f"v{SCHEMA_VERSION}-local-strict"

_INT_RANGE = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
QUANTITY_MESSAGE = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
_TIMES = {"Time": times.TIME, "MicroTime": times.MICRO_TIME}


@dataclass(eq=False)
class Node:
    """One compiled schema node.

    Attributes:
        type: `struct`, `map`, `array`, `string`, `bytes`, `integer`, `number`,
            `boolean`, `intorstring`, `quantity`, `time` or `any`.
        go: The Go type name, as decode errors name it (`int32`, `v1.Container`).
        struct: For a struct: its Go name (`DeploymentSpec`).
        props: For a struct: its fields.
        required: For a struct: the fields the schema requires.
        item: For an array: the item; for a map: the value.
        fmt: For an integer: `int32` or `int64`; for a time: Go's layout.
    """

    type: str
    go: str
    struct: str = ""
    props: dict[str, Node] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    item: Node | None = None
    fmt: str = ""


@functools.cache
def definitions() -> dict[str, Any]:
    """Every type's JSON schema by its OpenAPI name (``io.k8s.api.apps.v1.Deployment``)."""
    ref = resources.files("kubernetes_validate").joinpath(
        f"kubernetes-json-schema/{_SCHEMA_DIR}/_definitions.json"
    )
    return json.loads(ref.read_text())["$defs"]


@functools.cache
def gvk_index() -> dict[tuple[str, str, str], str]:
    """The OpenAPI name of each kind's schema, by (group, version, kind)."""
    index = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or ():
            index[(gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))] = name
    return index


class _Compiler:
    def __init__(self) -> None:
        self.defs = definitions()
        self.done: dict[str, Node] = {}

    def definition(self, name: str) -> Node:
        if name in self.done:
            return self.done[name]
        schema = self.defs[name]
        short = name.rsplit(".", 1)[-1]
        package = name.rsplit(".", 2)[-2]
        go = f"{package}.{short}"
        if "oneOf" in schema:
            kind = "intorstring" if short == "IntOrString" else "quantity"
            node = Node(kind, go)
            self.done[name] = node
            return node
        if name.startswith("io.k8s.apimachinery.pkg.apis.meta.v1.") and short in _TIMES:
            # Their UnmarshalJSON decodes a string first: a number is refused
            # as "of type string"; a string is parsed with the Go layout.
            node = Node("time", "string", fmt=_TIMES[short])
            self.done[name] = node
            return node
        if "properties" in schema:
            node = Node("struct", go, struct=short, required=tuple(schema.get("required") or ()))
            # Registered before its fields, so recursive types (JSONSchemaProps) work.
            self.done[name] = node
            node.props = {k: self.node(v) for k, v in schema["properties"].items()}
            return node
        node = self.node(schema, go)
        self.done[name] = node
        return node

    def node(self, schema: dict[str, Any], go: str = "") -> Node:  # noqa: PLR0911 - one per type
        ref = schema.get("$ref")
        if ref:
            return self.definition(ref.rsplit("/", 1)[-1])
        types = schema.get("type")
        if isinstance(types, list):
            types = next((t for t in types if t != "null"), None)
        if types == "object":
            if "properties" in schema:
                node = Node("struct", go, required=tuple(schema.get("required") or ()))
                node.props = {k: self.node(v) for k, v in schema["properties"].items()}
                return node
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict):
                value = self.node(extra)
                return Node("map", go or f"map[string]{value.go}", item=value)
            return Node("any", go or "map[string]interface {}")
        if types == "array":
            item = self.node(schema.get("items") or {})
            return Node("array", go or f"[]{item.go}", item=item)
        if types == "integer":
            fmt = schema.get("format") or "int64"
            return Node("integer", go or fmt, fmt=fmt)
        if types == "number":
            return Node("number", go or "float64")
        if types == "boolean":
            return Node("boolean", go or "bool")
        if types == "string" and schema.get("format") == "byte":
            return Node("bytes", go or "[]uint8")  # []byte: base64 in JSON
        if types == "string":
            return Node("string", go or "string")
        return Node("any", go or "interface {}")


@functools.cache
def shape(group: str, version: str, kind: str) -> Node | None:
    """Return the compiled schema of a built-in kind, or None when the spec has none."""
    name = gvk_index().get((group, version, kind))
    if name is None:
        return None
    return _Compiler().definition(name)


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "object"
    return "array"


class DecodeError(Exception):
    """The body does not decode into the kind's Go types (the message is Go's)."""


@dataclass
class Findings:
    """What a walk found besides a decode error."""

    unknown: list[str] = field(default_factory=list)
    required: list[str] = field(default_factory=list)


def _type_error(value: Any, node: Node, struct: str, gopath: str) -> DecodeError:
    what = _json_kind(value)
    if what == "number" and node.type == "integer":
        what = f"number {json.dumps(value)}"
    if not struct:
        return DecodeError(f"json: cannot unmarshal {what} into Go value of type {node.go}")
    return DecodeError(
        f"json: cannot unmarshal {what} into Go struct field {struct}.{gopath} of type {node.go}"
    )


def _scalar_ok(value: Any, node: Node) -> bool:  # noqa: PLR0911 - one per type
    kind = node.type
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        low, high = _INT_RANGE.get(node.fmt, _INT_RANGE["int64"])
        return low <= value <= high
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "intorstring":
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    return True


_BASE64 = {
    char: index
    for index, char in enumerate(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    )
}
_NEWLINES = b"\r\n"


def _base64(text: str) -> bytes:
    """Decode standard base64 as Go's `base64.StdEncoding` does (newlines skipped).

    Raises:
        DecodeError: `illegal base64 data at input byte N`, N where Go stops.
    """
    src = text.encode()
    out = bytearray()
    at = 0

    def corrupt(offset: int) -> DecodeError:
        return DecodeError(f"illegal base64 data at input byte {offset}")

    while at < len(src):
        quantum: list[int] = []
        while len(quantum) < 4:
            if at == len(src):
                if not quantum:
                    return bytes(out)
                raise corrupt(at - len(quantum))
            char = src[at]
            at += 1
            if char in _BASE64:
                quantum.append(_BASE64[char])
                continue
            if char in _NEWLINES:
                continue
            if char != ord("=") or len(quantum) < 2:
                raise corrupt(at - 1)
            if len(quantum) == 2:  # "==" expected: the second one next
                while at < len(src) and src[at] in _NEWLINES:
                    at += 1
                if at == len(src):
                    raise corrupt(len(src))
                if src[at] != ord("="):
                    raise corrupt(at - 1)
                at += 1
            while at < len(src) and src[at] in _NEWLINES:
                at += 1
            if at < len(src):
                raise corrupt(at)  # something after the padding
            break
        bits = 0
        for index, sextet in enumerate(quantum):
            bits |= sextet << (18 - 6 * index)
        out += bits.to_bytes(3, "big")[: len(quantum) - 1]
    return bytes(out)


def walk(
    value: Any,
    node: Node,
    *,
    path: str = "",
    gopath: str = "",
    struct: str = "",
    findings: Findings,
    prune: bool = True,
) -> Any:
    """Check a value against a compiled node, dropping unknown fields when `prune`.

    Returns the value as the server stores it: the same object, but a time
    (`metav1.Time`, `MicroTime`) in the form the real server writes back.

    Raises:
        DecodeError: The first value of the wrong type, in document order.
    """
    if value is None:
        return value
    kind = node.type
    if kind == "struct":
        if not isinstance(value, dict):
            raise _type_error(value, node, struct, gopath)
        unknown = []
        props = node.props
        for key, item in value.items():
            child = props.get(key)
            sub = f"{path}.{key}" if path else key
            if child is None:
                unknown.append(key)
                findings.unknown.append(sub)
                continue
            value[key] = walk(
                item,
                child,
                path=sub,
                gopath=f"{gopath}.{key}" if gopath else key,
                struct=node.struct,
                findings=findings,
                prune=prune,
            )
        for key in node.required:
            if value.get(key) is None:
                findings.required.append(f"{path}.{key}" if path else key)
        if prune:
            for key in unknown:
                del value[key]
    elif kind == "map":
        if not isinstance(value, dict):
            raise _type_error(value, node, struct, gopath)
        assert node.item is not None
        for key, item in value.items():
            value[key] = walk(
                item,
                node.item,
                path=f"{path}[{key}]",
                gopath=gopath,
                struct=struct,
                findings=findings,
                prune=prune,
            )
    elif kind == "array":
        if not isinstance(value, list):
            raise _type_error(value, node, struct, gopath)
        assert node.item is not None
        for index, item in enumerate(value):
            value[index] = walk(
                item,
                node.item,
                path=f"{path}[{index}]",
                gopath=gopath,
                struct=struct,
                findings=findings,
                prune=prune,
            )
    elif kind == "quantity":
        if isinstance(value, str):
            if not _QUANTITY.match(value.strip()):
                raise DecodeError(QUANTITY_MESSAGE)
        elif not isinstance(value, int | float) or isinstance(value, bool):
            raise _type_error(value, node, struct, gopath)
    elif kind == "bytes":
        if not isinstance(value, str):
            raise _type_error(value, node, struct, gopath)
        return base64.b64encode(_base64(value)).decode()
    elif kind == "time":
        if not isinstance(value, str):
            raise _type_error(value, node, struct, gopath)
        try:
            return times.normalise(value, node.fmt)
        except times.TimeError as err:
            raise DecodeError(str(err)) from None
    elif not _scalar_ok(value, node):
        raise _type_error(value, node, struct, gopath)
    return value
