"""Upgrading from client-side to server-side apply: the last-applied annotation.

The real server's field manager gives the manager `kubectl` (what `kubectl apply
--server-side` uses unless told `--field-manager`) two allowances when an object
was client-side applied before, that is, carries the
`kubectl.kubernetes.io/last-applied-configuration` annotation:
- an apply that conflicts is retried as forced when every conflicting field is
  one the annotation sets and the live object still holds at the value the
  annotation gives (the fields client-side apply last set and nobody changed
  since); otherwise the conflicts outside those fields are reported;
- after an apply, the annotation, if the object still has one, is rewritten to
  the applied configuration, so a later client-side apply diffs against it.

Any other manager gets neither: opting out is naming another field manager.
"""

from __future__ import annotations

import json
from typing import Any

from . import fields
from .fields import Path
from .schema import Shape

ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
UPGRADING_MANAGER = "kubectl"
# Go's JSON encoder escapes these inside strings (HTML safety, JavaScript line ends).
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
               "\u2029": "\\u2029"}  # fmt: skip


def _annotation(obj: dict[str, Any] | None) -> str:
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    value = annotations.get(ANNOTATION) if isinstance(annotations, dict) else None
    return value if isinstance(value, str) else ""


def unchanged_fields(live: Any, shape: Shape, api_version: str) -> set[Path]:
    """Return the fields the last-applied annotation sets that the live object still holds.

    A field the annotation sets but the live object lacks, holds at another
    value, or an annotation that does not parse or names another `apiVersion`
    than the request's, allows nothing.

    Args:
        live: The stored object, managedFields stripped (anything else: none).
        shape: The object's shape.
        api_version: The apply request's `group/version`.
    """
    text = _annotation(live) if isinstance(live, dict) else ""
    if not text:
        return set()
    try:
        last = json.loads(text)
    except ValueError:
        return set()
    if not isinstance(last, dict) or last.get("apiVersion") != api_version:
        return set()
    added, modified, removed = fields.compare(last, live, shape)
    return fields.to_set(last, shape) - added - modified - removed


def rewritten(merged: dict[str, Any], config: dict[str, Any]) -> None:
    """Set the merged object's annotation (if it has one) to the applied configuration.

    The value is the configuration as sent, without the annotation itself,
    encoded as Go's JSON encoder writes an unstructured object (keys sorted,
    compact, HTML characters escaped, a final newline).
    """
    if not _annotation(merged):
        return
    sent = json.loads(json.dumps(config))
    meta = sent.get("metadata") or {}
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(ANNOTATION, None)
        if not annotations:  # Go's SetAnnotations drops an empty map
            del meta["annotations"]
    text = json.dumps(sent, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    merged["metadata"]["annotations"][ANNOTATION] = text + "\n"
