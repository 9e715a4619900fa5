"""A journal writer run as a separate process by fault and concurrency tests.

``python -m tests.journal.workers PATH COUNT [ACTOR]`` appends COUNT records
(0: until killed), one durable commit each, and prints each committed seq on
its own line, flushed, only after ``append`` returned: every printed seq is a
promise that the record is on disk.
"""

from __future__ import annotations

import sys

from journal import Journal, kinds


def main(argv: list[str]) -> int:
    """Append records and report each committed seq on stdout."""
    path, count = argv[0], int(argv[1])
    actor = argv[2] if len(argv) > 2 else "worker"
    with Journal.open(path, actor=actor) as journal:
        n = 0
        while count == 0 or n < count:
            record = journal.append(
                kinds.CONFIGMAP_OBSERVED,
                namespace="shipshape",
                object="configmap/helloworld-config-test",
                data={"event_type": "MODIFIED", "data_hash": f"{n:064x}", "n": n},
            )
            sys.stdout.write(f"{record.seq}\n")
            sys.stdout.flush()
            n += 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
