"""ObjectMeta validation and the name formats, worded as the real API server words them.

The texts are those of apimachinery (Kubernetes 1.37): `IsDNS1123Subdomain`,
`IsDNS1123Label`, `IsDNS1035Label` (their length limit in *characters*),
`IsLabelKey` and `IsLabelValue` (in *bytes*), each regex failure with the
examples and the regex kubectl users see. Each function returns the messages a
value earns; the real server reports each one as a cause of its own.
"""

from __future__ import annotations

import json
import re
from typing import Any

Cause = tuple[str, str, str]

_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_FMT = _LABEL_FMT + "(\\." + _LABEL_FMT + ")*"
_DNS1035_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_KEY_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _KEY_NAME_FMT + ")?"
_KEY_NAME_RULE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character"
)
# Kinds whose names follow another rule than a DNS-1123 subdomain.
_LABEL_NAMED = frozenset({"Namespace", "StatefulSet"})
_DNS1035_NAMED = frozenset({"Service"})
#: Kinds whose names are only path segments, checked in `kinds.py`: RBAC's (a
# role may hold ':'), and core/v1 Events, whose validation skips the object's
# metadata for backward compatibility (client-go names them NAME.HEX, the
# controller generates them from "NAME.").
PATH_SEGMENT_NAMED = frozenset(
    {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Event"}
)
#: A CronJob's name leaves room for the suffix of the Jobs it makes.
CRONJOB_NAME_MAX = 52
MAX_ANNOTATION_BYTES = 256 * 1024


def _full(fmt: str) -> re.Pattern[str]:
    return re.compile(f"^(?:{fmt})$")


_LABEL = _full(_LABEL_FMT)
_SUBDOMAIN = _full(_SUBDOMAIN_FMT)
_DNS1035 = _full(_DNS1035_FMT)
_KEY_NAME = _full(_KEY_NAME_FMT)
_LABEL_VALUE = _full(_LABEL_VALUE_FMT)


def regex_error(message: str, fmt: str, *examples: str) -> str:
    """Return apimachinery's `RegexError` text: the rule, its examples and its regex."""
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


def dns1123_subdomain(value: str, unit: str = "characters") -> list[str]:
    """Return the problems of a lowercase RFC 1123 subdomain (at most 253 long)."""
    problems = [f"must be no more than 253 {unit}"] if len(value) > 253 else []
    if not _SUBDOMAIN.match(value):
        problems.append(
            regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character",
                _SUBDOMAIN_FMT,
                "example.com",
            )
        )
    return problems


def dns1123_label(value: str) -> list[str]:
    """Return the problems of a lowercase RFC 1123 label (at most 63 characters)."""
    problems = ["must be no more than 63 characters"] if len(value) > 63 else []
    if _LABEL.match(value):
        return problems
    if _SUBDOMAIN.match(value):
        problems.append("must not contain dots")
    else:
        problems.append(
            regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                "or '-', and must start and end with an alphanumeric character",
                _LABEL_FMT,
                "my-name",
                "123-abc",
            )
        )
    return problems


def dns1035_label(value: str) -> list[str]:
    """Return the problems of a DNS-1035 label (a Service's name; at most 63 characters)."""
    problems = ["must be no more than 63 characters"] if len(value) > 63 else []
    if not _DNS1035.match(value):
        problems.append(
            regex_error(
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                "start with an alphabetic character, and end with an alphanumeric character",
                _DNS1035_FMT,
                "my-name",
                "abc-123",
            )
        )
    return problems


def qualified_name(value: str) -> list[str]:
    """Return the problems of a label key (`IsLabelKey`): an optional DNS prefix and a name."""
    parts = value.split("/")
    if len(parts) > 2:
        return [
            "a valid label key "
            + regex_error(_KEY_NAME_RULE, _KEY_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    problems: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            problems += ["prefix part " + p for p in dns1123_subdomain(prefix, "bytes")]
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 bytes")
    if not _KEY_NAME.match(name):
        problems.append(
            "name part "
            + regex_error(_KEY_NAME_RULE, _KEY_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return problems


def label_value(value: str) -> list[str]:
    """Return the problems of a label value (`IsLabelValue`: at most 63 bytes)."""
    problems = ["must be no more than 63 bytes"] if len(value.encode()) > 63 else []
    if not _LABEL_VALUE.match(value):
        problems.append(
            regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character",
                _LABEL_VALUE_FMT,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return problems


def _invalid(path: str, value: str, message: str) -> Cause:
    return ("FieldValueInvalid", path, f"Invalid value: {json.dumps(value)}: {message}")


def name_problems(kind: str, name: str, prefix: bool = False) -> list[str]:
    """Return the problems of an object's name (or, with `prefix`, its `generateName`).

    A prefix may end in '-': as `maskTrailingDash` does, its last two characters
    become an 'a' before the check.
    """
    if prefix and len(name) > 1 and name.endswith("-"):
        name = name[:-2] + "a"
    if kind in _LABEL_NAMED:
        return dns1123_label(name)
    if kind in _DNS1035_NAMED:
        return dns1035_label(name)
    return dns1123_subdomain(name)


def label_causes(labels: Any, path: str) -> list[Cause]:
    """Return the problems of a labels map at `path`, keys in sorted order."""
    causes: list[Cause] = []
    if not isinstance(labels, dict):
        return causes
    for key in sorted(labels):
        causes += [_invalid(path, key, m) for m in qualified_name(key)]
        value = labels[key]
        if isinstance(value, str):
            causes += [_invalid(path, value, m) for m in label_value(value)]
    return causes


def annotation_causes(annotations: Any, path: str) -> list[Cause]:
    """Return the problems of an annotations map: keys, then the total size (256 KiB)."""
    if not isinstance(annotations, dict):
        return []
    causes: list[Cause] = []
    for key in sorted(annotations):
        causes += [_invalid(path, key, m) for m in qualified_name(key.lower())]
    size = sum(len(k.encode()) + len(str(v).encode()) for k, v in annotations.items())
    if size > MAX_ANNOTATION_BYTES:
        message = f"Too long: may not be more than {MAX_ANNOTATION_BYTES} bytes"
        causes.append(("FieldValueTooLong", path, message))
    return causes


_OWNER_FIELDS = ("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion")


def _go_owner_references(refs: list[Any]) -> str:
    """Render owner references as Go's `json.Marshal` does: struct order, nil pointers left out."""
    ordered = []
    for ref in refs:
        if isinstance(ref, dict):
            item = {f: ref.get(f) or "" for f in _OWNER_FIELDS[:4]}
            item.update({f: ref[f] for f in _OWNER_FIELDS[4:] if ref.get(f) is not None})
            ordered.append(item)
    return json.dumps(ordered, separators=(",", ":"))


def _owner_causes(refs: Any) -> list[Cause]:
    causes: list[Cause] = []
    if not isinstance(refs, list):
        return causes
    controller = ""
    for index, ref in enumerate(refs):
        if not isinstance(ref, dict):
            continue
        where = f"metadata.ownerReferences[{index}]"
        version = ref.get("apiVersion") or ""
        if not version:
            causes.append(
                ("FieldValueRequired", f"{where}.apiVersion", "Required value: must not be empty")
            )
        elif version.count("/") > 1 or version.endswith("/"):
            causes.append(
                _invalid(f"{where}.apiVersion", version, "must be <group>/<version> or <version>")
            )
        for field in ("kind", "name", "uid"):
            if not ref.get(field):
                causes.append(
                    ("FieldValueRequired", f"{where}.{field}", "Required value: must not be empty")
                )
        if ref.get("controller") is True:
            this = f"{ref.get('kind', '')}/{ref.get('name', '')}"
            if controller:
                message = (
                    f"Invalid value: {_go_owner_references(refs)}: Only one reference "
                    f'can have Controller set to true. Found "true" in references for {controller} '
                    f"and {this}"
                )
                causes.append(("FieldValueInvalid", "metadata.ownerReferences", message))
            else:
                controller = this
    return causes


def meta_causes(kind: str, meta: dict[str, Any], creating: bool) -> list[Cause]:
    """Return the problems of an object's metadata, in the real server's order.

    On create: `generateName`, `name`, labels, annotations, owner references and
    finalizers; an update validates neither the (immutable) name nor the
    finalizers. Kinds whose names are path segments (RBAC) are left to their own
    rules.
    """
    causes: list[Cause] = []
    if creating and kind not in PATH_SEGMENT_NAMED:
        generate = meta.get("generateName")
        if isinstance(generate, str) and generate:
            causes += [
                _invalid("metadata.generateName", generate, m)
                for m in name_problems(kind, generate, prefix=True)
            ]
        name = meta.get("name")
        if isinstance(name, str) and name:
            causes += [_invalid("metadata.name", name, m) for m in name_problems(kind, name)]
            if kind == "CronJob" and len(name) > CRONJOB_NAME_MAX:
                causes.append(
                    _invalid(
                        "metadata.name", name, f"must be no more than {CRONJOB_NAME_MAX} characters"
                    )
                )
    causes += label_causes(meta.get("labels"), "metadata.labels")
    causes += annotation_causes(meta.get("annotations"), "metadata.annotations")
    causes += _owner_causes(meta.get("ownerReferences"))
    if creating:
        for finalizer in meta.get("finalizers") or []:
            if isinstance(finalizer, str):
                causes += [
                    _invalid("metadata.finalizers", finalizer, m) for m in qualified_name(finalizer)
                ]
    return causes


def go_value(value: Any) -> str:
    """Render a value as the real server does in `Invalid value: ...` (Kubernetes 1.34+).

    Strings are quoted, numbers and booleans plain, anything else is Go's
    `json.Marshal` of it (maps with sorted keys).
    """
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def go_struct(fields: dict[str, Any]) -> str:
    """Render an internal Go struct as `json.Marshal` does: its Go field names, in order."""
    return json.dumps(fields, separators=(",", ":"))


def nonnegative(value: Any, field: str) -> list[Cause]:
    """`Invalid value: N: must be greater than or equal to 0` for a negative integer."""
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        message = f"Invalid value: {value}: must be greater than or equal to 0"
        return [("FieldValueInvalid", field, message)]
    return []
