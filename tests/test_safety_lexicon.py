"""The safety lexicon is precise on all our data and covers most danger and self-harm wording."""

from __future__ import annotations

import re

import pytest
import yaml

from bot.settings import LANGUAGES, PROJECT_ROOT
from rasa_components.lexicon import SAFETY_INTENTS, load_lexicon, match

ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def examples(language: str) -> list[tuple[str, str]]:
    found = []
    for path in (PROJECT_ROOT / "nlu_data" / "nlu" / f"{language}.yml",
                 PROJECT_ROOT / "tests" / "nlu_holdout" / f"{language}.yml"):
        for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
            for line in block["examples"].splitlines():
                if line.strip().startswith("- "):
                    found.append((block["intent"], ANNOTATION.sub(r"\1", line.strip()[2:])))
    return found


@pytest.fixture(scope="module")
def lexicon():
    return load_lexicon()


@pytest.mark.parametrize("language", LANGUAGES)
def test_never_fires_on_other_intents(lexicon, language):
    false_alarms = [(i, t, match(lexicon, t)) for i, t in examples(language)
                    if i not in SAFETY_INTENTS and match(lexicon, t)]
    assert false_alarms == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_covers_most_danger_and_self_harm(lexicon, language):
    for intent in SAFETY_INTENTS:
        texts = [t for i, t in examples(language) if i == intent]
        caught = [t for t in texts if match(lexicon, t) == intent]
        assert len(caught) >= 0.8 * len(texts), (intent, len(caught), len(texts))


def test_folding_makes_scripts_and_diacritics_equal(lexicon):
    assert match(lexicon, "УБИЋЕ МЕ") == match(lexicon, "ubice me") == match(lexicon, "ubiće me")
