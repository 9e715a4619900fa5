"""``shipshape-controller``: run the reloader until SIGTERM.

Exit codes: 0 after an orderly stop; 1 when start-up fails (journal or
Kubernetes API unreachable or unusable) or the reconcile loop crashed; 2 for an
invalid setting (a bad value, a ``JOURNAL_URL`` this program cannot open, a
``KUBECONFIG`` file that cannot be read or is no kubeconfig, an unusable
``JOURNAL_SIGNING_KEY_FILE``).
Every start-up error is one line on stderr naming the cause.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

import click
from prometheus_client import CollectorRegistry

from journal import Journal, JournalError, JournalValueError
from journal.checkpoints import CheckpointWriter
from journal.signing import SigningKeyError, load_signing_key
from reloader.kube.client import KubeconfigError, make_api_client
from reloader.kube.errors import classify
from reloader.runtime.controller import Controller
from reloader.runtime.leadership import make_leadership
from reloader.runtime.settings import load_settings
from telemetry.buildinfo import VERSION
from telemetry.config import ConfigError
from telemetry.logs import configure_logging
from telemetry.redaction import redact
from telemetry.text import printable

log = logging.getLogger("reloader")

PROG = "shipshape-controller"


@click.command(
    name=PROG,
    help=(
        "Run the reloader controller until SIGTERM. Configured by environment variables "
        "only; each is listed with its default, validation and incident impact in "
        "docs/reference/configuration.md."
    ),
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(VERSION, "-V", "--version", prog_name=PROG)
def main() -> None:
    """Console script entry point: ``--help`` and ``--version``, else run."""
    sys.exit(run(os.environ))


def run(environ: Mapping[str, str]) -> int:  # noqa: PLR0911 - an exit per start-up step
    """Configure, start and run the controller; return the exit code."""
    try:
        settings = load_settings(environ)
    except ConfigError as error:
        _fail(str(error))
        return 2
    configure_logging(settings.log_level)
    # Alembic narrates every migration step at INFO; only its problems matter here.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        key_file = settings.journal_signing_key_file
        signer = load_signing_key(key_file) if key_file else None
    except SigningKeyError as error:  # a configuration mistake: one line, no key material
        _fail(f"invalid JOURNAL_SIGNING_KEY_FILE: {error}")
        return 2
    try:
        opened = Journal.open(settings.journal_url, actor=settings.pod_name)
    except JournalError as error:
        if isinstance(error, JournalValueError):  # the URL itself is wrong: exit 2
            _fail(f"invalid JOURNAL_URL: {error}")
            return 2
        _fail(f"cannot open the journal {redact(settings.journal_url)}: {error}")
        return 1
    try:
        _check_writable(opened.location.path)
        # Terms are numbered above every one this replica's journal names.
        highest_epoch = opened.highest_epoch() if settings.leader_election.enabled else None
    except JournalError as error:
        opened.close()
        _fail(f"cannot use the journal {redact(settings.journal_url)}: {error}")
        return 1
    # With a key, every append is covered by a signed journal.checkpoint.
    journal = opened if signer is None else CheckpointWriter(opened, signer)
    try:
        api_client = make_api_client(settings.kubeconfig)
        # The Lease gets a client of its own: its requests never wait for a
        # connection behind the watches and the patches.
        leadership = make_leadership(
            settings.leader_election,
            settings.pod_name,
            namespace=settings.namespace,
            api_client=make_api_client(settings.kubeconfig)
            if settings.leader_election.enabled
            else None,
            highest_epoch=highest_epoch,
        )
    except Exception as error:  # any configuration problem is one line, not a traceback
        journal.close()
        if isinstance(error, KubeconfigError):  # unreadable, or no kubeconfig: exit 2
            _fail(f"invalid KUBECONFIG: {error}")
            return 2
        where = settings.kubeconfig or "the in-cluster service account"
        _fail(f"cannot configure the Kubernetes client from {where}: {classify(error).message}")
        return 1
    try:
        controller = Controller(settings, journal, api_client, leadership, CollectorRegistry())
    except (OSError, ValueError) as error:  # the port is taken, or the host does not resolve
        journal.close()
        reason = getattr(error, "strerror", None) or error
        _fail(f"cannot listen on {settings.http_host}:{settings.http_port}: {reason}")
        return 1

    def stop(signum: int, _frame: FrameType | None) -> None:
        controller.request_stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return controller.run()


def _check_writable(path: Path | None) -> None:
    """Refuse a SQLite journal this process cannot write, before it starts.

    SQLite opens such a file read-only without a word, and even begins write
    transactions on it: only the first append would fail, and a controller
    that can never journal can never patch. Its directory must be writable
    too, for the WAL files next to it.

    Raises:
        JournalError: Naming what is read-only.
    """
    if path is None:
        return
    for what, where in (("file", path), ("directory", path.parent)):
        if not os.access(where, os.W_OK):
            raise JournalError(f"its {what} {where} is not writable by this process")


def _fail(message: str) -> None:
    # A path or URL quoted in the message may hold a newline: still one line.
    print(f"{PROG}: {printable(message)}", file=sys.stderr)  # noqa: T201 - the one line a user sees
