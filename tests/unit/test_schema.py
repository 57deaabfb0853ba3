"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from harmonia.models import Base


def test_migrations_and_models_describe_the_same_schema(sqlite_template: Path) -> None:
    engine = create_engine(f"sqlite:///{sqlite_template}")
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_name": lambda name, type_, parent: not (name or "").startswith("search_fts")}
        )
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []
