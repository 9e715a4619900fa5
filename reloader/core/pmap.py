"""An immutable mapping whose changed copies share structure: the state's mappings.

Each step of the core returns a new state; with plain dicts, changing one
entry of the cache (thousands of ConfigMaps) meant copying all of it, so the
cost of every watch event grew with the cluster. A persistent hash trie (from
``rpds``) makes that change O(log n) and leaves the old state untouched.

:class:`PMap` compares equal to any mapping with the same items (``{}``
included), as the dicts it replaces did.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from rpds import HashTrieMap

K = TypeVar("K")
V = TypeVar("V")


class PMap(Mapping[K, V], Generic[K, V]):
    """An immutable mapping; :meth:`set` and :meth:`discard` return changed copies."""

    __slots__ = ("_trie",)

    _trie: HashTrieMap

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        """Hold ``items`` (a mapping, or pairs)."""
        self._trie = items._trie if isinstance(items, PMap) else HashTrieMap(items)

    @classmethod
    def of(cls, items: Mapping[K, V]) -> PMap[K, V]:
        """Return ``items`` itself if it is a PMap, else a PMap of its items."""
        return items if isinstance(items, PMap) else cls(items)

    @classmethod
    def _wrap(cls, trie: HashTrieMap) -> PMap[K, V]:
        made = object.__new__(cls)
        made._trie = trie
        return made

    @property
    def trie(self) -> HashTrieMap:
        """The underlying persistent map (for :class:`reloader.core.reconcile.scratch.Cow`)."""
        return self._trie

    def set(self, key: K, value: V) -> PMap[K, V]:
        """Return a copy with ``key`` mapped to ``value``."""
        return PMap._wrap(self._trie.insert(key, value))

    def discard(self, key: K) -> PMap[K, V]:
        """Return a copy without ``key`` (the same items if it is absent)."""
        return PMap._wrap(self._trie.discard(key))

    def __getitem__(self, key: K) -> V:
        return self._trie[key]

    def get(self, key: K, default: Any = None) -> Any:
        return self._trie.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._trie

    def __iter__(self) -> Iterator[K]:
        return iter(self._trie)

    def __len__(self) -> int:
        return len(self._trie)

    def keys(self):  # type: ignore[no-untyped-def, override]
        return self._trie.keys()

    def values(self):  # type: ignore[no-untyped-def, override]
        return self._trie.values()

    def items(self):  # type: ignore[no-untyped-def, override]
        return self._trie.items()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PMap):
            return self._trie == other._trie
        if isinstance(other, Mapping):
            return len(self) == len(other) and dict(self._trie.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment] - mutable-looking like the dicts it replaces

    def __repr__(self) -> str:
        return f"PMap({dict(self._trie.items())!r})"


def wrap(trie: HashTrieMap) -> PMap[Any, Any]:
    """A PMap over ``trie`` (no copy)."""
    return PMap._wrap(trie)
