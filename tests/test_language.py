"""Language detection and her explicit choice of a language, on our development and training messages.

Never on the held-out set, which ``make eval`` reports.
"""

from __future__ import annotations

import json

import pytest

from bench.bench_language import messages
from bot.language import detect, explicit_choice, from_hint
from bot.settings import LANGUAGES
from tests.executor import run, tracker
from tests.helpers import domain
from tests.nlu_examples import dev_and_training


@pytest.mark.parametrize("language", LANGUAGES)
def test_detection_is_right_on_our_messages(language):
    decided = [found for found in map(detect, messages(language)) if found]
    right = sum(found == language for found in decided)
    assert len(decided) >= 0.6 * len(messages(language)), (len(decided), len(messages(language)))
    assert right >= 0.88 * len(decided), (right, len(decided))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("treba mi besplatan advokat u Novom Sadu", "sr"),
        ("sakam da zboram so nekoj za nasilstvo", "mk"),
        ("ми треба адвокат во Скопје", "mk"),
        ("треба ми адвокат у Београду", "sr"),
        ("me duhet nje avokat falas ne Tirane", "sq"),
        ("I need a lawyer for my divorce", "en"),
        ("ok", None),
        ("da", None),
    ],
)
def test_examples(text, expected):
    assert detect(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("English please", "en"), ("in english", "en"), ("english", "en"), ("anglisht", "en"),
        ("na srpskom", "sr"), ("srpski", "sr"), ("на српски", "sr"),
        ("shqip ju lutem", "sq"), ("po shqip", "sq"),
        ("македонски", "mk"), ("na makedonski", "mk"),
        ("my husband speaks english", None), ("i dont speak english", None), ("ne znam engleski", None),
        ("is this chat in english?", None), ("english or srpski", None), ("ok", None), ("da", None),
        ('/choose_language{"language": "en"}', None),
    ],
)
def test_an_explicit_choice_is_read_without_the_model(text, expected):
    assert explicit_choice(text) == expected


def test_the_language_buttons_titles_are_choices():
    for button in domain()["responses"]["utter_welcome"][0]["buttons"]:
        payload = json.loads(button["payload"].removeprefix("/choose_language"))
        assert explicit_choice(button["title"]) == payload["language"], button


@pytest.mark.parametrize("language", LANGUAGES)
def test_choices_in_our_messages_are_read_and_nothing_else_is_taken_for_one(language):
    examples = dev_and_training(language)
    choices = [e for e in examples if e.intent == "choose_language"]
    wrong = [(e.text, explicit_choice(e.text)) for e in choices if explicit_choice(e.text) not in (None, e.language)]
    read = sum(explicit_choice(e.text) == e.language for e in choices)
    taken = [(e.intent, e.text) for e in examples if e.intent != "choose_language" and explicit_choice(e.text)]
    assert wrong == [] and taken == []
    assert read >= 0.9 * len(choices), f"{language}: {read}/{len(choices)} choices read"


async def test_her_choice_wins_over_the_model_and_detection():
    # The model took "anglisht" (Albanian for "English") for something else, with no entity.
    slots, _ = await run("action_validate_slot_mappings",
                         tracker("anglisht ju lutem", "inform_location", language="sq", welcomed=True))
    assert slots["language"] == "en"


@pytest.mark.parametrize(("hint", "expected"), [
    ("en", "en"), ("sq", "sq"), ("mk", "mk"), ("sr", "sr"), ("hr", "sr"), ("bs", "sr"), ("me", "sr"),
    ("sr-Latn", "sr"), ("EN", "en"), ("de", None), ("", None), (None, None),
])
def test_a_platforms_language_hint_names_one_of_ours(hint, expected):
    assert from_hint(hint) == expected
