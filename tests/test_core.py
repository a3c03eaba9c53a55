"""Units of the application: text folding, pseudonyms, numbers, responses, endpoints, Sentry."""

from __future__ import annotations

import datetime as dt

import pytest
import sentry_sdk
from sqlalchemy import text

from bot import emergency
from bot.db import make_engine
from bot.identity import pseudonym
from bot.observability import init_sentry, scrub_event
from bot.rasa_endpoints import endpoints, write_endpoints
from bot.responses import MissingResponse, render
from bot.settings import LANGUAGES, Settings
from bot.text import fold, words
from tests.helpers import domain


def test_fold_and_words():
    assert fold("Niš") == fold("Ниш") == fold("NIS") == "nis"
    assert fold("Shkodër") == "shkoder"
    assert fold("Ђорђе") == "djordje"
    assert words("Živim u Nišu!") == ["zivim", "u", "nisu"]


def test_pseudonyms_are_stable_per_pepper_and_unlinkable_across():
    a = pseudonym(b"pepper", "telegram", "12345")
    assert a == pseudonym(b"pepper", "telegram", "12345")
    assert a != pseudonym(b"other", "telegram", "12345")
    assert a != pseudonym(b"pepper", "viber", "12345")
    assert "12345" not in a


def test_every_number_has_a_source_a_check_date_and_labels_in_every_language():
    numbers = emergency.load()
    for label in numbers.labels.values():
        assert sorted(label) == sorted(LANGUAGES)
    for country in numbers.countries.values():
        assert sorted(country.names) == sorted(LANGUAGES)
        assert country.numbers
        for number in country.numbers:
            assert number.source and number.checked_by
            assert isinstance(number.checked, dt.date)
            assert number.kind in numbers.labels
            assert number.number.replace(" ", "").isdigit()


def test_numbers_for_a_country_put_the_most_urgent_first():
    text = emergency.load().numbers_for("RS", "sr")
    assert text.splitlines()[0] == "Hitne službe (sve): 112"
    assert "0800 100 007" in text
    first_two = emergency.load().numbers_for("RS", "en", self_harm=True).splitlines()[:2]
    assert first_two == ["Emergency (all services): 112", "Crisis line, if you think of hurting yourself (free): 0800 300 303"]


@pytest.mark.parametrize("self_harm", [False, True])
@pytest.mark.parametrize("language", LANGUAGES)
def test_112_is_the_first_line_wherever_the_file_has_it(language, self_harm):
    numbers = emergency.load()
    with_112 = [c.code for c in numbers.countries.values() if any(n.number == "112" for n in c.numbers)]
    assert len(with_112) >= 7  # not vacuous: seven of the eight countries today
    for code in with_112:
        first = numbers.numbers_for(code, language, self_harm=self_harm).splitlines()[0]
        assert first.endswith(": 112"), (code, first)
    for response in ("utter_emergency_numbers", "utter_self_harm_support"):
        text = render(domain()["responses"], response, language,
                      numbers=numbers.numbers_for("MK", language, self_harm=self_harm))["text"]
        assert text.splitlines()[0] == f"{numbers.labels['emergency'][language]}: 112", response


@pytest.mark.parametrize("country", [None, "DE", ""])
@pytest.mark.parametrize("self_harm", [False, True])
@pytest.mark.parametrize("language", LANGUAGES)
def test_unknown_country_gets_112_first_then_every_country(country, language, self_harm):
    numbers = emergency.load()
    lines = numbers.numbers_for(country, language, self_harm=self_harm).splitlines()
    assert lines[0] == f"{numbers.labels['emergency'][language]}: 112"
    for code, entry in numbers.countries.items():
        assert sum(line.startswith(entry.names[language]) for line in lines) == 1, code
    if not self_harm:
        assert lines[1] == f"({numbers.heading(language)})"


def test_unknown_country_self_harm_lines_say_which_number_is_which():
    lines = emergency.load().numbers_for(None, "en", self_harm=True).splitlines()
    assert "Serbia – Crisis line, if you think of hurting yourself (free): 0800 300 303" in lines
    assert "Albania – Helpline for women survivors of violence (free): 116 117" in lines
    assert "Bosnia and Herzegovina – Helpline for women survivors of violence (free): 1265 · 1264" in lines


def test_region_numbers_name_every_country_in_her_language():
    text = emergency.load().for_region("mk")
    assert "Србија: 192 · 0800 100 007" in text
    assert len(text.splitlines()) == len(emergency.load().countries)


def test_region_columns_never_let_a_number_read_as_another_kind():
    lines = emergency.load().for_region("en").splitlines()
    assert "Moldova: – · 0 8008 8008" in lines  # no police number: the helpline stays in its column
    assert "Bosnia and Herzegovina: 122 · 1265 / 1264" in lines


def test_render_picks_her_language_and_fills_values():
    rendered = render(domain()["responses"], "utter_emergency_numbers", "sq", numbers="112")
    assert rendered["text"].startswith("112\n")
    assert rendered["text"] != render(domain()["responses"], "utter_emergency_numbers", "en", numbers="112")["text"]
    with pytest.raises(MissingResponse):
        render(domain()["responses"], "utter_emergency_numbers", "de", numbers="112")


def test_sqlite_files_use_wal_and_every_sqlite_database_enforces_foreign_keys(sqlite_url):
    for url, journal in ((sqlite_url, "wal"), ("sqlite://", "memory"), ("sqlite:///:memory:", "memory")):
        engine = make_engine(url)
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == journal, url
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1, url
        engine.dispose()


def test_endpoints_follow_the_settings():
    assert "tracker_store" not in endpoints(Settings(redis_url=None))
    config = endpoints(Settings(redis_url="redis://:secret@127.0.0.1:6380/3", conversation_retention_hours=2))
    assert config["tracker_store"] == {
        "type": "redis", "url": "127.0.0.1", "port": 6380, "db": 3, "key_prefix": "helpline",
        "password": "secret", "record_exp": 7200,
    }
    assert config["lock_store"]["type"] == "redis"
    tls = endpoints(Settings(redis_url="rediss://helpline:p%40ss@redis.internal:6380/0"))["lock_store"]
    assert (tls["username"], tls["password"], tls["use_ssl"]) == ("helpline", "p@ss", True)


def test_endpoints_file_is_readable_by_its_owner_only(tmp_path):
    path = write_endpoints(Settings(redis_url="redis://:secret@127.0.0.1:6379/3"), tmp_path / "endpoints.yml")
    assert path.stat().st_mode & 0o777 == 0o600


def test_sentry_events_carry_no_message_text_and_no_sender():
    text, sender = "he is hitting me in Nis", "telegram-5f1e2d"
    captured = []
    init_sentry(Settings(sentry_dsn="https://key@sentry.invalid/1"), "test")
    client = sentry_sdk.get_client()
    client.transport.capture_envelope = lambda envelope: captured.append(envelope)
    sentry_sdk.set_user({"id": sender})
    sentry_sdk.add_breadcrumb(message=f"message from {sender}: {text}")
    try:
        raise ValueError(f"could not parse {text!r} from {sender}")
    except ValueError as error:
        sentry_sdk.capture_exception(error)
    sentry_sdk.flush()
    payload = b"".join(item.get_bytes() for envelope in captured for item in envelope.items)
    assert payload, "no event was captured"
    assert text.encode() not in payload and sender.encode() not in payload
    assert b"ValueError" in payload
    client.close()


def test_scrub_event_drops_request_bodies():
    event = {"request": {"method": "POST", "url": "http://x/api/chat?session=abc", "data": {"text": "hi"}}}
    assert scrub_event(event)["request"] == {"method": "POST", "url": "http://x/api/chat"}
