"""Units of the application: text folding, pseudonyms, numbers, responses, endpoints, Sentry."""

from __future__ import annotations

import datetime as dt

import pytest
import sentry_sdk

from bot import emergency
from bot.identity import pseudonym
from bot.observability import init_sentry, scrub_event
from bot.rasa_endpoints import endpoints
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
    text = emergency.load().for_country("RS", "sr")
    assert text.splitlines()[0] == "Hitne službe (sve): 112"
    assert "0800 100 007" in text
    assert emergency.load().for_country("RS", "en", self_harm=True).startswith("Crisis line")


def test_region_numbers_name_every_country_in_her_language():
    text = emergency.load().for_region("mk")
    assert "Србија: 192 · 0800 100 007" in text
    assert len(text.splitlines()) == len(emergency.load().countries)


def test_render_picks_her_language_and_fills_values():
    rendered = render(domain()["responses"], "utter_emergency_numbers", "sq", numbers="112")
    assert rendered["text"].endswith("112")
    assert rendered["text"] != render(domain()["responses"], "utter_emergency_numbers", "en", numbers="112")["text"]
    with pytest.raises(MissingResponse):
        render(domain()["responses"], "utter_emergency_numbers", "de", numbers="112")


def test_endpoints_follow_the_settings():
    assert "tracker_store" not in endpoints(Settings(redis_url=None))
    config = endpoints(Settings(redis_url="redis://:secret@127.0.0.1:6380/3", conversation_retention_hours=2))
    assert config["tracker_store"] == {
        "type": "redis", "url": "127.0.0.1", "port": 6380, "db": 3, "key_prefix": "helpline",
        "password": "secret", "record_exp": 7200,
    }
    assert config["lock_store"]["type"] == "redis"


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
