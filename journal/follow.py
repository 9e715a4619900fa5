"""Reading the end of journals and following them as they grow (``tail [-f]``).

Every read is a page in its own short read transaction: a follower never
holds a long-lived read transaction, so the writer's WAL checkpoints are never
blocked. Records of several journals are merged by time; each journal's own
records always come in seq order, exactly once.

:class:`Tail` keeps a cursor per journal (:attr:`Tail.positions`): the seq up
to which every matching record has been handed out. It moves past records
that do not match too, so a narrow filter on a busy journal does not rescan
it on every poll, and it is what ``--cursor-file`` stores. With an ``until``
filter it stops at the last record handed out: what comes after that moment
was not read.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from journal.errors import JournalCursorError, JournalError, JournalValueError
from journal.merge import merged_last
from journal.postgres import Outage
from journal.store import RECORD_COLUMNS, row_to_record

if TYPE_CHECKING:
    from journal.filters import Filters
    from journal.record import Record
    from journal.store import Journal

#: Seconds between polls; a commit shows up within about this long.
DEFAULT_POLL_INTERVAL = 0.1


class Tail:
    """The end of one or several journals, then (optionally) what follows.

    Args:
        journals: Open journals (readers).
        filters: Which records; ``until`` is allowed only without following.
        after: Per journal, the seq after which to start (default: the start).
        lines: Only the last ``lines`` matching records of the initial read
            (``None``: every matching record after ``after``).
        poll_interval: Seconds to wait between polls when nothing arrived.
        stop: Set it to end following (checked between polls).
        on_reconnect: Called when a follower loses the connection to a
            PostgreSQL journal (a restart, a failover): it tries again for up
            to :data:`journal.postgres.RECONNECT_SECONDS` from where its
            cursors stand, so no record is skipped or shown twice.
    """

    def __init__(
        self,
        journals: Sequence[Journal],
        filters: Filters,
        *,
        after: Sequence[int] | None = None,
        lines: int | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        stop: threading.Event | None = None,
        on_reconnect: Callable[[JournalError], None] | None = None,
    ) -> None:
        """Prepare the reads; nothing is read until :meth:`records` is iterated."""
        if after is not None and len(after) != len(journals):
            raise JournalValueError("one cursor per journal is needed")
        if lines is not None and lines < 0:
            raise JournalValueError("lines must not be negative")
        if poll_interval <= 0:
            raise JournalValueError("poll interval must be positive")
        self._journals = list(journals)
        self._filters = filters
        self._lines = lines
        self._poll = poll_interval
        self.stop = stop or threading.Event()
        self._on_reconnect = on_reconnect
        #: Per journal: every matching record up to this seq has been yielded.
        self.positions: list[int] = list(after) if after is not None else [0] * len(journals)

    def records(self, *, follow: bool = False) -> Iterator[tuple[int, Record]]:
        """Yield ``(journal index, record)``: the initial read, then new ones if ``follow``.

        Raises:
            JournalValueError: ``follow`` with an ``until`` filter.
            JournalCursorError: A cursor is beyond its journal's head.
        """
        if follow and self._filters.until is not None:
            raise JournalValueError("a follower cannot have an end time (--until)")
        yield from self._initial()
        if follow:
            yield from self._follow()

    def _initial(self) -> Iterator[tuple[int, Record]]:
        heads = [journal.head()[0] for journal in self._journals]
        for journal, position, head in zip(self._journals, self.positions, heads, strict=True):
            # Seq never goes back in a journal's life: a cursor past the head
            # was taken on another journal (replaced, or restored from an
            # older copy). Reading on would silently show nothing.
            if position > head:
                raise JournalCursorError(
                    f"cursor {position} of journal {journal.location.display} is beyond its "
                    f"head (seq {head}): was the journal replaced?"
                )
        if self._lines is not None:
            chosen = merged_last(self._journals, self._filters, self._lines, after=self.positions)
            for index, record in chosen:
                self.positions[index] = max(self.positions[index], record.seq)
                yield index, record
        else:
            streams = [
                self._stream(index, time_bounds=True) for index in range(len(self._journals))
            ]
            for _ts, index, record in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
                self.positions[index] = record.seq
                yield index, record
        if self._filters.until is None:
            # Everything up to the heads read before the query has been judged.
            self.positions = [max(p, h) for p, h in zip(self.positions, heads, strict=True)]
        # With an end time, records after it were not judged: the cursor stays
        # at the last record shown, so a later read (a later --until) gets them.

    def _follow(self) -> Iterator[tuple[int, Record]]:
        outage = Outage(should_stop=self.stop.is_set, on_reconnect=self._on_reconnect)
        while not self.stop.is_set():
            try:
                arrived = yield from self._poll_once()
            except JournalError as error:
                # The cursors moved with each record handed out: the next
                # poll goes on from there once the server is back.
                if not outage.wait(error, tuple(self.positions)):
                    raise
                continue
            outage.over()
            if not arrived:
                self.stop.wait(self._poll)

    def _poll_once(self) -> Iterator[tuple[int, Record]]:
        """Hand out what arrived since the cursors; return whether anything did."""
        heads = [journal.head()[0] for journal in self._journals]
        streams = [self._stream(index, time_bounds=False) for index in range(len(self._journals))]
        arrived = False
        for _ts, index, record in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
            arrived = True
            self.positions[index] = record.seq
            yield index, record
        self.positions = [max(p, h) for p, h in zip(self.positions, heads, strict=True)]
        return arrived

    def _stream(self, index: int, *, time_bounds: bool) -> Iterator[tuple[str, int, Record]]:
        journal = self._journals[index]
        for row in journal.scan(
            self._filters,
            after_seq=self.positions[index],
            time_bounds=time_bounds,
            columns=RECORD_COLUMNS,
        ):
            yield row[2], index, row_to_record(row)


def follow(
    journals: Sequence[Journal],
    filters: Filters,
    cursors: Sequence[int],
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    stop: threading.Event | None = None,
) -> Iterator[tuple[int, Record]]:
    """Yield ``(journal index, record)`` for every matching record after the cursors, forever.

    Ends when ``stop`` is set. See :class:`Tail` for the guarantees.
    """
    tail = Tail(journals, filters, after=cursors, poll_interval=poll_interval, stop=stop)
    return tail.records(follow=True)
