"""Directory rows for tests: one complete valid service, varied by keyword."""

from __future__ import annotations

from bot.directory.io import COLUMNS, Row

LANGUAGES = ("en", "sq", "sr", "mk")


def service_row(external_id: str = "test-al-legal-01", **cells: str) -> Row:
    """A valid row with every column present; ``cells`` override single cells."""
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        external_id=external_id,
        organisation_id="test-org-al",
        organisation_name="Qendra Test",
        category="legal_aid",
        country="AL",
        place="Tirana",
        phones="+355 40 000 001",
        hours="mon-fri 09:00-17:00",
        demo="yes",
    )
    for language in LANGUAGES:
        row[f"name_{language}"] = f"Legal aid ({language})"
        row[f"description_{language}"] = f"Free lawyers ({language})."
    row.update(cells)
    return row


def rich_rows() -> list[Row]:
    """Services that use every feature of the format, for round trips."""
    egov = {
        "egov_portal_url": "https://example.org/e-albania/ndihma",
        "egov_in_person_visit": "yes",
        "egov_concerns": "social_assistance; child_allowance",
        **{f"egov_steps_{lang}": f"Log in ({lang}); Fill the form; Submit" for lang in LANGUAGES},
        **{f"egov_documents_{lang}": f"ID card ({lang}); Birth certificate" for lang in LANGUAGES},
    }
    return [
        service_row(
            "test-al-legal-01",
            municipality="Tiranë",
            address="Rruga e Durrësit 10",
            lat="41.3275",
            lon="19.8187",
            free="yes",
            wheelchair="yes",
            sign_language="yes",
            interpretation="yes",
            target_groups="roma_women; women_with_disabilities; lgbti",
            languages="sq; en; rom",
            phones="+355 40 000 001 (office); 0800 1010 (free)",
            websites="https://example.org/legal",
            emails="legal@example.org (cases)",
            messaging="WhatsApp +355690000001",
            hours="mon-fri 08:00-12:00,13:00-16:00; sat 09:00-13:00; sun 20:00-24:00",
            closed_days="2025-03-14; 2025-01-01",
            how_to_access_en="Call first.\nThen come with the papers.",
            what_to_bring_sq="Letërnjoftimin",
            source="https://example.org/list",
            last_verified="2025-02-01",
            verified_by="directory team",
        ),
        service_row(
            "test-mk-helpline-01",
            organisation_id="test-org-mk",
            organisation_name="Тест СОС",
            category="helpline",
            country="MK",
            place="",
            remote="yes",
            phones="112",
            hours="24/7",
            timezone="Europe/Skopje",
            status="suspended",
        ),
        service_row(
            "test-al-egov-01",
            organisation_id="test-org-al-gov",
            organisation_name="Ministria Test",
            category="egov_service",
            remote="yes",
            place="",
            phones="",
            hours="fri 20:00-08:00; sat-sun 00:00-24:00",
            **egov,
        ),
    ]
