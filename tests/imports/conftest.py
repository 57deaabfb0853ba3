"""Import fixtures: jobs run inline (deterministic), uploads go to the test's own folder, files are written here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harmonia.config import get_settings
from harmonia.db import Database
from harmonia.services import jobs


@pytest.fixture(autouse=True)
def inline_jobs(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A job runs right after the commit that queued it, in the test's own thread: deterministic. (Unsubscribe the
    handler it yields to leave jobs queued, as with a separate `harmonia worker`.)"""
    monkeypatch.setattr(get_settings(), "upload_dir", str(tmp_path / "uploads"))
    handler = jobs.install_inprocess_jobs(db, inline=True)
    yield handler
    db.bus.unsubscribe("job_queued", handler)


SALESFORCE_HEADER = (
    "First Name,Last Name,Title,Account Name,Email,Phone,Mobile,HasOptedOutOfEmail,DoNotCall,Lead Source"
)
