"""Option sets shared by the ``shipshape-journal`` commands, as decorators.

Each command stacks the decorators it needs (the sqlite-utils way), so an
option is spelled, documented and validated in exactly one place. Values are
checked by Click callbacks: a bad value is a usage error (exit 2) with one
line naming the option.
"""

from __future__ import annotations

import math
import os
import pwd
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import click

from journal import DEFAULT_BUSY_TIMEOUT, DEFAULT_URL
from journal.filters import OBJECT_KINDS
from journal.formats import FORMATS
from journal.timefmt import TIME_HELP, parse_time, utc_now
from records import kinds as journal_kinds
from telemetry.config import ConfigError, env_str

F = TypeVar("F", bound=Callable[..., Any])


def default_journal() -> str:
    """Return ``JOURNAL_URL``, or the default journal in the working directory."""
    return env_str(os.environ, "JOURNAL_URL", DEFAULT_URL)


def cli_actor() -> str:
    """Return the actor of records the CLI writes: ``cli:USER``."""
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a container user without a passwd entry
        user = str(os.getuid())
    return f"cli:{user}"


def journal_option(*, multiple: bool = False) -> Callable[[F], F]:
    """Add ``--journal URL_OR_PATH`` (repeatable when ``multiple``: merged by time)."""
    text = "Journal: SQLAlchemy URL or SQLite file path [default: $JOURNAL_URL, else "
    text += f"{DEFAULT_URL}]."
    if multiple:
        text += " Repeat to merge several replicas' journals by time."
    return click.option(
        "--journal",
        "journals" if multiple else "journal",
        metavar="URL_OR_PATH",
        # Taken as a list either way: Click would keep only the last of a
        # repeated single option, so `note --journal a --journal b` wrote into b.
        multiple=True,
        callback=None if multiple else _one_journal,
        help=text,
    )


def _one_journal(
    ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> str | None:
    """Return the one ``--journal`` of a command that takes one; refuse several."""
    if len(values) > 1:
        raise click.UsageError(f"this command takes one --journal, not {len(values)}", ctx=ctx)
    return values[0] if values else None


#: Where the group-level ``--journal`` values wait for the subcommand (``ctx.meta``).
_GROUP_JOURNALS = "shipshape.journals"


def group_journal_option(function: F) -> F:
    """Add ``--journal`` to the command group: ``shipshape-journal --journal J tail``.

    Global flags before the subcommand, as kubectl and git take them; both
    positions mean the same (:func:`resolve_journals` reads them).
    """

    def remember(ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> None:
        ctx.meta[_GROUP_JOURNALS] = values

    return click.option(
        "--journal",
        metavar="URL_OR_PATH",
        multiple=True,
        expose_value=False,
        callback=remember,
        help="The journal for the command, as the command's own --journal (repeatable "
        "where the command takes several).",
    )(function)


def resolve_journals(values: tuple[str, ...] | str | None) -> list[str]:
    """Return the journals to open: the ``--journal`` values or the default.

    A tuple comes from a command taking several journals, a string or ``None``
    from one taking one. Journals given before the subcommand come first.

    Raises:
        click.UsageError: ``JOURNAL_URL`` is set but blank-only (handled as unset),
            or a command that takes one journal was given several.
    """
    context = click.get_current_context(silent=True)
    before = tuple(context.meta.get(_GROUP_JOURNALS, ())) if context is not None else ()
    if isinstance(values, tuple | list):
        given = [*before, *values]
    else:
        given = [*before, *([values] if values is not None else [])]
        if len(given) > 1:
            raise click.UsageError(f"this command takes one --journal, not {len(given)}")
    if given:
        return given
    try:
        return [default_journal()]
    except ConfigError as error:  # pragma: no cover - env_str never raises today
        raise click.UsageError(str(error)) from None


class Seconds(click.FloatRange):
    """A finite number of seconds from 0 up to ``most`` (``nan`` and ``inf`` are refused)."""

    name = "seconds"

    def __init__(self, most: float | None = None) -> None:
        super().__init__(min=0, max=most)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Return the value as a float, failing on a non-finite one, then on one out of range."""
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        return super().convert(number, param, ctx)


#: The type of every option that takes seconds.
SECONDS = Seconds()

#: The longest ``--busy-timeout``: an hour. SQLite takes it in whole
#: milliseconds, and 1e308 seconds overflowed before anything was checked.
MAX_BUSY_TIMEOUT = 3600.0


def busy_timeout_option(function: F) -> F:
    """Add ``--busy-timeout SECONDS``."""
    return click.option(
        "--busy-timeout",
        type=Seconds(most=MAX_BUSY_TIMEOUT),
        default=DEFAULT_BUSY_TIMEOUT,
        show_default=True,
        metavar="SECONDS",
        help=f"How long to wait for another writer's lock (at most {MAX_BUSY_TIMEOUT:g}).",
    )(function)


def _time(_ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value, utc_now())
    except ValueError as error:
        raise click.BadParameter(str(error), param=param) from None


def at_option(function: F) -> F:
    """Add ``--at T``: the state as of a moment instead of the window's story."""
    return click.option(
        "--at",
        metavar="T",
        callback=_time,
        help="Show the state as of T instead: every ConfigMap's and Secret's hash and "
        "every workload's applied hash, with the seq each comes from (of a central "
        f"journal: one --cluster's, from its shipped streams): {TIME_HELP}.",
    )(function)


def time_options(function: F) -> F:
    """Add ``--since T`` and ``--until T`` (RFC 3339 or relative: ``-10m``, ``-2h``, ``-1d``)."""
    function = click.option(
        "--until", metavar="T", callback=_time, help=f"Only records at or before T: {TIME_HELP}."
    )(function)
    return click.option(
        "--since", metavar="T", callback=_time, help=f"Only records at or after T: {TIME_HELP}."
    )(function)


def correlation_option(function: F) -> F:
    """Add ``--correlation ID`` (an id or a prefix of one)."""
    return click.option(
        "--correlation",
        "correlation_id",
        metavar="ID",
        help="Only one change's chain: a correlation id or a prefix of one.",
    )(function)


def record_filter_options(function: F) -> F:
    """Add ``--kind K`` (repeatable) and ``--object NAME``."""
    function = click.option(
        "--object",
        "object_name",
        metavar="NAME",
        callback=_object,
        help="Only records about this object: KIND/NAME (configmap, secret, deployment, "
        "statefulset, daemonset or lease; any case), or NAME for any kind.",
    )(function)
    return click.option(
        "--kind",
        "kind_filters",
        metavar="K",
        multiple=True,
        callback=_known_kinds,
        help="Only this kind, or every kind of an area (restart = restart.*). Repeatable.",
    )(function)


def _known_kinds(
    _ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    """Refuse a ``--kind`` that is neither a kind this program knows nor an area of one."""
    areas = {kind.split(".", 1)[0] for kind in journal_kinds.KNOWN}
    for value in values:
        malformed = not journal_kinds.is_valid_filter(value)  # the journal's own message
        if not malformed and value not in journal_kinds.KNOWN and value not in areas:
            raise click.BadParameter(
                f"unknown kind {value!r}; the kinds are {', '.join(journal_kinds.KNOWN)}, "
                f"and an area ({', '.join(sorted(areas))}) selects all of its kinds",
                param=param,
            )
    return values


def record_output_option(function: F) -> F:
    """Add ``-o short|json|json-pretty|json-seq``."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice(FORMATS),
        default="short",
        show_default=True,
        help="Record format; json-seq is RFC 7464.",
    )(function)


def origin_filter_options(function: F) -> F:
    """Add ``--cluster NAME``, ``--namespace NS`` and ``--actor NAME`` (a replica's pod name)."""
    function = click.option(
        "--namespace",
        "namespace",
        metavar="NS",
        help="Only records about this namespace.",
    )(function)
    function = click.option(
        "--actor",
        "--replica",
        "actor",
        metavar="NAME",
        help="Only records written by this actor: a replica's pod name, or cli:USER.",
    )(function)
    return click.option(
        "--cluster",
        "cluster",
        metavar="NAME",
        help="Only records shipped from this cluster (shipshape-journal ship --cluster).",
    )(function)


#: The workload kinds ``--workload`` names (records name workloads ``kind/name``).
WORKLOAD_KINDS = ("deployment", "statefulset", "daemonset")


def _kind_name(value: str, kinds: tuple[str, ...], param: click.Parameter, example: str) -> str:
    """Check ``KIND/NAME`` (KIND one of ``kinds``, any case) and return it as records spell it.

    Kubernetes names cannot hold ``/``, so anything else (an unknown kind, an
    empty name) is a typo that would match nothing: refused, naming the kinds.
    """
    kind, slash, name = value.partition("/")
    if not slash or not name or "/" in name or kind.lower() not in kinds:
        raise click.BadParameter(
            f"{value!r} is not KIND/NAME with KIND one of {', '.join(kinds)} (e.g. {example})",
            param=param,
        )
    return f"{kind.lower()}/{name}"


def _object(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check ``--object``: a bare name (any object kind) or ``KIND/NAME`` of a recorded kind."""
    if value is None:
        return None
    if "/" not in value:
        if not value:
            raise click.BadParameter(
                "the object name is empty; give NAME or KIND/NAME", param=param
            )
        return value
    return _kind_name(value, OBJECT_KINDS, param, "configmap/app-config")


def _workload(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check ``KIND/NAME`` and return it as records spell it (the kind in lower case)."""
    if value is None:
        return None
    return _kind_name(value, WORKLOAD_KINDS, param, "statefulset/db")


def workload_option(function: F) -> F:
    """Add ``--workload KIND/NAME`` (KIND: deployment, statefulset or daemonset, any case)."""
    return click.option(
        "--workload",
        "workload",
        metavar="KIND/NAME",
        callback=_workload,
        help="Only this workload: deployment/NAME, statefulset/NAME or daemonset/NAME "
        "(the kind in any case).",
    )(function)
