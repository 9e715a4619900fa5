"""The ``replay --check`` hook: re-run a decision model over recorded history.

A decision model is any callable that takes the records (in order) and yields
the decisions that differ from what was recorded::

    def check(records: Iterable[Record]) -> Iterable[DifferenceLike]: ...

A difference needs ``seq`` (int: where the recorded decision is, or where it
should have been) and ``message`` (str); ``correlation_id``, ``recorded`` and
``expected`` are shown when present. Objects with those attributes and plain
dicts both work, so the model needs nothing from this package (the
controller's pure decision core cannot import the journal, a higher layer).
The shape they become is the catalogue's :class:`records.Difference`.

The default model is the controller's decision core,
:func:`reloader.core.replay.check`, imported here like any other module (the
journal sits above ``reloader.core`` in the layers, and the import contracts
see this dependency). ``--check-model MODULE:FUNCTION`` names another (for
example a proposed change, to see which recorded decisions it would alter);
:func:`load_model` imports it and says clearly when it cannot.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from journal.errors import JournalError, JournalValueError
from journal.merge import merged_records
from records import Difference
from reloader.core.replay import check as default_model

if TYPE_CHECKING:
    from journal.filters import Filters
    from journal.record import Record
    from journal.store import Journal

#: The decision model ``replay --check`` uses unless told otherwise.
DEFAULT_MODEL = "reloader.core.replay:check"


class DifferenceLike(Protocol):
    """What a decision model yields: at least ``seq`` and ``message``."""

    seq: int
    message: str


DecisionModel = Callable[[Iterable["Record"]], Iterable[Any]]


class NoDecisionModelError(JournalError):
    """No decision model is available for ``replay --check``."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of :func:`run_check`."""

    model: str
    records: int
    differences: list[Difference] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return the result as the ``check`` object of ``replay -o json``."""
        return {
            "model": self.model,
            "records": self.records,
            "differences": [difference.to_json() for difference in self.differences],
        }


def load_model(spec: str = DEFAULT_MODEL) -> DecisionModel:
    """Return the decision model named ``MODULE:FUNCTION`` (the default needs no import).

    Raises:
        JournalValueError: ``spec`` is not of the form ``MODULE:FUNCTION``.
        NoDecisionModelError: The module does not exist or lacks the function.
        JournalError: The module exists but fails to import.
    """
    if spec == DEFAULT_MODEL:
        return default_model
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise JournalValueError(f"invalid decision model {spec!r}: expected MODULE:FUNCTION")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise NoDecisionModelError(
                f"no decision model is available: module {module_name} does not exist"
            ) from None
        raise JournalError(f"decision model {spec} failed to import: {error}") from None
    except Exception as error:  # any import failure is reported in one line
        raise JournalError(
            f"decision model {spec} failed to import: {type(error).__name__}: {error}"
        ) from None
    model = getattr(module, attribute, None)
    if not callable(model):
        raise NoDecisionModelError(
            f"no decision model is available: {module_name} has no function {attribute}"
        )
    return model


def _field(item: Any, name: str) -> Any:
    if isinstance(item, Mapping):
        return item.get(name)
    return getattr(item, name, None)


def normalise(item: Any) -> Difference:
    """Turn what a model yielded into a :class:`Difference`.

    Raises:
        JournalError: ``seq`` is not a whole number or ``message`` not a string.
    """
    seq, message = _field(item, "seq"), _field(item, "message")
    if isinstance(seq, bool) or not isinstance(seq, int) or not isinstance(message, str):
        raise JournalError(f"decision model returned an invalid difference: {item!r}")
    optional = {}
    for name in ("correlation_id", "recorded", "expected"):
        value = _field(item, name)
        optional[name] = None if value is None else str(value)
    return Difference(seq=seq, message=message, **optional)


def run_check(
    journals: Sequence[Journal],
    filters: Filters,
    model: DecisionModel,
    *,
    name: str = DEFAULT_MODEL,
) -> CheckResult:
    """Feed the recorded history to ``model`` and collect its differences.

    Records stream in constant memory (several journals merged by time).

    Raises:
        JournalError: The model raised; the message names it and the error.
    """
    counter = [0]
    last: list[tuple[int, Record]] = []

    def records() -> Iterable[Record]:
        for index, record in merged_records(journals, filters):
            counter[0] += 1
            last[:] = [(index, record)]
            yield record

    try:
        differences = [normalise(item) for item in model(records())]
    except JournalError:
        raise
    except Exception as error:  # a model failure is reported in one line
        raise JournalError(
            f"decision model {name} failed after {counter[0]} records: "
            f"{type(error).__name__}: {error}{_last_read(journals, last)}"
        ) from None
    return CheckResult(model=name, records=counter[0], differences=differences)


def _last_read(journals: Sequence[Journal], last: list[tuple[int, Record]]) -> str:
    """Name the record the model read last: where a malformed record makes it fail."""
    if not last:
        return ""
    index, record = last[0]
    where = f" of {journals[index].location.display}" if len(journals) > 1 else ""
    return f" (the last record it read: seq {record.seq}{where}, {record.kind})"
