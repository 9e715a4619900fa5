"""Alembic environment for the journal's schema.

Programs apply migrations with :func:`journal.schema.upgrade`, which passes its
own open connection in ``config.attributes["connection"]`` (the way mlflow
does), so the upgrade runs inside the caller's ``BEGIN IMMEDIATE``
transaction. The Alembic command line (``alembic.ini`` at the repository root)
opens the journal named by ``-x journal=...``, ``JOURNAL_URL`` or the default.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import make_url

from journal.database import DEFAULT_URL, open_engine, resolve
from journal.models import Base
from journal.schema import VERSION_TABLE, is_modelled
from telemetry.config import env_str

config = context.config
target_metadata = Base.metadata


def _configure(*, dialect: str, **kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        # SQLite cannot ALTER most things in place: batch mode copies the
        # table there; PostgreSQL alters in place.
        render_as_batch=dialect == "sqlite",
        compare_type=True,
        include_name=is_modelled,
        **kwargs,
    )


def _target() -> str:
    named = context.get_x_argument(as_dictionary=True).get("journal")
    return named or env_str(os.environ, "JOURNAL_URL", DEFAULT_URL)


def run_migrations_offline() -> None:
    """Write the migration SQL instead of running it (``alembic upgrade --sql``)."""
    url = resolve(_target()).url
    _configure(url=url, literal_binds=True, dialect=make_url(url).get_backend_name())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the shared connection, or on one opened here."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection, dialect=connection.dialect.name)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = open_engine(resolve(_target()), readonly=False, busy_timeout=5.0)
    try:
        with engine.connect() as own:
            _configure(connection=own, dialect=own.dialect.name)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
