"""The core's record kinds are the contract's (journal.kinds) plus the two it adds."""

from __future__ import annotations

from journal import kinds as journal_kinds
from reloader.core import kinds


def _kinds_of(module) -> set[str]:
    return {
        value
        for name, value in vars(module).items()
        if name.isupper()
        and isinstance(value, str)
        and "." in value
        and not name.startswith("SKIP_")
    }


def test_every_kind_the_core_writes_is_the_contracts_or_declared_as_added():
    core = _kinds_of(kinds)
    contract = set(journal_kinds.ALL)
    assert core - contract == set(kinds.ADDED_KINDS)
    assert all(journal_kinds.is_well_formed(kind) for kind in kinds.ADDED_KINDS)


def test_the_core_uses_the_contracts_strings():
    for name, value in vars(kinds).items():
        if name.isupper() and hasattr(journal_kinds, name):
            assert getattr(journal_kinds, name) == value, name


def test_journal_knows_every_kind_the_core_writes():
    assert _kinds_of(kinds) <= set(journal_kinds.KNOWN)
    assert set(journal_kinds.ADDED) == set(kinds.ADDED_KINDS)
