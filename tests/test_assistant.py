"""End to end: the web chat through the app to the real Rasa model and action server.

These are the conversations of the issue, in every language: danger first,
the welcome, a language switch, a service request, privacy and erasure.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi.testclient import TestClient

from bot import emergency
from bot.app import create_app
from bot.identity import pseudonym
from tests.helpers import text_of
from tests.stack import TEST_TOKEN

pytestmark = pytest.mark.rasa
# The default retention period (24 hours) as each language writes it.
A_DAY = {"en": "24 hours", "sq": "24 orë", "sr": "24 sata", "mk": "24 часа"}


@pytest.fixture(scope="module")
def client(stack):
    with TestClient(create_app(stack.settings)) as test_client:
        yield test_client


class Chat:
    """One woman's conversation in the web chat."""

    def __init__(self, client: TestClient):
        self.client, self.session = client, uuid.uuid4().hex

    def say(self, text: str) -> list[dict]:
        response = self.client.post("/api/chat", json={"session": self.session, "text": text})
        assert response.status_code == 200, response.text
        return response.json()


def test_health_is_ok_once_everything_is_up(client):
    assert client.get("/health").json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "help me he is beating me right now"),
        ("sq", "më ndihmoni, burri po më rreh tani"),
        ("sr", "помозите муж ме туче управо сад"),
        ("mk", "помош, мажот ме тепа сега"),
    ],
)
def test_danger_first_gets_the_numbers_before_anything(client, language, message):
    replies = Chat(client).say(message)
    numbers = emergency.load()
    assert replies[0]["text"].splitlines()[0] == f"{numbers.labels['emergency'][language]}: 112"
    assert numbers.for_region(language) in replies[0]["text"]
    assert replies[0]["text"] == text_of(
        "utter_emergency_numbers", language, numbers=numbers.numbers_for(None, language))
    assert replies[1]["text"] == text_of("utter_ask_location_for_numbers", language)


@pytest.mark.parametrize(
    ("language", "message"),
    [
        # Training examples: these tests are about the path, not about what a model learned.
        ("en", "hi good evening"),
        ("sq", "pershendetje si jeni"),
        ("sr", "zdravo ima li nekog"),
        ("mk", "здраво, добар ден"),
    ],
)
def test_a_greeting_gets_the_welcome_privacy_note_and_language_buttons(client, language, message):
    replies = Chat(client).say(message)
    assert replies[0]["text"] == text_of("utter_welcome", language, retention_period=A_DAY[language])
    assert len(replies[0]["buttons"]) == 4
    assert replies[1]["text"] == text_of("utter_how_can_i_help", language)


def test_language_can_be_switched_at_any_time(client):
    chat = Chat(client)
    chat.say("zdravo, treba mi pomoć")  # whatever the model makes of it, a form may be asking her place
    replies = chat.say("English please")
    assert text_of("utter_language_changed", "en") in [r["text"] for r in replies]
    replies = chat.say('/choose_language{"language": "mk"}')
    assert text_of("utter_language_changed", "mk") in [r["text"] for r in replies]


def test_a_service_request_with_her_town_gets_the_nearest_services(client):
    # The demo directory has no legal aid in Novi Sad: the nearest, further away, are labelled so.
    replies = Chat(client).say("treba mi besplatan advokat u Novom Sadu")
    texts = [r["text"] for r in replies]
    assert texts[1] == text_of("utter_ack_legal_aid", "sr")  # after the welcome
    assert texts[2] == text_of("utter_services_none_nearby_national", "sr", location="Novi Sad")
    assert texts[3].startswith("1. ") and "Beograd" in texts[3]
    assert text_of("utter_demo_notice", "sr") in texts
    assert replies[-1]["text"] == text_of("utter_services_next", "sr")


def test_her_place_is_asked_when_unknown_and_she_may_decline(client):
    chat = Chat(client)
    replies = chat.say("my ex posted my nude pictures online")
    assert replies[-1]["text"] == text_of("utter_ask_location", "en")
    replies = chat.say("/deny")  # "I would rather not say": remote services only
    assert replies[0]["text"] == text_of("utter_services_country_wide", "en")
    assert all(" km" not in r["text"] for r in replies)


def test_erasure_after_confirmation_leaves_nothing_in_rasa(client, stack):
    chat = Chat(client)
    chat.say("delete my data")
    replies = chat.say("yes")
    assert [r["text"] for r in replies] == [text_of("utter_data_deleted", "en")]
    sender = pseudonym(stack.settings.pseudonym_pepper.get_secret_value().encode(), "web", chat.session)
    tracker = httpx.get(
        f"{stack.settings.rasa_url}/conversations/{sender}/tracker", params={"token": TEST_TOKEN}
    ).json()
    # Reading a tracker starts a fresh session in it; nothing she wrote or read remains.
    assert [e for e in tracker["events"] if e["event"] in ("user", "bot", "slot")] == []


def test_nothing_she_writes_reaches_the_logs_of_rasa_or_the_action_server(client, stack):
    """The embedded default's stores (Rasa in memory, SQLite): the same promise as in the drill."""
    canary = f"canary{uuid.uuid4().hex[:8]}"
    chat = Chat(client)
    messages = (f"{canary} he is beating me in Nis", f'/seek_legal_aid{{"location": "{canary}"}}',
                f"/{canary}", "delete my data")
    for text in messages:
        assert any(r["text"] for r in chat.say(text))
    for log in stack.log_dir.glob("*.log"):
        assert canary.encode() not in log.read_bytes(), log.name
