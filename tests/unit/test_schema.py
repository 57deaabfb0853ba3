"""The migrations build exactly the schema the models describe."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from harmonia import counters, flow_counters, fulltext
from harmonia.migrate import MIGRATIONS
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


@pytest.mark.parametrize(
    ("module", "constant", "migration"),
    [
        (fulltext, "SEARCH_INDEX_DIGEST", "0006"),
        (counters, "ACTIVITY_COUNTERS_DIGEST", "0007"),
        (flow_counters, "FLOW_COUNTERS_DIGEST", "0020"),
    ],
)
def test_a_change_to_a_trigger_kept_definition_comes_with_a_migration_that_recreates_it(
    module: Any, constant: str, migration: str
) -> None:
    """The search index and the activity counters are built by their modules; the newest migration that creates
    one records its digest, so editing the module without a migration that re-creates it fails here."""
    recorded = [
        match.group(1)
        for path in sorted((MIGRATIONS / "versions").glob("*.py"))
        if (match := re.search(rf'^{constant} = "(\w+)"', path.read_text(), re.M))
    ]
    assert recorded, f"no migration records {constant}"
    assert module.definition_digest() == recorded[-1], (
        f"{module.__name__} defines something other than what the newest migration created: add a migration that "
        f"drops and re-creates it (see {migration}) and records the new digest"
    )
