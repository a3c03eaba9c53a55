"""The demo directory: fictional services, flagged ``demo``, so a new helpline has something to show.

Loaded by ``helpline run`` into an empty directory when ``DEMO_DIRECTORY`` is on
(the default); every record is labelled as demonstration data to the woman.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bot.directory.io import import_rows, read_rows
from bot.directory.models import Service

DEMO_FILE = Path(__file__).resolve().parent.parent / "data" / "demo_directory.csv"


def load_demo_if_empty(engine: Engine) -> int:
    """Import the demo file when the directory has no service; return how many were created."""
    with Session(engine) as session:
        if session.scalar(select(func.count()).select_from(Service)):
            return 0
        result = import_rows(session, read_rows(DEMO_FILE), changed_by="demo directory")
        if result.errors:
            raise ValueError(f"the demo directory is invalid: {result.errors[0]}")
        session.commit()
        return len(result.created)
