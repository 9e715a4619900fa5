"""Option sets shared by the ``shipshape-journal`` commands, as decorators.

Each command stacks the decorators it needs (the sqlite-utils way), so an
option is spelled, documented and validated in exactly one place. Values are
checked by Click callbacks: a bad value is a usage error (exit 2) with one
line naming the option.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import click

from journal import DEFAULT_BUSY_TIMEOUT, DEFAULT_URL
from journal.formats import FORMATS
from journal.timefmt import TIME_HELP, parse_time, utc_now
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
        multiple=multiple,
        help=text,
    )


def resolve_journals(values: tuple[str, ...] | str | None) -> list[str]:
    """Return the journals to open: the ``--journal`` values or the default.

    Raises:
        click.UsageError: ``JOURNAL_URL`` is set but blank-only (handled as unset).
    """
    if isinstance(values, str):
        return [values]
    if values:
        return list(values)
    try:
        return [default_journal()]
    except ConfigError as error:  # pragma: no cover - env_str never raises today
        raise click.UsageError(str(error)) from None


def busy_timeout_option(function: F) -> F:
    """Add ``--busy-timeout SECONDS``."""
    return click.option(
        "--busy-timeout",
        type=click.FloatRange(min=0),
        default=DEFAULT_BUSY_TIMEOUT,
        show_default=True,
        metavar="SECONDS",
        help="How long to wait for another writer's lock.",
    )(function)


def _time(_ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value, utc_now())
    except ValueError as error:
        raise click.BadParameter(str(error), param=param) from None


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
        help="Only records about this object: configmap/NAME, or NAME for any kind.",
    )(function)
    return click.option(
        "--kind",
        "kind_filters",
        metavar="K",
        multiple=True,
        help="Only this kind, or every kind of an area (restart = restart.*). Repeatable.",
    )(function)


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
