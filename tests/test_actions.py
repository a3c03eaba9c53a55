"""Custom actions through rasa-sdk's executor, as Rasa calls them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bot.directives import HANDOFF_DIRECTIVE
from rasa_sdk.executor import ActionExecutor

from bot import emergency
from bot.places import Gazetteer
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


def texts(responses: list[dict]) -> list[str]:
    """What she reads: the texts of the responses (not the directives to the app)."""
    return [r["text"] for r in responses if r.get("text")]


async def test_first_message_gets_the_welcome_in_her_language(executor):
    slots, responses = await run(executor, "action_validate_slot_mappings",
                                 tracker("zdravo, treba mi pomoc oko razvoda", "seek_legal_aid"))
    assert slots["language"] == "sr" and slots["welcomed"] is True
    assert responses[0]["text"] == text_of("utter_welcome", "sr", retention_period="24 sata")
    assert [b["payload"] for b in responses[0]["buttons"]][0] == '/choose_language{"language": "en"}'


async def test_first_message_about_danger_gets_nothing_before_the_numbers(executor):
    slots, responses = await run(executor, "action_validate_slot_mappings",
                                 tracker("he is hitting me right now", "immediate_danger"))
    assert texts(responses) == [] and slots["welcomed"] is True and slots["language"] == "en"


async def test_an_explicit_language_choice_wins_over_detection(executor):
    state = tracker("/choose_language", "choose_language", {"language": "sq", "welcomed": True},
                    entities=[{"entity": "language", "value": "mk"}])
    slots, responses = await run(executor, "action_validate_slot_mappings", state)
    assert slots["language"] == "mk" and texts(responses) == []


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
    assert texts(responses) == [text_of("utter_emergency_numbers", "sr", numbers=numbers)]
    assert responses[0]["text"].splitlines()[0] == "Hitne službe (sve): 112"
    assert slots == {"numbers_need_country": False}


async def test_numbers_without_a_country_cover_the_region_then_ask_her_place(executor):
    slots, responses = await run(executor, "action_emergency_numbers",
                                 tracker("help", "immediate_danger", {"language": "en"}))
    assert responses[0]["text"] == text_of(
        "utter_emergency_numbers", "en", numbers=emergency.load().numbers_for(None, "en"))
    assert responses[0]["text"].splitlines()[0] == "Emergency (all services): 112"
    assert "0800 100 007" in responses[0]["text"] and "116 117" in responses[0]["text"]
    assert texts(responses)[1] == text_of("utter_ask_location_for_numbers", "en")
    assert slots == {"numbers_need_country": True}
    tirana = Gazetteer.load().resolve("Tirana")
    slots, responses = await run(executor, "action_location_received",
                                 tracker("Tirana", "inform_location", {"language": "en", "country": "AL",
                                         "place_id": tirana.id, "numbers_need_country": True}))
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
    assert texts(responses)[1] == text_of("utter_ask_location_for_numbers", "sq")


async def test_confirmed_erasure_tells_the_app_to_erase(executor):
    _, responses = await run(executor, "action_delete_my_data", tracker("yes", "affirm", {"language": "mk"}))
    assert responses[0]["text"] == text_of("utter_data_deleted", "mk")
    assert responses[1]["custom"] == {"erase_conversation": True}


async def test_fallback_asks_again_then_offers_a_person(executor):
    _, first = await run(executor, "action_fallback", tracker("asdf", "nlu_fallback", {"fallback_count": 1}))
    _, second = await run(executor, "action_fallback", tracker("qwer", "nlu_fallback", {"fallback_count": 2}))
    assert first[0]["text"] == text_of("utter_ask_rephrase", "en")
    assert second[0]["text"] == text_of("utter_offer_counsellor", "en")


@contextmanager
def demo_directory(url: str) -> Iterator[str]:
    """A demo directory the action server reads, through its own settings."""
    from actions.services import sessions
    from bot.runner import prepare_directory
    from bot.settings import Settings, get_settings

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("DATABASE_URL", url)
        get_settings.cache_clear()
        sessions.cache_clear()
        prepare_directory(Settings(database_url=url))
        yield url
    get_settings.cache_clear()
    sessions.cache_clear()


@pytest.fixture
def directory(sqlite_url):
    with demo_directory(sqlite_url) as url:
        yield url


@pytest.fixture(scope="module")
def shared_directory(tmp_path_factory):
    """One demo directory for the many cases of the hostile-input tests."""
    with demo_directory(f"sqlite:///{tmp_path_factory.mktemp('directory') / 'helpline.db'}") as url:
        yield url


def need_events(url):
    from sqlalchemy import create_engine, text

    with create_engine(url).connect() as connection:
        return connection.execute(text("SELECT category, country, found, language, channel FROM directory_need_events")).all()


async def test_services_near_her_in_her_language_then_more(executor, directory):
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


def request_in(town: str, category: str, language: str) -> dict[str, Any]:
    place = Gazetteer.load().resolve(town)
    return tracker("", f"seek_{category}", {
        "language": language, "service_category": category, "place_id": place.id,
        "location": place.name, "country": place.country})


async def test_nothing_in_her_town_names_the_town_then_the_nearest(executor, directory):
    # The demo directory has no legal aid in Novi Sad: the nearest are in Beograd and Niš.
    _, responses = await run(executor, "action_find_services", request_in("Novi Sad", "legal_aid", "en"))
    shown = texts(responses)
    assert shown[0] == text_of("utter_services_none_nearby_national", "en", location="Novi Sad")
    assert shown[0].startswith("I found nothing in Novi Sad.")
    assert shown[1].startswith("1. ") and "Belgrade" in shown[1]
    assert text_of("utter_services_national", "en") not in shown


async def test_nothing_in_her_town_but_remote_services_names_the_town(executor, directory):
    _, responses = await run(executor, "action_find_services",
                             request_in("Novi Sad", "online_violence_support", "mk"))
    assert texts(responses)[0] == text_of("utter_services_none_nearby_country_wide", "mk", location="Novi Sad")


async def test_without_her_place_no_town_is_named(executor, directory):
    _, responses = await run(executor, "action_find_services", tracker("", "report_online_violence", {
        "language": "en", "service_category": "online_violence_support", "location": "-", "country": "RS"}))
    assert texts(responses)[0] == text_of("utter_services_country_wide", "en")


def nis_legal_aid() -> dict[str, Any]:
    nis = Gazetteer.load().resolve("Niš")
    return tracker("treba mi advokat", "seek_legal_aid", {
        "language": "sr", "service_category": "legal_aid", "place_id": nis.id,
        "location": nis.name, "country": "RS"})


async def test_a_failed_need_event_never_costs_her_the_search(executor, directory):
    from sqlalchemy import create_engine, text

    with create_engine(directory).begin() as connection:
        connection.execute(text("DROP TABLE directory_need_events"))
    logged: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: logged.append(record.getMessage())  # as written, before any filter
    logging.getLogger("actions.services").addHandler(handler)
    try:
        slots, responses = await run(executor, "action_find_services", nis_legal_aid())
    finally:
        logging.getLogger("actions.services").removeHandler(handler)
    assert texts(responses)[0] == text_of("utter_services_nearby", "sr", location="Niš")
    assert texts(responses)[1].startswith("1. ")
    assert slots["results_offset"] == 0
    assert logged == ["need event not recorded: OperationalError"]  # its type: no values, no sender


async def test_the_search_runs_off_the_event_loop(executor, directory, monkeypatch):
    import threading

    import actions.services

    threads = []

    def recording_search(*args, **kwargs):
        threads.append(threading.get_ident())
        return search(*args, **kwargs)

    search = actions.services.search
    monkeypatch.setattr(actions.services, "search", recording_search)
    _, responses = await run(executor, "action_find_services", nis_legal_aid())
    assert texts(responses)[1].startswith("1. ")
    assert threads and threading.get_ident() not in threads


# What a `/intent{...}` shortcut (or a stale conversation) can put in a slot.
HOSTILE = [
    "x", "", "LEGAL_AID", "gn:0", "x" * 10_000, "novoga " * 1_500, "{\"a\": 1}",
    {"a": {"b": [1, {"c": None}]}}, ["legal_aid", "shelter"], [], 42, -1.5, True, None,
]
TEXT_SLOTS = ("service_category", "place_id", "country", "location", "language")
# Every custom action but the two that only ever say one fixed text.
REPLYING_ACTIONS = ("action_acknowledge_service", "action_emergency_numbers", "action_location_received",
                    "action_find_services", "action_request_human", "action_fallback")


def hostile_state(intent: str, value: Any, slots: dict[str, Any]) -> dict[str, Any]:
    """Her message as Rasa hands it over: every entity set to ``value``, and ``slots``."""
    shortcut = json.dumps({name: value for name in domain()["entities"]})
    entities = [{"entity": name, "value": value} for name in domain()["entities"]]
    return tracker(f"/{intent}{shortcut}", intent, {"welcomed": True, **slots}, entities=entities)


def valid_slots(slots: dict[str, Any]) -> bool:
    def allowed(name: str) -> list[Any]:
        return domain()["slots"][name]["values"]

    return (
        slots["language"] in allowed("language")
        and slots["service_category"] in [None, *allowed("service_category")]
        and slots["country"] in [None, *allowed("country")]
        and (slots["place_id"] is None or Gazetteer.load().get(slots["place_id"]) is not None)
        and (slots["location"] is None or isinstance(slots["location"], str) and len(slots["location"]) <= 100)
    )


async def replies_of_every_action(executor, state: dict[str, Any], case: str) -> None:
    for action in REPLYING_ACTIONS:
        _, responses = await run(executor, action, state)
        handoff = [(r.get("custom") or {}).get(HANDOFF_DIRECTIVE) for r in responses]
        if action == "action_request_human":  # the app's handoff answers her
            assert handoff[-1]["reason"] == "asked", (case, responses)
            continue
        assert any((r.get("text") or "").strip() for r in responses), (case, action, responses)


@pytest.mark.parametrize("intent", domain()["intents"])
async def test_hostile_shortcut_values_are_validated_and_every_action_replies(
    executor, shared_directory, intent
):
    for value in HOSTILE:
        case = f"/{intent} with {str(value)[:30]!r}"
        # Rasa fills service_category from the entity; old slots may hold anything too.
        state = hostile_state(intent, value, {name: value for name in TEXT_SLOTS})
        await replies_of_every_action(executor, state, case)  # the actions alone never fail
        slots, _ = await run(executor, "action_validate_slot_mappings", state)
        state["slots"].update(slots)
        assert valid_slots(state["slots"]), (case, {k: str(v)[:30] for k, v in state["slots"].items()})
        await replies_of_every_action(executor, state, case)


@pytest.mark.parametrize("slot", TEXT_SLOTS)
async def test_one_hostile_slot_among_good_ones_is_reset_alone(executor, shared_directory, slot):
    nis = Gazetteer.load().resolve("Niš")
    good = {"language": "sr", "service_category": "legal_aid", "place_id": nis.id,
            "location": nis.name, "country": "RS"}
    for value in HOSTILE:
        state = tracker("ok", "affirm", {"welcomed": True, **good, slot: value})
        slots, _ = await run(executor, "action_validate_slot_mappings", state)
        state["slots"].update(slots)
        assert valid_slots(state["slots"]), (slot, str(value)[:30])
        assert {k: state["slots"][k] for k in good if k != slot} == {k: v for k, v in good.items() if k != slot}
        await replies_of_every_action(executor, state, f"{slot}={str(value)[:30]!r}")


async def test_an_unknown_category_asks_what_she_is_looking_for(executor, directory):
    state = tracker("/seek_legal_aid", "seek_legal_aid", {"language": "mk", "service_category": "x",
                                                          "location": "-", "country": "MK"})
    for action in ("action_acknowledge_service", "action_find_services"):
        _, responses = await run(executor, action, state)
        assert [r["text"] for r in responses] == [text_of("utter_how_can_i_help", "mk")]


async def test_a_stale_place_asks_again_where_she_is(executor, directory):
    state = tracker("/affirm", "affirm", {"language": "en", "service_category": "shelter",
                                          "place_id": "gn:0", "location": "Atlantis", "country": "RS"})
    slots, _ = await run(executor, "action_validate_slot_mappings", state)
    assert slots["place_id"] is None and "location" not in slots  # her words are kept as text
    state["slots"].update(slots)
    slots, responses = await run(executor, "action_find_services", state)
    assert [r["text"] for r in responses] == [text_of("utter_location_unknown", "en")]
    assert slots == {"location": None}
    state["latest_message"].update(text="Atlantis", intent={"name": "inform_location"})
    _, responses = await run(executor, "action_location_received", state)
    assert [r["text"] for r in responses] == [text_of("utter_location_unknown", "en")]


def test_every_category_of_the_domain_is_a_directory_category_with_an_acknowledgement():
    from bot.directory.models import Category

    for category in domain()["slots"]["service_category"]["values"]:
        assert Category(category) and f"utter_ack_{category}" in domain()["responses"]


async def test_an_unknown_category_in_a_shortcut_falls_back_to_the_intents(executor):
    state = tracker('/seek_legal_aid{"service_category": "x"}', "seek_legal_aid",
                    {"welcomed": True, "service_category": "x"})
    slots, _ = await run(executor, "action_validate_slot_mappings", state)
    assert slots["service_category"] == "legal_aid"


@pytest.mark.parametrize("intent", ["immediate_danger", "ask_privacy", "request_human"])
async def test_a_town_named_while_asking_something_else_is_not_the_forms_answer(executor, intent):
    """ "He is beating me, I am in Novi Sad" while the form asks her place: numbers for Serbia, no search."""
    state = tracker("he is beating me, I am in Novi Sad", intent,
                    {"welcomed": True, "language": "en", "requested_slot": "location"},
                    entities=[{"entity": "location", "value": "Novi Sad"}])
    slots, _ = await run(executor, "action_validate_slot_mappings", state)
    assert slots.get("country") == "RS"
    assert "location" not in slots and "place_id" not in slots


async def test_numbers_asked_during_the_form_then_her_town_gives_her_countrys_numbers_first(
    executor, directory
):
    state = tracker("what is the police number", "ask_emergency_numbers",
                    {"language": "en", "service_category": "legal_aid", "requested_slot": "location"})
    state["active_loop"] = {"name": "service_search_form"}
    slots, responses = await run(executor, "action_emergency_numbers", state)
    texts = [r["text"] for r in responses if r.get("text")]
    assert len(texts) == 1 and slots["numbers_need_country"] is True  # the form asks her place next
    from bot.places import Gazetteer

    nis = Gazetteer.load().resolve("Niš")
    state = tracker("Nis", "inform_location", {
        "language": "en", "service_category": "legal_aid", "place_id": nis.id, "location": nis.name,
        "country": "RS", "numbers_need_country": True})
    slots, responses = await run(executor, "action_find_services", state)
    numbers = emergency.load().numbers_for("RS", "en")
    assert responses[0]["text"] == text_of("utter_emergency_numbers", "en", numbers=numbers)
    assert slots["numbers_need_country"] is False and responses[1]["text"] != responses[0]["text"]


async def test_an_undecided_first_message_gets_the_configured_default_language(executor, monkeypatch):
    from bot.settings import get_settings

    monkeypatch.setenv("DEFAULT_LANGUAGE", "sq")
    get_settings.cache_clear()
    try:  # the domain's initial value ("en") stands in only until the first turn
        slots, responses = await run(executor, "action_validate_slot_mappings",
                                     tracker("ok", "affirm", {"language": "en"}))
    finally:
        get_settings.cache_clear()
    assert slots["language"] == "sq"
    assert responses[0]["text"] == text_of("utter_welcome", "sq", retention_period="24 orë")


# How long her conversation is kept, as each language writes it (CLDR plural forms).
RETENTION_PERIODS = {
    1: {"en": "1 hour", "sq": "1 orë", "sr": "1 sat", "mk": "1 час"},
    2: {"en": "2 hours", "sq": "2 orë", "sr": "2 sata", "mk": "2 часа"},
    5: {"en": "5 hours", "sq": "5 orë", "sr": "5 sati", "mk": "5 часа"},
    11: {"en": "11 hours", "sq": "11 orë", "sr": "11 sati", "mk": "11 часа"},
    21: {"en": "21 hours", "sq": "21 orë", "sr": "21 sat", "mk": "21 час"},
    24: {"en": "24 hours", "sq": "24 orë", "sr": "24 sata", "mk": "24 часа"},
    48: {"en": "48 hours", "sq": "48 orë", "sr": "48 sati", "mk": "48 часа"},
}


@pytest.fixture
def retention_hours(monkeypatch):
    """Set CONVERSATION_RETENTION_HOURS for one test."""
    from bot.settings import get_settings

    def set_hours(hours: int) -> None:
        monkeypatch.setenv("CONVERSATION_RETENTION_HOURS", str(hours))
        get_settings.cache_clear()

    yield set_hours
    get_settings.cache_clear()


def choosing(language: str, slots: dict[str, Any] | None = None) -> dict[str, Any]:
    return tracker("/choose_language", "choose_language", slots,
                   entities=[{"entity": "language", "value": language}])


@pytest.mark.parametrize("language", ["en", "sq", "sr", "mk"])
@pytest.mark.parametrize("hours", sorted(RETENTION_PERIODS))
async def test_the_retention_period_is_written_as_her_language_counts(executor, retention_hours,
                                                                      hours, language):
    retention_hours(hours)
    slots, responses = await run(executor, "action_validate_slot_mappings", choosing(language))
    period = RETENTION_PERIODS[hours][language]
    assert slots["retention_period"] == period
    assert responses[0]["text"] == text_of("utter_welcome", language, retention_period=period)
    assert f" {period} " in responses[0]["text"]
    # Rasa renders the privacy note of a rule from the slot.
    assert f" {period} " in text_of("utter_privacy", language, retention_period=slots["retention_period"])


async def test_the_retention_period_follows_her_language(executor):
    welcomed = {"welcomed": True, "language": "sq", "retention_period": "24 orë"}
    slots, _ = await run(executor, "action_validate_slot_mappings", choosing("sr", welcomed))
    assert slots["retention_period"] == "24 sata"
    slots, _ = await run(executor, "action_validate_slot_mappings", choosing("sq", welcomed))
    assert "retention_period" not in slots
