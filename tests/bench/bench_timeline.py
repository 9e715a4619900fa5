"""The timeline page from a large journal: seconds to write it and its weight.

Run with ``make bench PYTEST_ARGS=-k timeline``. Goal (issue 17): from
1,000,000 records the page is written in under 10 s and weighs under 5 MB.
``TIMELINE_RECORDS`` sets the size (default 1,000,000). The journal is
bench_journal's: relists of 20 ConfigMaps and a restart every 50 records.
"""

from __future__ import annotations

import os
import time

from cli.main import main
from tests.bench.bench_journal import _generate

RECORDS = int(os.environ.get("TIMELINE_RECORDS", "1000000"))


def test_timeline_page_from_a_large_journal(tmp_path, capsys):
    journal = tmp_path / "large.db"
    start = time.perf_counter()
    _generate(journal, RECORDS)
    generated = time.perf_counter() - start
    page = tmp_path / "timeline.html"
    start, cpu = time.perf_counter(), time.process_time()
    code = main(["replay", "-o", "json", "--html", str(page), "--journal", str(journal)])
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    capsys.readouterr()
    assert code == 0
    size = page.stat().st_size
    with capsys.disabled():
        print(
            f"\n[bench] replay --html from {RECORDS:,} records (generated in {generated:.1f} s): "
            f"{elapsed:.2f} s (CPU {cpu:.2f} s), page {size:,} bytes "
            f"({size / 1e6:.2f} MB) (goals < 10 s, < 5 MB)"
        )
