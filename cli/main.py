"""``shipshape-journal``: read, check and maintain the controller's journal.

Every command is thin: it opens the journal, calls one library function and
prints the result. Library errors become one line on stderr (``Error: ...``),
never a traceback. Exit codes: 0 success; 1 a finding (verify failed,
``--strict`` anomalies, ``--check`` differences, a failed drill); 2 a usage
error or a journal that cannot be used (missing, not a journal, newer schema,
locked past the busy timeout, corrupt).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from cli.cursors import check_cursor_file, parse_cursor, read_cursor_file, write_cursor_file
from cli.maintenance import backup_command, db_group, stats_command, vacuum_command
from cli.options import (
    SECONDS,
    at_option,
    busy_timeout_option,
    correlation_option,
    group_journal_option,
    journal_option,
    origin_filter_options,
    record_filter_options,
    record_output_option,
    resolve_journals,
    time_options,
    workload_option,
)
from cli.output import render_drill, render_replay, render_state
from cli.paths import OutputPath, refuse_journal_files
from cli.runner import (
    JsonOut,
    _write,
    _write_json,
    _write_painted,
    check_output_file,
    command_output,
    discard_output,
    error_line,
    journal_errors,
    open_read_only,
    open_readers,
    stop_at_broken_pipe,
    stop_on_sigterm,
)
from cli.shipping import ship_command
from cli.signing import (
    open_writer,
    public_key_option,
    public_keys,
    require_signed_option,
    signing_key,
    signing_key_option,
    verdict,
)
from journal import (
    DEFAULT_MODEL,
    Filters,
    JournalError,
    Tail,
    export_dr_drill,
    load_model,
    replay,
    run_check,
)
from journal.formats import format_record
from journal.picture import Timeline, build_timeline, render_overview, write_html
from journal.postgres import RECONNECT_SECONDS
from journal.replay import CONTROLLER_AREAS, DEFAULT_LEADERLESS_GAP_SECONDS, state_at
from records import ABSENT, OperatorNote
from telemetry.buildinfo import VERSION
from telemetry.config import env_str

PROG = "shipshape-journal"
#: The most records -n can ask for: SQLite's largest integer.
MAX_LINES = 2**63 - 1
#: Seconds between cursor-file updates while following.
CURSOR_SAVE_INTERVAL = 0.5


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, "-V", "--version", prog_name=PROG)
@group_journal_option
def cli() -> None:
    """Read, check and maintain Shipshape's audit journal.

    The journal is --journal URL_OR_PATH (before or after the command), else
    $JOURNAL_URL, else sqlite:///shipshape-journal.db in the working directory.
    """


# -- tail ------------------------------------------------------------------------


@cli.command()
@journal_option(multiple=True)
@busy_timeout_option
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(min=0, max=MAX_LINES),
    default=None,
    help="Show the last N matching records [default: 10; all when a start point "
    "(--since, --after-cursor, --cursor-file) is given].",
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing records as they are committed.")
@time_options
@record_filter_options
@workload_option
@origin_filter_options
@correlation_option
@click.option(
    "--after-cursor",
    metavar="SEQ[,SEQ...]",
    help="Start after this seq (one per --journal, comma-separated).",
)
@click.option(
    "--cursor-file",
    type=OutputPath(),
    help="Start after the cursor in FILE when it exists; store the last cursor there.",
)
@record_output_option
@journal_errors
def tail(
    *,
    journals: tuple[str, ...],
    busy_timeout: float,
    lines: int | None,
    follow: bool,
    since: Any,
    until: Any,
    kind_filters: tuple[str, ...],
    object_name: str | None,
    workload: str | None,
    cluster: str | None,
    namespace: str | None,
    actor: str | None,
    correlation_id: str | None,
    after_cursor: str | None,
    cursor_file: Path | None,
    output: str,
) -> int:
    """Print records, newest last; with -f keep following new ones."""
    locations = resolve_journals(journals)
    if follow and until is not None:
        raise click.UsageError("--until cannot be combined with --follow")
    if after_cursor is not None and cursor_file is not None:
        raise click.UsageError("use either --after-cursor or --cursor-file, not both")
    if cursor_file is not None:
        check_cursor_file(cursor_file)  # before printing: a failed save would repeat them
        refuse_journal_files(cursor_file, locations, "--cursor-file")
    if workload is not None and object_name is not None:
        raise click.UsageError("use either --object or --workload, not both")
    filters = Filters(
        kinds=kind_filters,
        object=workload or object_name,
        correlation_id=correlation_id,
        since=since,
        until=until,
        cluster=cluster,
        actor=actor,
        namespace=namespace,
    )
    cursors = None
    if after_cursor is not None:
        cursors = parse_cursor(after_cursor, len(locations))
    elif cursor_file is not None:
        cursors = read_cursor_file(cursor_file, len(locations))
    if lines is None and cursors is None and since is None:
        lines = 10
    labels = locations if len(locations) > 1 else None
    stop = stop_on_sigterm() if follow else None
    # A follow may wait for a replica or cluster that has written nothing yet.
    known = None if follow else filters
    with open_readers(locations, busy_timeout, known=known, follow=follow) as readers:
        reader = Tail(
            readers, filters, after=cursors, lines=lines, stop=stop, on_reconnect=_warn_reconnect
        )
        _print_records(reader, output, labels, follow=follow, cursor_file=cursor_file)
    return 0


def _warn_reconnect(error: JournalError) -> None:
    """Say, on stderr, that a followed journal is out of reach and tail keeps trying."""
    click.echo(
        f"Warning: {error_line(str(error))}; trying again for up to {RECONNECT_SECONDS:g} s",
        err=True,
    )


def _print_records(
    reader: Tail,
    output: str,
    labels: Sequence[str] | None,
    *,
    follow: bool,
    cursor_file: Path | None,
) -> None:
    last_save = time.monotonic()
    out = stop_at_broken_pipe()
    try:
        for index, record in reader.records(follow=follow):
            out.write(format_record(record, output, source=labels[index] if labels else None))
            if follow:
                out.flush()
                now = time.monotonic()
                if cursor_file is not None and now - last_save >= CURSOR_SAVE_INTERVAL:
                    write_cursor_file(cursor_file, reader.positions)
                    last_save = now
        out.flush()
    except KeyboardInterrupt:
        pass  # Ctrl-C ends following; what was printed is saved below
    except BrokenPipeError:
        # The reader went away: the lines in the pipe and the one that failed
        # were never taken, so the cursor stays where it was last saved and
        # the next run shows them again rather than skipping them.
        discard_output(sys.stdout)  # stop Python complaining at exit
        return
    if cursor_file is not None:
        write_cursor_file(cursor_file, reader.positions)


# -- replay ----------------------------------------------------------------------


@cli.command("replay")
@journal_option(multiple=True)
@busy_timeout_option
@time_options
@at_option
@correlation_option
@origin_filter_options
@workload_option
@click.option(
    "-o", "--output", type=click.Choice(("text", "json")), default="text", show_default=True
)
@click.option("--strict", is_flag=True, help="Exit 1 when there are anomalies.")
@click.option(
    "--html",
    "html_file",
    type=OutputPath(),
    help="Also write the timeline as one self-contained HTML page to FILE.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Re-run the decision logic over the recorded observations and report every "
    "decision that differs (exit 1 when any does).",
)
@click.option(
    "--check-model",
    metavar="MODULE:FUNCTION",
    default=DEFAULT_MODEL,
    show_default=True,
    help="The decision model --check runs.",
)
@click.option(
    "--debounce-seconds",
    type=SECONDS,
    default=None,
    help="DEBOUNCE_SECONDS for the restart SLO [default: from controller.started, else 5].",
)
@click.option(
    "--leaderless-gap",
    type=SECONDS,
    default=DEFAULT_LEADERLESS_GAP_SECONDS,
    show_default=True,
    metavar="SECONDS",
    help="Report stretches without a leader longer than this.",
)
@journal_errors
def replay_command(
    *,
    journals: tuple[str, ...],
    busy_timeout: float,
    since: Any,
    until: Any,
    at: Any,
    correlation_id: str | None,
    cluster: str | None,
    namespace: str | None,
    actor: str | None,
    workload: str | None,
    output: str,
    strict: bool,
    html_file: Path | None,
    check: bool,
    check_model: str,
    debounce_seconds: float | None,
    leaderless_gap: float,
) -> int:
    """Rebuild state from the records: ConfigMaps, restarts, latency, leaders, anomalies."""
    if at is not None:
        others = {
            "--since": since,
            "--until": until,
            "--correlation": correlation_id,
            "--html": html_file,
            "--check": check or None,
        }
        clash = [name for name, value in others.items() if value is not None]
        if clash:
            raise click.UsageError(f"--at cannot be combined with {', '.join(clash)}")
        origin = Filters(cluster=cluster, actor=actor)
        return _state_at(journals, busy_timeout, at, origin, namespace, workload, output, strict)
    filters = Filters(
        correlation_id=correlation_id,
        since=since,
        until=until,
        cluster=cluster,
        namespace=namespace,
        namespace_keeps=CONTROLLER_AREAS,  # the terms and the SLO read them
        actor=actor,
    )
    if workload is not None and html_file is not None:
        raise click.UsageError("--workload cannot be combined with --html (the page shows all)")
    refuse_journal_files(html_file, resolve_journals(journals), "--html")
    check_output_file(html_file, "--html")  # before the replay prints anything
    model = load_model(check_model) if check else None
    narrow = {"workload": workload} if workload is not None else {}
    with open_readers(
        resolve_journals(journals), busy_timeout, one_cluster=filters, known=filters
    ) as readers:
        # The page's marks are collected in the replay's own pass.
        build = build_timeline if html_file is not None else replay
        built = build(
            readers,
            filters,
            debounce_seconds=debounce_seconds,
            leaderless_gap_seconds=leaderless_gap,
            **narrow,
        )
        report = built.report if isinstance(built, Timeline) else built
        checked = (
            run_check(readers, filters, model, name=check_model).to_json()
            if model is not None
            else None
        )
    if output == "json":
        report.write_json(JsonOut(), extra={"check": checked} if checked is not None else None)
    else:
        _write(render_replay(report, checked))
        _write_painted(render_overview(report, colour=_colour_wanted()))
    if isinstance(built, Timeline) and html_file is not None:
        try:
            write_html(built, html_file)
        except OSError as error:
            raise click.UsageError(f"cannot write --html {html_file}: {error.strerror}") from None
    if checked is not None and checked["differences"]:
        return 1
    return 1 if strict and report.anomalies else 0


def _state_at(  # noqa: PLR0917 - the replay options --at honours
    journals: tuple[str, ...],
    busy_timeout: float,
    at: Any,
    origin: Filters,
    namespace: str | None,
    workload: str | None,
    output: str,
    strict: bool,
) -> int:
    """``replay --at T``: the state of one journal (a central one: of one cluster) as of T."""
    locations = resolve_journals(journals)
    if len(locations) != 1:
        raise click.UsageError("--at reads one journal (each replica keeps its own state)")
    with open_readers(locations, busy_timeout, known=origin) as (reader,):
        state = state_at(
            reader,
            at,
            namespace=namespace,
            workload=workload,
            cluster=origin.cluster,
            actor=origin.actor,
        ).to_json()
    if output == "json":
        _write_json(json.dumps(state, ensure_ascii=False, indent=2) + "\n")
    else:
        _write(render_state(state))
    return 1 if strict and state["anomalies"] else 0


def _colour_wanted() -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (no-color.org)."""
    import os  # noqa: PLC0415

    return sys.stdout.isatty() and env_str(os.environ, "NO_COLOR", "") == ""


# -- verify ----------------------------------------------------------------------


@cli.command("verify")
@journal_option(multiple=True)
@busy_timeout_option
@public_key_option
@require_signed_option
@journal_errors
def verify_command(
    journals: tuple[str, ...],
    busy_timeout: float,
    public_key_files: tuple[Path, ...],
    require_signed: bool,
) -> int:
    """Check the hash chain (and the signed checkpoints); name the first bad seq."""
    if require_signed and not public_key_files:
        raise click.UsageError("--require-signed needs --public-key")
    keys = public_keys(public_key_files)
    locations = resolve_journals(journals)
    failed = False
    for location in locations:
        with open_read_only(location, busy_timeout) as reader:
            ok, text = verdict(reader, keys, require_signed)
            display = reader.location.display
        prefix = f"{display}: " if len(locations) > 1 else ""
        _write("".join(f"{prefix}{line}\n" for line in text.splitlines()))
        failed = failed or not ok
    return 1 if failed else 0


# -- note ------------------------------------------------------------------------


@cli.command("note")
@click.argument("text")
@journal_option()
@busy_timeout_option
@click.option(
    "--drill",
    type=click.Choice(("start", "end")),
    help="Mark the start or the end of a disaster-recovery drill.",
)
@click.option("--scenario", metavar="NAME", help="The drill's scenario.")
@journal_errors
def note_command(
    text: str, journal: str | None, busy_timeout: float, drill: str | None, scenario: str | None
) -> int:
    """Append an operator.note: an incident annotation or a drill mark."""
    if not text.strip():
        raise click.UsageError("the note TEXT is empty")
    if scenario is not None and drill is None:
        raise click.UsageError("--scenario describes a drill: give --drill start|end too")
    payload = OperatorNote(
        text=text,
        drill=ABSENT if drill is None else drill,
        scenario=ABSENT if scenario is None else scenario,
    )
    (location,) = resolve_journals(journal)
    with open_writer(location, busy_timeout) as writer:
        record = writer.append(payload.KIND, data=payload.to_data())
    _write(format_record(record, "short"))
    return 0


# -- export ----------------------------------------------------------------------


@cli.group("export")
def export_group() -> None:
    """Export evidence from the journal."""


@export_group.command("dr-drill")
@journal_option(multiple=True)
@busy_timeout_option
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=OutputPath(directory=True),
    help="Directory for the report, the snapshot and the manifest.",
)
@click.option(
    "--date", metavar="YYYYMMDD", help="Date in the file names [default: the start mark's]."
)
@signing_key_option
@public_key_option
@origin_filter_options
@journal_errors
def export_dr_drill_command(
    *,
    journals: tuple[str, ...],
    busy_timeout: float,
    out_dir: Path,
    date: str | None,
    signing_key_file: Path | None,
    public_key_files: tuple[Path, ...],
    cluster: str | None,
    namespace: str | None,
    actor: str | None,
) -> int:
    """Write the latest drill's evidence: report, a snapshot per journal, manifest (signed).

    On a central journal, --cluster, --actor (--replica) or --namespace judge the
    drill of the shipped journals holding matching records, each copied whole;
    they must belong to one cluster (DR evidence is per cluster).
    """
    locations = resolve_journals(journals)
    refuse_journal_files(out_dir, locations, "--out")
    signer, trusted = signing_key(signing_key_file), public_keys(public_key_files)
    scope = (
        Filters(cluster=cluster, namespace=namespace, actor=actor)
        if cluster or namespace or actor
        else None
    )
    # DR evidence is per cluster: several clusters' chains are not one drill.
    with open_readers(
        locations,
        busy_timeout,
        known=scope,
        one_cluster=scope or Filters(),
        per_cluster="each with its own drill: export one with --cluster NAME",
    ) as readers:
        result = export_dr_drill(
            readers,
            out_dir,
            date=date,
            sources=locations,
            signer=signer,
            scope=scope,
            public_keys=trusted,
        )
    _write(render_drill(result))
    return 0 if result.completed else 1


# -- db, stats, backup, vacuum (cli/maintenance.py); ship (cli/shipping.py) ----------

for _command in (db_group, stats_command, backup_command, vacuum_command, ship_command):
    cli.add_command(_command)


# -- entry point -------------------------------------------------------------------


def _error(message: str) -> None:
    # One line, whatever the message held, quoting at most the start of a long value.
    click.echo(f"Error: {error_line(message)}", err=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 1 finding, 2 usage or journal error)."""
    try:
        with command_output():  # errors stay one line, a full disk's too
            result = cli.main(args=argv, prog_name=PROG, standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as error:
        # No command: the help, as git and Click's own groups print it, and
        # Click's exit code for it (2), since nothing was done.
        click.echo(error.format_message())
        return 2
    except click.UsageError as error:
        hint = f" (see '{error.ctx.command_path} --help')" if error.ctx is not None else ""
        _error(error.format_message() + hint)
        return 2
    except click.ClickException as error:
        _error(error.format_message())
        return error.exit_code
    except click.Abort:
        _error("interrupted")
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
