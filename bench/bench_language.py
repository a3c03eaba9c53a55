"""Latency of language detection (bot.language.detect) on the development and training messages.

Prints p50/p95/p99 in milliseconds and accuracy per language for messages long
enough to be decided. The held-out set (tests/nlu_holdout) is left to
``make eval``: tuning detection on it would make the figures it reports dishonest.
Run: .venv/bin/python bench/bench_language.py
"""

from __future__ import annotations

import statistics
import time
from collections import Counter

from bot.language import detect
from bot.settings import LANGUAGES
from tests.nlu_examples import dev_and_training


def messages(language: str) -> list[str]:
    return [example.text for example in dev_and_training(language)]


def main() -> None:
    detect("warm up the detector with a sentence")
    timings: list[float] = []
    for language in LANGUAGES:
        outcomes: Counter[str] = Counter()
        for text in messages(language):
            start = time.perf_counter()
            found = detect(text)
            timings.append((time.perf_counter() - start) * 1000)
            outcomes["undecided" if found is None else "right" if found == language else "wrong"] += 1
        decided = outcomes["right"] + outcomes["wrong"]
        print(f"{language}: {outcomes['right']}/{decided} right when decided "
              f"({outcomes['undecided']} too short or unclear)")
    q = statistics.quantiles(timings, n=100)
    print(f"latency over {len(timings)} messages: p50 {q[49]:.3f} ms, p95 {q[94]:.3f} ms, p99 {q[98]:.3f} ms")


if __name__ == "__main__":
    main()
