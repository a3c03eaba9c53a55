"""Latency of language detection (bot.language.detect) on the held-out messages.

Prints p50/p95/p99 in milliseconds and accuracy per language for messages long
enough to be decided. Run: .venv/bin/python bench/bench_language.py
"""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter

import yaml

from bot.language import detect
from bot.settings import LANGUAGES, PROJECT_ROOT

ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def messages(language: str) -> list[str]:
    data = yaml.safe_load((PROJECT_ROOT / "tests" / "nlu_holdout" / f"{language}.yml").read_text())
    return [ANNOTATION.sub(r"\1", line.strip()[2:]) for block in data["nlu"]
            for line in block["examples"].splitlines() if line.strip().startswith("- ")]


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
