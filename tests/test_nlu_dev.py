"""The development set is our own: big enough to tune on, and sharing nothing with the other sets."""

from __future__ import annotations

from collections import Counter

import pytest

from bot.settings import LANGUAGES
from tests.helpers import domain
from tests.nlu_examples import DEV_DIR, HOLDOUT_DIR, TRAINING_DIR, read

SAFETY_INTENTS = ("immediate_danger", "self_harm")


@pytest.mark.parametrize("language", LANGUAGES)
def test_dev_set_shares_no_example_with_training_or_held_out_data(language):
    dev = {example.text.casefold() for example in read(DEV_DIR / f"{language}.yml")}
    for other in (TRAINING_DIR, HOLDOUT_DIR):
        shared = dev & {example.text.casefold() for example in read(other / f"{language}.yml")}
        assert not shared, (other.name, sorted(shared))


@pytest.mark.parametrize("language", LANGUAGES)
def test_dev_set_is_big_enough_and_uses_the_contract_intents(language):
    examples = read(DEV_DIR / f"{language}.yml")
    counts = Counter(example.intent for example in examples)
    assert set(counts) <= set(domain()["intents"]), set(counts) - set(domain()["intents"])
    assert counts["immediate_danger"] >= 40 and counts["self_harm"] >= 30, counts
    assert sum(n for intent, n in counts.items() if intent not in SAFETY_INTENTS) >= 60, counts
    texts = [example.text.casefold() for example in examples]
    assert len(texts) == len(set(texts)), [t for t, n in Counter(texts).items() if n > 1]
