""""He watches my phone": she is warned, first and once, that he may see this chat too."""

from __future__ import annotations

import pytest

from bot import emergency
from rasa_components.lexicon import load_lexicon, match, mentions_watched_device
from tests.executor import run, tracker
from tests.helpers import text_of

WARNING = "utter_watched_device_warning"

WATCHED = [
    "he reads all my messages at night",
    "my ex put a tracking app on my phone",
    "he always knows my location, he has all my passwords",
    "hes been checking my phone every day",
    "ma kontrollon telefonin cdo dite",
    "ai i di fjalekalimet e mia",
    "instaloi nje aplikacion ne telefonin tim",
    "muz mi cita poruke",
    "instalirao mi je aplikaciju na telefon",
    "зна ми лозинку од мејла",
    "ми го проверува телефонот секоја вечер",
    "mi ja sledi lokacijata",
]
NOT_WATCHED = [
    "is this chat anonymous?",
    "who reads my messages here",
    "do you track my location",
    "my phone is broken",
    "he called me 40 times today",
    "kush i lexon mesazhet",
    "ko cita ove poruke",
    "koj gi cita porakite",
    "telefonot mi e skrsen",
]


@pytest.fixture(scope="module")
def lexicon():
    return load_lexicon()


@pytest.mark.parametrize("text", WATCHED)
def test_a_watched_phone_or_account_is_recognised(lexicon, text):
    assert mentions_watched_device(lexicon, text)
    assert match(lexicon, text) is None  # not an intent: the model still decides what she asks


@pytest.mark.parametrize("text", NOT_WATCHED)
def test_questions_about_this_chat_and_other_phone_talk_are_not(lexicon, text):
    assert not mentions_watched_device(lexicon, text)


async def test_the_warning_comes_first_then_the_welcome():
    slots, texts = await run("action_validate_slot_mappings", tracker(
        "he reads all my messages and knows my passwords, what can i do", "report_online_violence"))
    assert texts[0] == text_of(WARNING, "en")
    assert texts[1] == text_of("utter_welcome", "en", retention_period="24 hours")
    assert slots["warned_watched_device"] is True


async def test_the_warning_is_in_the_language_she_just_wrote_in():
    _, texts = await run("action_validate_slot_mappings", tracker(
        "bivsi mi cita poruke i zna sve moje sifre, sta da radim", "report_online_violence"))
    assert texts[0] == text_of(WARNING, "sr")


async def test_the_warning_is_given_once_per_conversation():
    slots, texts = await run("action_validate_slot_mappings", tracker(
        "he reads my messages again", "report_online_violence",
        language="en", welcomed=True, warned_watched_device=True))
    assert texts == [] and "warned_watched_device" not in slots


async def test_no_warning_without_a_watched_device_or_for_a_button():
    for text in ("i need a lawyer", '/report_online_violence{"text": "he reads my messages"}'):
        slots, texts = await run("action_validate_slot_mappings",
                                 tracker(text, "seek_legal_aid", language="en", welcomed=True))
        assert texts == [] and "warned_watched_device" not in slots


async def test_in_danger_the_numbers_come_first_then_the_warning():
    text = "he is hitting me, he reads my messages so he will see this"
    slots, texts = await run("action_validate_slot_mappings", tracker(text, "immediate_danger"))
    assert texts == [] and "warned_watched_device" not in slots
    slots, texts = await run("action_emergency_numbers",
                             tracker(text, "immediate_danger", language="en", welcomed=True, country="RS"))
    numbers = emergency.load().for_country("RS", "en")
    assert texts == [text_of("utter_emergency_numbers", "en", numbers=numbers), text_of(WARNING, "en")]
    assert slots["warned_watched_device"] is True


async def test_after_numbers_without_a_country_the_question_of_her_place_comes_last():
    _, texts = await run("action_emergency_numbers", tracker(
        "i want to die, he checks my phone", "self_harm", language="en", welcomed=True))
    assert texts[1:] == [text_of(WARNING, "en"), text_of("utter_ask_location_for_numbers", "en")]
