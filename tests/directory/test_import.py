"""Importing into SQLite and PostgreSQL: all or nothing, upserts, audit log, exact round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.directory.io import export, import_rows, read_rows, write_rows
from bot.directory.migrate import alembic_config, upgrade
from bot.directory.models import AuditAction, AuditEntry, Organisation, Service
from bot.settings import PROJECT_ROOT

from .rows import rich_rows, service_row

EXAMPLE = PROJECT_ROOT / "docs" / "examples" / "directory-example.csv"


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _audit(session: Session) -> list[tuple[str, str, AuditAction]]:
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    return [(entry.table_name, entry.entity_external_id, entry.action) for entry in entries]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_import_the_example_file(session: Session, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"example{suffix}"
    write_rows(path, read_rows(EXAMPLE))
    result = import_rows(session, read_rows(path), changed_by="editor")
    session.commit()
    assert (len(result.created), result.updated, result.unchanged, result.errors) == (5, [], 0, [])
    assert _count(session, Service) == 5
    assert _count(session, Organisation) == 5
    shelter = session.scalars(
        select(Service).where(Service.external_id == "demo-rs-beograd-shelter-01")
    ).one()
    assert (shelter.category, shelter.country, shelter.always_open) == ("shelter", "RS", True)
    assert shelter.place_id is not None and shelter.timezone == "Europe/Belgrade"
    assert shelter.text("mk").name == "Безбедна куќа (демо)"
    egov = session.scalars(
        select(Service).where(Service.external_id == "demo-xk-egov-social-assistance")
    ).one()
    assert egov.egov is not None and egov.egov.in_person_visit
    assert [concern.concern for concern in egov.egov.concerns] == ["social_assistance"]


def test_every_creation_is_audited(session: Session) -> None:
    import_rows(session, [service_row("a"), service_row("b")], changed_by="Ana (editor)")
    session.commit()
    assert _audit(session) == [
        ("directory_organisations", "test-org-al", AuditAction.CREATE),
        ("directory_services", "a", AuditAction.CREATE),
        ("directory_services", "b", AuditAction.CREATE),
    ]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.entity_external_id == "a")).one()
    assert entry.changed_by == "Ana (editor)"
    assert entry.changes["category"] == [None, "legal_aid"]
    assert entry.changed_at is not None


def test_reimport_changes_nothing(session: Session) -> None:
    rows = rich_rows()
    import_rows(session, rows, changed_by="editor")
    session.commit()
    audit_before, export_before = _audit(session), export(session)

    result = import_rows(session, rows, changed_by="someone else")
    assert not (session.dirty or session.new or session.deleted)
    session.commit()
    assert (result.created, result.updated, result.unchanged) == ([], [], 3)
    assert _audit(session) == audit_before
    assert export(session) == export_before


def test_changes_update_in_place_and_are_audited(session: Session) -> None:
    import_rows(session, rich_rows(), changed_by="editor")
    session.commit()
    service_id = session.scalars(
        select(Service.id).where(Service.external_id == "test-al-legal-01")
    ).one()

    changed = rich_rows()
    changed[0].update(
        phones="+355 40 000 002", description_en="New text.", organisation_name="Renamed"
    )
    changed[2].update(egov_concerns="civil_status", egov_steps_mk="Еден чекор")
    result = import_rows(session, changed, changed_by="reviewer")
    session.commit()

    assert (result.created, result.updated, result.unchanged) == (
        [], ["test-al-legal-01", "test-al-egov-01"], 1,
    )  # fmt: skip
    updates = session.scalars(
        select(AuditEntry).where(AuditEntry.action == AuditAction.UPDATE).order_by(AuditEntry.id)
    ).all()
    assert [(entry.entity_external_id, entry.changes, entry.changed_by) for entry in updates] == [
        ("test-org-al", {"organisation_name": ["Qendra Test", "Renamed"]}, "reviewer"),
        (
            "test-al-legal-01",
            {
                "phones": ["+355 40 000 001 (office); 0800 1010 (free)", "+355 40 000 002"],
                "description_en": ["Free lawyers (en).", "New text."],
            },
            "reviewer",
        ),
        (
            "test-al-egov-01",
            {
                "egov_concerns": ["child_allowance; social_assistance", "civil_status"],
                "egov_steps_mk": ["Log in (mk); Fill the form; Submit", "Еден чекор"],
            },
            "reviewer",
        ),
    ]
    session.expire_all()
    assert (
        session.scalars(select(Service.id).where(Service.external_id == "test-al-legal-01")).one()
        == service_id
    )
    exported = {row["external_id"]: row for row in export(session)}
    assert exported["test-al-legal-01"]["phones"] == "+355 40 000 002"
    assert exported["test-al-egov-01"]["egov_steps_mk"] == "Еден чекор"


def test_removing_the_egov_procedure_and_details(session: Session) -> None:
    import_rows(session, rich_rows(), changed_by="editor")
    session.commit()
    plain = rich_rows()
    for column in plain[2]:
        if column.startswith("egov_"):
            plain[2][column] = ""
    plain[2]["category"] = "social_services"
    plain[0].update(target_groups="", languages="", closed_days="", hours="")
    result = import_rows(session, plain, changed_by="editor")
    session.commit()
    assert result.updated == ["test-al-legal-01", "test-al-egov-01"]
    exported = {row["external_id"]: row for row in export(session)}
    assert exported["test-al-egov-01"]["egov_concerns"] == ""
    assert (
        exported["test-al-legal-01"]["target_groups"] == exported["test-al-legal-01"]["hours"] == ""
    )


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_broken_file_imports_nothing(session: Session, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"broken{suffix}"
    write_rows(path, [service_row("good"), service_row("bad", category="shelters")])
    result = import_rows(session, read_rows(path), changed_by="editor")
    session.commit()
    assert [str(error) for error in result.errors] == [
        "row 3, column category: unknown category 'shelters'"
    ]
    assert (result.created, result.updated, result.unchanged) == ([], [], 0)
    assert (
        _count(session, Service)
        == _count(session, Organisation)
        == _count(session, AuditEntry)
        == 0
    )


def test_partial_import_takes_the_good_rows(session: Session) -> None:
    rows = [
        service_row("good-1"),
        service_row("bad", phones="call us"),
        service_row("good-2", organisation_id="other-org", organisation_name="Other"),
        service_row("good-1"),
    ]
    result = import_rows(session, rows, changed_by="editor", partial=True)
    session.commit()
    assert result.created == ["good-1", "good-2"]
    assert [(error.line, error.column) for error in result.errors] == [
        (3, "phones"),
        (5, "external_id"),
    ]
    assert sorted(session.scalars(select(Service.external_id))) == ["good-1", "good-2"]


def test_export_import_export_round_trips_exactly(
    db_url: str, session: Session, tmp_path: Path
) -> None:
    import_rows(session, rich_rows() + read_rows(EXAMPLE), changed_by="editor")
    session.commit()
    first = export(session)
    path = tmp_path / "directory.xlsx"
    write_rows(path, first)
    session.close()

    command.downgrade(alembic_config(db_url), "base")
    upgrade(db_url)
    result = import_rows(session, read_rows(path), changed_by="editor")
    session.commit()
    assert len(result.created) == len(first) == 8 and not result.errors
    assert export(session) == first
