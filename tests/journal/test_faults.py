"""Faults: a writer killed with SIGKILL mid-append loses nothing it confirmed."""

from __future__ import annotations

import signal

from journal import Journal, kinds, verify
from tests.journal.helpers import read_lines, rest_of_output


def test_sigkill_mid_append_leaves_a_verifiable_journal(journal_path, start_writer):
    confirmed: list[int] = []
    for round_ in range(3):
        writer = start_writer(journal_path, 0, f"victim-{round_}")
        confirmed += [int(line) for line in read_lines(writer, 150)]
        # The writer spends nearly all its time inside append: kill it there.
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
        assert writer.returncode == -signal.SIGKILL
        # Seqs it confirmed before dying are promises too.
        confirmed += [int(line) for line in rest_of_output(writer).split()]

    with Journal.open(journal_path, readonly=True) as reader:
        result = verify(reader)
        assert result.ok, result.summary()
        head_seq = reader.head()[0]
        seqs = [record.seq for record in reader.read()]
        complete = all(r.data.get("data_hash") for r in reader.read(kinds=("configmap",)))
    # Every confirmed record is there, nothing is half-written, no seq is missing.
    assert set(confirmed) <= set(seqs)
    assert seqs == list(range(1, head_seq + 1))
    assert complete
    assert confirmed == sorted(confirmed)

    # The next writer recovers the WAL and continues the chain.
    with Journal.open(journal_path, actor="survivor") as survivor:
        record = survivor.append(kinds.CONTROLLER_STARTED)
        assert record.seq == head_seq + 1
        assert verify(survivor).ok
