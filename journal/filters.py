"""Record filters shared by ``tail``, ``replay`` and the read API.

A filter narrows records by kind (a kind or its area: ``restart`` matches
every ``restart.*``), object, correlation id, namespace and time. The same
filter turns into SQL conditions for the database and into a predicate for
records already in memory (merged views).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_

from journal.errors import JournalValueError
from journal.timefmt import format_ts
from records import kinds as kinds_module

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Table

    from journal.record import Record

#: The object kinds a bare ``--object NAME`` may refer to.
OBJECT_KINDS: tuple[str, ...] = (
    "configmap",
    "secret",
    "deployment",
    "statefulset",
    "daemonset",
    "lease",
)


@dataclass(frozen=True)
class Filters:
    """Which records to read.

    Attributes:
        kinds: Kinds or areas; a record matches if it matches any (none: all kinds).
        object: ``configmap/NAME`` exactly, or a bare ``NAME`` for any object kind.
        correlation_id: A correlation id or a prefix of one.
        namespace: The namespace exactly.
        since: Records at or after this moment.
        until: Records at or before this moment.
        cluster: Records shipped from this cluster (``ship --cluster``).
        actor: Records written by this actor (a replica's pod name, ``cli:USER``).
        stream: Records of one chain: a shipped stream's name, or ``""`` for
            the journal's own records.
        namespace_keeps: Kinds or areas whose records pass the ``namespace``
            filter whatever their namespace (``replay`` keeps the controller's
            own records, its leadership and starts, which its terms and SLO read).
    """

    kinds: tuple[str, ...] = ()
    object: str | None = None
    correlation_id: str | None = None
    namespace: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    cluster: str | None = None
    actor: str | None = None
    stream: str | None = None
    namespace_keeps: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Validate the filter values, with one-line messages."""
        for name in ("kinds", "namespace_keeps"):
            if isinstance(getattr(self, name), str):
                raise JournalValueError(f"{name} must be a sequence of kind names, not one string")
        for pattern in (*self.kinds, *self.namespace_keeps):
            if not kinds_module.is_valid_filter(pattern):
                raise JournalValueError(
                    f"invalid kind filter {pattern!r}: expected a kind such as "
                    "restart.planned or an area such as restart"
                )
        for name in ("object", "correlation_id", "namespace", "cluster", "actor"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise JournalValueError(f"{name} filter must be a non-empty string")
            if value is not None and not _is_utf8(value):
                # Bytes that are not UTF-8 on the command line arrive as lone
                # surrogates, which the database driver cannot send.
                raise JournalValueError(f"{name} filter {value!r} is not valid UTF-8 text")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and (value.tzinfo is None or value.utcoffset() is None):
                raise JournalValueError(f"{name} must carry a time zone")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise JournalValueError(
                f"--since {format_ts(self.since)} is after --until {format_ts(self.until)}"
            )

    @property
    def since_text(self) -> str | None:
        """``since`` as canonical timestamp text (comparable with stored ``ts``)."""
        return None if self.since is None else format_ts(self.since)

    @property
    def until_text(self) -> str | None:
        """``until`` as canonical timestamp text (comparable with stored ``ts``)."""
        return None if self.until is None else format_ts(self.until)

    def objects(self) -> tuple[str, ...]:
        """Return the object values the ``object`` filter accepts."""
        if self.object is None:
            return ()
        if "/" in self.object:
            return (self.object,)
        return (self.object, *(f"{kind}/{self.object}" for kind in OBJECT_KINDS))

    def conditions(self, table: Table) -> list[ColumnElement[bool]]:
        """Return SQL conditions selecting the matching rows of ``table``."""
        columns = table.c
        where: list[ColumnElement[bool]] = []
        if self.kinds:
            where.append(_kind_condition(columns, self.kinds))
        if self.object is not None:
            where.append(columns.object.in_(self.objects()))
        if self.correlation_id is not None:
            prefix = self.correlation_id
            upper = _after_prefix(prefix)
            where.append(
                columns.correlation_id >= prefix
                if upper is None
                else and_(columns.correlation_id >= prefix, columns.correlation_id < upper)
            )
        if self.namespace is not None:
            in_namespace = columns.namespace == self.namespace
            where.append(
                or_(in_namespace, _kind_condition(columns, self.namespace_keeps))
                if self.namespace_keeps
                else in_namespace
            )
        if self.cluster is not None:
            where.append(columns.cluster == self.cluster)
        if self.actor is not None:
            where.append(columns.actor == self.actor)
        if self.stream is not None:
            where.append(
                columns.stream.is_(None) if self.stream == "" else columns.stream == self.stream
            )
        if self.since is not None:
            where.append(columns.ts >= self.since_text)
        if self.until is not None:
            where.append(columns.ts <= self.until_text)
        return where

    def matches(self, record: Record) -> bool:
        """Tell whether a record in memory passes the filter."""
        if self.kinds and not any(kinds_module.matches(record.kind, p) for p in self.kinds):
            return False
        if self.object is not None and record.object not in self.objects():
            return False
        if self.correlation_id is not None and not (record.correlation_id or "").startswith(
            self.correlation_id
        ):
            return False
        exact = (
            ("actor", self.actor, record.actor),
            ("cluster", self.cluster, getattr(record, "cluster", None)),
        )
        if not self._in_namespace(record) or any(
            wanted is not None and value != wanted for _name, wanted, value in exact
        ):
            return False
        if self.since is not None and record.ts < self.since:
            return False
        return not (self.until is not None and record.ts > self.until)

    def _in_namespace(self, record: Record) -> bool:
        return (
            self.namespace is None
            or record.namespace == self.namespace
            or any(kinds_module.matches(record.kind, p) for p in self.namespace_keeps)
        )


def _after_prefix(prefix: str) -> str | None:
    """Return the least string above every string starting with ``prefix`` (``None``: none is).

    The last character that is not U+10FFFF goes up by one code point,
    skipping the surrogates (no UTF-8 text holds them); what follows it is dropped.
    """
    stem = prefix.rstrip(chr(sys.maxunicode))
    if not stem:
        return None
    following = ord(stem[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:
        following = 0xE000
    return stem[:-1] + chr(following)


def _is_utf8(text: str) -> bool:
    """Tell whether ``text`` can be written as UTF-8 (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def kinds_tuple(kinds: Iterable[str] | None) -> tuple[str, ...]:
    """Normalise a ``kinds`` argument (``None``, a list, a tuple) to a tuple."""
    if kinds is None:
        return ()
    if isinstance(kinds, str):
        return (kinds,)
    return tuple(kinds)


def _kind_condition(columns: Any, patterns: Iterable[str]) -> ColumnElement[bool]:
    """Rows whose kind is one of ``patterns`` or in one of their areas."""
    return or_(
        *(
            or_(
                columns.kind == pattern,
                and_(columns.kind >= pattern + ".", columns.kind < pattern + "/"),
            )
            for pattern in patterns
        )
    )
