"""``helpline directory ...`` end to end, against SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.directory.io import read_rows, write_rows
from bot.settings import PROJECT_ROOT, get_settings

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

    assert main(["directory", "validate", str(tmp_path / "missing.csv")]) == 1
    assert "cannot read" in capsys.readouterr().err
    not_xlsx = tmp_path / "broken.xlsx"
    not_xlsx.write_text("not a spreadsheet", encoding="utf-8")
    assert main(["directory", "validate", str(not_xlsx)]) == 1
    assert "cannot read" in capsys.readouterr().err
