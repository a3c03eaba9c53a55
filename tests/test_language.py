"""Language detection on the development and training messages (never the held-out set), and its refusals."""

from __future__ import annotations

import pytest

from bench.bench_language import messages
from bot.language import detect
from bot.settings import LANGUAGES


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
