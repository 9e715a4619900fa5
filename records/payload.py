"""Typed payloads: a frozen dataclass per kind, and its conversion to and from ``data``.

Every field is a key of the stored ``data`` dict, of the same name. A field
whose value is :data:`ABSENT` is left out of the dict (some keys are written
only in some cases: ``confirmed_by`` of a restart the watch confirmed, say);
a field declared with :func:`rest` carries keys the payload does not name
(the controller's settings, the detail of a leadership change) and is merged
in first, so a named field always wins.

``from_data`` is tolerant: a key the record lacks takes the field's default,
or ``None`` when the field has none, so older records read fine. Keys it does
not know are kept only by a :func:`rest` field, if the payload has one.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Literal, Self, TypeVar


class _Absent(enum.Enum):
    ABSENT = "ABSENT"

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "ABSENT"


#: The value of a field whose key the stored ``data`` does not have.
ABSENT = _Absent.ABSENT
Absent = Literal[_Absent.ABSENT]


def rest() -> Any:
    """Declare the field that carries the keys a payload does not name."""
    return field(default_factory=dict, metadata={"rest": True})


@dataclass(frozen=True)
class Payload:
    """The base of every payload: ``KIND`` names the record kind it is the data of."""

    KIND: ClassVar[str] = ""

    def to_data(self) -> dict[str, Any]:
        """Return the ``data`` dict to store (JSON values only)."""
        names, spare = _layout(type(self))
        data: dict[str, Any] = {}
        if spare is not None:
            data.update(_plain(getattr(self, spare)))
        for name in names:
            value = getattr(self, name)
            if type(value) in _SCALARS:  # most values: no copy to make
                data[name] = value
            elif value is not ABSENT:
                data[name] = _plain(value)
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None) -> Self:
        """Read a stored ``data`` dict (missing keys take the default, else ``None``)."""
        data = data or {}
        values: dict[str, Any] = {}
        named: set[str] = set()
        spare: str | None = None
        for item in fields(cls):
            if item.metadata.get("rest"):
                spare = item.name
                continue
            named.add(item.name)
            if item.name in data:
                values[item.name] = data[item.name]
            elif item.default is MISSING and item.default_factory is MISSING:
                values[item.name] = None
        if spare is not None:
            values[spare] = {key: value for key, value in data.items() if key not in named}
        return cls(**values)


_LAYOUTS: dict[type, tuple[tuple[str, ...], str | None]] = {}


def _layout(cls: type) -> tuple[tuple[str, ...], str | None]:
    """The named fields of a payload class, in order, and its :func:`rest` field (cached).

    ``to_data`` runs for every record the controller writes; reading the
    dataclass fields once per class rather than once per record keeps it cheap.
    """
    layout = _LAYOUTS.get(cls)
    if layout is None:
        items = fields(cls)
        spare = next((item.name for item in items if item.metadata.get("rest")), None)
        layout = (tuple(item.name for item in items if item.name != spare), spare)
        _LAYOUTS[cls] = layout
    return layout


#: The exact types ``_plain`` returns as they are (a subclass takes the long way).
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """A JSON-ready copy: mappings become dicts, tuples and lists become lists."""
    if type(value) in _SCALARS or isinstance(value, str | int | float):
        return value
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


#: Every payload class by its kind (filled by :func:`register`).
PAYLOADS: dict[str, type[Payload]] = {}


_P = TypeVar("_P", bound=type[Payload])


def register(cls: _P) -> _P:
    """Class decorator: enter a payload class into :data:`PAYLOADS` under its ``KIND``."""
    if not cls.KIND or cls.KIND in PAYLOADS:
        raise ValueError(f"payload {cls.__name__}: kind {cls.KIND!r} is empty or taken")
    PAYLOADS[cls.KIND] = cls
    return cls


def parse(kind: str, data: Mapping[str, Any] | None) -> Payload | None:
    """The typed payload of a record, or ``None`` for a kind this version does not know."""
    cls = PAYLOADS.get(kind)
    return cls.from_data(data) if cls is not None else None
