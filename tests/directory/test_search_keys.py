"""The folded search keys: written with every change, rebuilt by the migration, matched by prefix."""

from __future__ import annotations

from alembic import command
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.directory.io import import_rows
from bot.directory.migrate import alembic_config, upgrade
from bot.directory.models import SearchKey, Service
from bot.directory.search import SearchQuery, search
from bot.directory.search_keys import keys_of, query_keys
from bot.places import Gazetteer

from .rows import service_row

TIRANA = Gazetteer.load().resolve("Tirana")


def test_keys_are_folded_words_cut_to_five_letters() -> None:
    assert keys_of(["Бесплатен адвокат", "Sigurna kuća u Nišu", None, "SOS 112"]) == {
        "bespl", "advok", "sigur", "kuca", "nisu", "sos", "112",
    }  # fmt: skip
    assert query_keys("advokata u Nisu") == {"advok", "nisu"}
    assert query_keys("u na i") == frozenset()


def _keys(session: Session, external_id: str) -> set[str]:
    statement = select(SearchKey.key).join(Service).where(Service.external_id == external_id)
    return set(session.scalars(statement))


def _found(session: Session, text: str) -> list[str]:
    query = SearchQuery(place=TIRANA, text=text)
    return sorted(match.service.external_id for match in search(session, query).matches)


def test_import_writes_and_updates_the_keys(session: Session) -> None:
    rows = [
        service_row("a", description_en="Divorce and custody."),
        service_row("b", description_en="Protection orders."),
    ]
    import_rows(session, rows, changed_by="editor")
    session.commit()
    assert {"divor", "custo", "qendr", "legal", "lawye"} <= _keys(session, "a")
    assert _found(session, "divorce") == ["a"]
    assert _found(session, "qendra") == ["a", "b"]  # the organisation's name

    # "a" changes its text and renames the organisation; "b" is not in this file.
    import_rows(session, [service_row("a", organisation_name="Shpresa")], changed_by="editor")
    session.commit()
    assert "divor" not in _keys(session, "a")
    assert _found(session, "divorce") == []
    assert _found(session, "shpresa") == ["a", "b"]
    assert _found(session, "qendra") == []


def test_the_migration_indexes_services_already_there(db_url: str, session: Session) -> None:
    import_rows(session, [service_row("a"), service_row("b", name_sq="Strehë")], changed_by="x")
    session.commit()
    written = set(session.execute(select(SearchKey.service_id, SearchKey.key)))
    session.close()

    command.downgrade(alembic_config(db_url), "0002")  # a directory from before the keys
    upgrade(db_url)
    assert set(session.execute(select(SearchKey.service_id, SearchKey.key))) == written
    assert _found(session, "strehe") == ["b"]


def test_a_query_word_matches_the_words_it_begins(session: Session) -> None:
    texts = {"description_en": "Vizita te mjeku 24 ore; SOS 0800", "name_sq": "Ndihmë juridike"}
    import_rows(session, [service_row("a", **texts)], changed_by="editor")
    session.commit()
    assert _found(session, "viz") == ["a"]  # the prefix ends in "z": its range ends above "z"
    assert _found(session, "080") == ["a"]  # ...and in a digit
    assert _found(session, "ndihme") == ["a"]  # a query word longer than a key is cut too
    assert _found(session, "vizz") == []
    assert _found(session, "juridiku") == ["a"]  # "jurid": 5 letters match
    assert _found(session, "jurist") == []
