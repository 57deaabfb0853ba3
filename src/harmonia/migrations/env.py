"""Alembic environment. Run through `harmonia db upgrade` (or `alembic` with alembic.ini at the repo root)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, event, pool

from harmonia import bulk, fulltext
from harmonia.config import get_settings
from harmonia.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().migration_database_url or get_settings().database_url


def _register(dbapi_connection: object) -> None:
    """The SQL functions the upkeep triggers call (a migration that writes records fires them)."""
    fulltext.register(dbapi_connection)
    bulk.register(dbapi_connection)


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":  # the search triggers call search_terms() (harmonia/fulltext.py)
        event.listen(engine, "connect", lambda dbapi_connection, record: _register(dbapi_connection))
    with engine.connect() as connection:
        _run(connection)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite needs batch mode for ALTERs
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
