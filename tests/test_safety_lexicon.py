"""The safety lexicon catches danger and self-harm on our development set and never fires on anything else.

Tuned on the development set and the training data only (tests/nlu_examples.py):
the held-out set stays for ``make eval``.
"""

from __future__ import annotations

import pytest

from bot.settings import LANGUAGES
from rasa_components.lexicon import SAFETY_INTENTS, load_lexicon, match
from tests.nlu_examples import DEV_DIR, dev_and_training, read

MIN_RECALL = 0.95


@pytest.fixture(scope="module")
def lexicon():
    return load_lexicon()


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_false_alarm_on_dev_and_training_messages(lexicon, language):
    others = [e for e in dev_and_training(language) if e.intent not in SAFETY_INTENTS]
    false_alarms = [(e.intent, e.text, match(lexicon, e.text)) for e in others if match(lexicon, e.text)]
    assert false_alarms == [], f"{len(false_alarms)} false alarms in {len(others)} messages"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("intent", SAFETY_INTENTS)
def test_recall_on_the_dev_set(lexicon, language, intent):
    texts = [e.text for e in read(DEV_DIR / f"{language}.yml") if e.intent == intent]
    missed = [t for t in texts if match(lexicon, t) != intent]
    recall = 1 - len(missed) / len(texts)
    assert recall >= MIN_RECALL, f"{language} {intent}: recall {recall:.3f} ({len(texts) - len(missed)}/{len(texts)}), missed {missed}"


def test_folding_makes_scripts_and_diacritics_equal(lexicon):
    assert match(lexicon, "УБИЋЕ МЕ") == match(lexicon, "ubice me") == match(lexicon, "ubiće me")


def test_patterns_anchored_at_the_start_survive_leading_punctuation(lexicon):
    assert match(lexicon, "«😢 call the police") == match(lexicon, "call the police") == "immediate_danger"
