"""Custom actions through rasa-sdk's executor, as Rasa calls them."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.executor import ActionExecutor

from bot import emergency
from tests.helpers import domain, text_of


@pytest.fixture(scope="module")
def executor() -> ActionExecutor:
    executor = ActionExecutor()
    executor.register_package("actions")
    return executor


def tracker(text: str, intent: str, slots: dict[str, Any] | None = None, entities=()) -> dict[str, Any]:
    return {
        "sender_id": "web-test",
        "slots": {"language": None, "welcomed": None, "country": None, "place_id": None,
                  "location": None, "fallback_count": None, "numbers_need_country": None,
                  "requested_slot": None, "service_category": None, **(slots or {})},
        "latest_message": {"text": text, "intent": {"name": intent, "confidence": 0.9},
                           "entities": list(entities)},
        "events": [], "paused": False, "followup_action": None, "active_loop": {},
        "latest_action_name": "action_listen",
    }


async def run(executor, action: str, state: dict[str, Any]) -> tuple[dict[str, Any], list[dict]]:
    result = await executor.run({"next_action": action, "sender_id": "web-test",
                                 "tracker": state, "domain": domain(), "version": "3.6.21"})
    slots = {e["name"]: e["value"] for e in result.events if e["event"] == "slot"}
    return slots, result.responses


async def test_first_message_gets_the_welcome_in_her_language(executor):
    slots, responses = await run(executor, "action_validate_slot_mappings",
                                 tracker("zdravo, treba mi pomoc oko razvoda", "seek_legal_aid"))
    assert slots["language"] == "sr" and slots["welcomed"] is True
    assert responses[0]["text"] == text_of("utter_welcome", "sr", retention_hours=24)
    assert [b["payload"] for b in responses[0]["buttons"]][0] == '/choose_language{"language": "en"}'


async def test_first_message_about_danger_gets_nothing_before_the_numbers(executor):
    slots, responses = await run(executor, "action_validate_slot_mappings",
                                 tracker("he is hitting me right now", "immediate_danger"))
    assert responses == [] and slots["welcomed"] is True and slots["language"] == "en"


async def test_an_explicit_language_choice_wins_over_detection(executor):
    state = tracker("/choose_language", "choose_language", {"language": "sq", "welcomed": True},
                    entities=[{"entity": "language", "value": "mk"}])
    slots, responses = await run(executor, "action_validate_slot_mappings", state)
    assert slots["language"] == "mk" and responses == []


async def test_a_short_message_keeps_the_language(executor):
    slots, _ = await run(executor, "action_validate_slot_mappings",
                         tracker("ok", "affirm", {"language": "sq", "welcomed": True}))
    assert "language" not in slots


async def test_her_town_gives_her_country(executor):
    slots, _ = await run(executor, "action_validate_slot_mappings",
                         tracker("živim u Nišu", "inform_location", {"language": "sr", "welcomed": True},
                                 entities=[{"entity": "location", "value": "Nišu"}]))
    assert slots["country"] == "RS" and slots["place_id"]


async def test_she_may_rather_not_say_where_she_is(executor):
    slots, _ = await run(executor, "action_validate_slot_mappings",
                         tracker("/deny", "deny", {"welcomed": True, "requested_slot": "location"}))
    assert slots["location"] == "-" and slots["place_id"] is None


async def test_numbers_for_her_country(executor):
    slots, responses = await run(executor, "action_emergency_numbers",
                                 tracker("pomoc", "immediate_danger", {"language": "sr", "country": "RS"}))
    numbers = emergency.load().numbers_for("RS", "sr")
    assert [r["text"] for r in responses] == [text_of("utter_emergency_numbers", "sr", numbers=numbers)]
    assert responses[0]["text"].splitlines()[0] == "Hitne službe (sve): 112"
    assert slots == {"numbers_need_country": False}


async def test_numbers_without_a_country_cover_the_region_then_ask_her_place(executor):
    slots, responses = await run(executor, "action_emergency_numbers",
                                 tracker("help", "immediate_danger", {"language": "en"}))
    assert responses[0]["text"] == text_of(
        "utter_emergency_numbers", "en", numbers=emergency.load().numbers_for(None, "en"))
    assert responses[0]["text"].splitlines()[0] == "Emergency (all services): 112"
    assert "0800 100 007" in responses[0]["text"] and "116 117" in responses[0]["text"]
    assert responses[1]["text"] == text_of("utter_ask_location_for_numbers", "en")
    assert slots == {"numbers_need_country": True}
    slots, responses = await run(executor, "action_location_received",
                                 tracker("Tirana", "inform_location", {"language": "en", "country": "AL",
                                         "place_id": "x", "numbers_need_country": True}))
    assert "129" in responses[0]["text"] and slots == {"numbers_need_country": False}


async def test_self_harm_gets_the_crisis_reply_with_crisis_line_first(executor):
    _, responses = await run(executor, "action_emergency_numbers",
                             tracker("i want to die", "self_harm", {"language": "en", "country": "RS"}))
    lines = responses[0]["text"].splitlines()
    assert lines[0] == "Emergency (all services): 112"
    assert lines[1].startswith("Crisis line") and lines[1].endswith("0800 300 303")
    assert responses[0]["text"] == text_of(
        "utter_self_harm_support", "en", numbers=emergency.load().numbers_for("RS", "en", self_harm=True))


async def test_self_harm_without_a_country_names_each_countrys_line(executor):
    _, responses = await run(executor, "action_emergency_numbers",
                             tracker("i want to die", "self_harm", {"language": "sq"}))
    lines = responses[0]["text"].splitlines()
    assert lines[0] == "Emergjenca (të gjitha shërbimet): 112"
    assert any(line.startswith("Serbia – Linja e krizës") for line in lines)
    assert responses[1]["text"] == text_of("utter_ask_location_for_numbers", "sq")


async def test_confirmed_erasure_tells_the_app_to_erase(executor):
    _, responses = await run(executor, "action_delete_my_data", tracker("yes", "affirm", {"language": "mk"}))
    assert responses[0]["text"] == text_of("utter_data_deleted", "mk")
    assert responses[1]["custom"] == {"erase_conversation": True}


async def test_fallback_asks_again_then_offers_a_person(executor):
    _, first = await run(executor, "action_fallback", tracker("asdf", "nlu_fallback", {"fallback_count": 1}))
    _, second = await run(executor, "action_fallback", tracker("qwer", "nlu_fallback", {"fallback_count": 2}))
    assert first[0]["text"] == text_of("utter_ask_rephrase", "en")
    assert second[0]["text"] == text_of("utter_offer_counsellor", "en")


@pytest.fixture
def directory(sqlite_url, monkeypatch):
    """A demo directory the action server reads, through its own settings."""
    from actions.services import sessions
    from bot.runner import prepare_directory
    from bot.settings import Settings, get_settings

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    sessions.cache_clear()
    prepare_directory(Settings(database_url=sqlite_url))
    yield sqlite_url
    get_settings.cache_clear()
    sessions.cache_clear()


def need_events(url):
    from sqlalchemy import create_engine, text

    with create_engine(url).connect() as connection:
        return connection.execute(text("SELECT category, country, found, language, channel FROM directory_need_events")).all()


async def test_services_near_her_in_her_language_then_more(executor, directory):
    from bot.places import Gazetteer

    nis = Gazetteer.load().resolve("Niš")
    state = tracker("treba mi advokat", "seek_legal_aid", {
        "language": "sr", "service_category": "legal_aid", "place_id": nis.id,
        "location": nis.name, "country": "RS"})
    slots, responses = await run(executor, "action_find_services", state)
    texts = [r.get("text") for r in responses]
    assert texts[0] == text_of("utter_services_nearby", "sr", location="Niš")
    assert texts[1].startswith("1. ") and "☎ +000 0000" in texts[1]
    assert text_of("utter_demo_notice", "sr") in texts
    assert responses[-1]["text"] == text_of("utter_services_next", "sr")
    assert slots == {"last_search": f"legal_aid|{nis.id}", "results_offset": 0}
    assert need_events(directory) == [("legal_aid", "RS", 1, "sr", "web")]

    state.update(latest_message={"text": "/affirm", "intent": {"name": "affirm"}, "entities": []})
    state["slots"].update(slots)
    slots, responses = await run(executor, "action_find_services", state)
    assert slots["results_offset"] == 3
    assert len(need_events(directory)) == 1  # paging is not a new need


async def test_egov_procedure_steps_in_her_language(executor, directory):
    state = tracker("kako da apliciram za dečji dodatak", "seek_egov_service", {
        "language": "sr", "service_category": "egov_service", "location": "-", "country": "RS"})
    state["events"] = [{"event": "user", "text": "kako da apliciram za dečji dodatak",
                        "parse_data": {"intent": {"name": "seek_egov_service"}}}]
    _, responses = await run(executor, "action_find_services", state)
    first = responses[1]["text"]
    assert "euprava.gov.rs" in first
    assert text_of("utter_egov_all_online", "sr") in first or text_of("utter_egov_visit_needed", "sr") in first


async def test_nothing_found_is_said_plainly_with_numbers(executor, sqlite_url, monkeypatch):
    from actions.services import sessions
    from bot.directory.migrate import upgrade
    from bot.settings import get_settings

    upgrade(sqlite_url)  # an empty directory
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    sessions.cache_clear()
    _, responses = await run(executor, "action_find_services", tracker("", "seek_shelter", {
        "language": "en", "service_category": "shelter", "country": "ME", "location": "-"}))
    assert responses[0]["text"] == text_of(
        "utter_services_none", "en", numbers=emergency.load().numbers_for("ME", "en"))
    assert need_events(sqlite_url) == [("shelter", "ME", 0, "en", "web")]
    get_settings.cache_clear()
    sessions.cache_clear()
