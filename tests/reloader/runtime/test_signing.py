"""The controller signs its journal: JournalWriter through CheckpointWriter, and a bad key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from journal import Journal, kinds
from journal.checkpoints import CheckpointWriter, verify_signed
from journal.signing import load_public_key, load_signing_key
from reloader.core import Record
from reloader.runtime.journal_writer import JournalWriter
from tests.journal.signing_helpers import write_key_pair
from tests.reloader.e2e import harness
from tests.reloader.runtime.test_main import one_line, run

T0 = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_controllers_writer_signs_on_count_on_time_and_on_close(tmp_path):
    private, public = write_key_pair(tmp_path)
    path = tmp_path / "journal.db"
    clock = Clock()
    signing = CheckpointWriter(
        Journal.open(path, actor="helloworld-controller-0"), load_signing_key(private), clock=clock
    )
    writer = JournalWriter(signing, "shipshape", tick=signing.tick, batch=50)
    for i in range(130):
        writer.submit(
            Record("configmap.observed", f"configmap/c{i}", f"id-{i}", {"i": i}),
            T0 + timedelta(milliseconds=i),
            3,
        )
    assert writer.flush()
    writer.submit(Record("configmap.observed", "configmap/late", "late", {}), T0, 3)
    assert writer.flush()
    clock.now += 10  # the loop's next flush after 10 s signs the lone record
    assert writer.flush()
    writer.submit(Record("configmap.observed", "configmap/last", "last", {}), T0, 3)
    assert writer.flush()
    signing.close()
    with Journal.open(path, readonly=True) as reader:
        covered = [r.data["seq"] for r in reader.read(kinds=(kinds.JOURNAL_CHECKPOINT,))]
        assert covered == [100, 132, 134]
        result = verify_signed(reader, [load_public_key(public)], require_signed=True)
    assert result.ok, result.summary()


def test_an_unusable_signing_key_stops_the_controller_with_exit_2(tmp_path):
    key = tmp_path / "key.pem"
    key.write_text("not a key\n")
    result = run(tmp_path, JOURNAL_SIGNING_KEY_FILE=str(key))
    assert result.returncode == 2
    line = one_line(result)
    assert "invalid JOURNAL_SIGNING_KEY_FILE" in line and str(key) in line
    assert not (tmp_path / "journal.db").exists(), "nothing is written with a bad key"


def test_a_missing_signing_key_stops_the_controller_with_exit_2(tmp_path):
    result = run(tmp_path, JOURNAL_SIGNING_KEY_FILE=str(tmp_path / "absent.pem"))
    assert result.returncode == 2
    assert "cannot read the signing key" in one_line(result)


def test_a_signing_controller_stopped_by_sigterm_leaves_no_record_unsigned(
    kubeapi_private_server, tmp_path
):
    private, public = write_key_pair(tmp_path)
    cluster = harness.cluster(kubeapi_private_server, tmp_path)
    try:
        controller = harness.controller(
            cluster, env={"JOURNAL_SIGNING_KEY_FILE": str(private)}
        ).start()
        assert controller.stop() == 0
    finally:
        for started in cluster.controllers:
            started.kill()
    with Journal.open(controller.journal_path, readonly=True) as reader:
        result = verify_signed(reader, [load_public_key(public)], require_signed=True)
        last = list(reader.read())[-1]
    assert result.ok, result.summary()
    # The checkpoint made on close covers controller.stopped.
    assert last.kind == kinds.JOURNAL_CHECKPOINT
