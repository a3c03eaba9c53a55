"""Benchmark the gazetteer: load time, and p50/p95 of ``resolve`` and ``find_in``.

``find_in`` runs on every message a woman sends, so it has a budget of well
under 1 ms. The messages are generated from templates in the four languages
with town names as written (diacritics or not, Cyrillic, inflected) and a share
of messages naming no place, the common case.

    PYTHONPATH=. .venv/bin/python bench/bench_places.py [--messages 5000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from bot.places import Gazetteer, Place
from bot.text import fold

TEMPLATES = (
    "jam nga {}",
    "jetoj ne {} me femijet",
    "ne {} a ka strehimore",
    "živim u {}",
    "treba mi advokat, ja sam iz {} i ne znam kome da se obratim",
    "муж ме туче, живим у {}",
    "живеам во {} со децата",
    "ziveam vo {}",
    "i live in {} and need help",
    "{}",
)
NO_PLACE = (
    "he hits me every day and I am afraid to go home",
    "ok thank you",
    "I need a lawyer for the divorce",
    "ne znam šta da radim, on me prati svuda",
    "nuk kam para dhe burri me kercenon",
    "сакам да разговарам со некој",
    "can you tell me the police number",
    "a bar of soap",
)
INFLECT = ("", "u", "a", "e", "i", "om", "it", "es")


def _written(place: Place, rng: random.Random) -> str:
    """The place's name as a woman might type it: folded, lower case, inflected."""
    name = place.name
    choice = rng.random()
    if choice < 0.3:
        name = fold(name)
    elif choice < 0.5:
        name = name.lower()
    return name + rng.choice(INFLECT) if rng.random() < 0.4 else name


def messages(gazetteer: Gazetteer, count: int, seed: int = 7) -> tuple[list[str], list[str]]:
    """``count`` messages and the names written in them."""
    rng = random.Random(seed)
    towns = [p for p in gazetteer.places() if p.population >= 3000]
    texts, names = [], []
    for _ in range(count):
        name = _written(rng.choice(towns), rng)
        names.append(name)
        if rng.random() < 0.3:
            texts.append(rng.choice(NO_PLACE))
        else:
            texts.append(rng.choice(TEMPLATES).format(name))
    return texts, names


def percentiles(call: Callable[[str], object], inputs: list[str]) -> tuple[float, float, float]:
    """p50, p95 and max of ``call`` over ``inputs``, in microseconds."""
    timings = []
    for text in inputs:
        start = time.perf_counter()
        call(text)
        timings.append((time.perf_counter() - start) * 1e6)
    timings.sort()
    p95 = timings[int(0.95 * (len(timings) - 1))]
    return statistics.median(timings), p95, timings[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    args = parser.parse_args()

    start = time.perf_counter()
    gazetteer = Gazetteer.load()
    print(f"load: {time.perf_counter() - start:.2f} s, {len(gazetteer)} places")

    texts, names = messages(gazetteer, args.messages)
    found = sum(gazetteer.find_in(text) is not None for text in texts)
    print(f"{len(texts)} messages, {found} with a place found")
    for label, call, inputs in (
        ("resolve", gazetteer.resolve, names),
        ("find_in", gazetteer.find_in, texts),
    ):
        p50, p95, worst = percentiles(call, inputs)
        print(f"{label:8} p50 {p50:7.1f} µs   p95 {p95:7.1f} µs   max {worst:8.1f} µs")


if __name__ == "__main__":
    main()
