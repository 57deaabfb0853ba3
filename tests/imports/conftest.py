"""Import fixtures: jobs run inline (deterministic), uploads go to the test's own folder, files are written here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harmonia.config import get_settings
from harmonia.services import jobs


@pytest.fixture(autouse=True)
def inline_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(jobs.MODE, "value", "inline")
    monkeypatch.setattr(get_settings(), "upload_dir", str(tmp_path / "uploads"))
    yield


SALESFORCE_HEADER = (
    "First Name,Last Name,Title,Account Name,Email,Phone,Mobile,HasOptedOutOfEmail,DoNotCall,Lead Source"
)
