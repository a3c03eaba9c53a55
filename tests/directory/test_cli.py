"""``helpline directory ...`` end to end, against SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.cli import main
from bot.db import make_engine
from bot.directory.io import Row, export, read_rows, write_rows
from bot.directory.models import AuditEntry, Organisation, Service
from bot.settings import PROJECT_ROOT, get_settings

from .bad_files import BAD_FILES, BadFile
from .rows import service_row

EXAMPLE = PROJECT_ROOT / "docs" / "examples" / "directory-example.csv"


@pytest.fixture
def database(empty_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the settings (and so the CLI) at an empty test database."""
    monkeypatch.setenv("DATABASE_URL", empty_url)
    get_settings.cache_clear()
    yield empty_url
    get_settings.cache_clear()


def test_migrate_import_export(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["directory", "import", str(EXAMPLE)]) == 1
    assert "run `helpline directory migrate`" in capsys.readouterr().err

    assert main(["directory", "migrate"]) == 0
    assert main(["directory", "import", str(EXAMPLE), "--by", "editor"]) == 0
    assert capsys.readouterr().out.endswith("created 5, updated 0, unchanged 0 service(s)\n")
    assert main(["directory", "import", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out.endswith("created 0, updated 0, unchanged 5 service(s)\n")

    exported = tmp_path / "directory.xlsx"
    assert main(["directory", "export", str(exported)]) == 0
    assert capsys.readouterr().out == f"exported 5 service(s) to {exported}\n"
    assert len(read_rows(exported)) == 5
    assert main(["directory", "validate", str(exported)]) == 0


def test_import_of_a_bad_file_fails_with_every_problem(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["directory", "migrate"]) == 0
    path = tmp_path / "bad.csv"
    write_rows(path, [service_row("good"), service_row("bad", country="FR", phones="none")])
    capsys.readouterr()

    assert main(["directory", "import", str(path)]) == 1
    err = capsys.readouterr().err
    assert "row 3, column country: unknown country 'FR'" in err
    assert "row 3, column phones: bad phone number 'none'" in err
    assert "2 problem(s) in 1 row(s)" in err
    assert "nothing imported" in err

    assert main(["directory", "import", str(path), "--partial"]) == 1
    captured = capsys.readouterr()
    assert "created 1, updated 0, unchanged 0 service(s)" in captured.out
    assert "row 3, column country" in captured.err


def test_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["directory", "validate", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out == f"{EXAMPLE}: 5 service(s), no problems\n"

    bad = tmp_path / "bad.xlsx"
    write_rows(bad, [service_row(category="pizza")])
    assert main(["directory", "validate", str(bad)]) == 1
    assert capsys.readouterr().err == (
        "row 2, column category: unknown category 'pizza'\n1 problem(s) in 1 row(s)\n"
    )



def _contents(url: str) -> tuple[list[int], list[Row]]:
    """How many organisations, services and audit entries there are, and every service."""
    engine = make_engine(url)
    with Session(engine) as session:
        counts = [
            session.scalar(select(func.count()).select_from(model))
            for model in (Organisation, Service, AuditEntry)
        ]
        rows = export(session)
    engine.dispose()
    return counts, rows


@pytest.mark.parametrize("bad", BAD_FILES, ids=lambda bad: bad.name)
def test_a_file_that_cannot_be_read_fails_with_code_2_and_changes_nothing(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: BadFile
) -> None:
    assert main(["directory", "migrate"]) == 0
    assert main(["directory", "import", str(EXAMPLE), "--by", "editor"]) == 0
    before = _contents(database)
    assert before[0][1] == 5
    path = tmp_path / bad.name
    bad.write(path)
    capsys.readouterr()

    for command in (["validate"], ["import"], ["import", "--partial"]):
        assert main(["directory", *command, str(path)]) == 2, command
        captured = capsys.readouterr()
        assert captured.out == "", command
        assert captured.err.startswith(f"cannot read {path}: {bad.reason}"), command
        assert captured.err.count("\n") == 1, command
    assert _contents(database) == before
