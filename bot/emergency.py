"""Emergency and helpline numbers, from ``bot/data/emergency_numbers.yml``.

The numbers, their labels and country names live in the data file, in every
language; this module only chooses and lays them out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

NUMBERS_FILE = Path(__file__).parent / "data" / "emergency_numbers.yml"
# What a woman in danger needs first comes first.
DANGER_ORDER = ("emergency", "police", "women_helpline", "ambulance", "crisis_line")
SELF_HARM_ORDER = ("crisis_line", "emergency", "ambulance", "women_helpline", "police")
# The shortest useful line per country when her country is not known yet.
REGION_KINDS = ("police", "women_helpline")


@dataclass(frozen=True)
class Number:
    kind: str
    number: str
    source: str
    checked: dt.date
    checked_by: str


@dataclass(frozen=True)
class Country:
    code: str
    names: dict[str, str]
    numbers: tuple[Number, ...]


@dataclass(frozen=True)
class Directory:
    labels: dict[str, dict[str, str]]
    countries: dict[str, Country]

    def for_country(self, code: str, language: str, self_harm: bool = False) -> str:
        """All numbers of one country, one per line, most urgent first."""
        order = SELF_HARM_ORDER if self_harm else DANGER_ORDER
        numbers = sorted(self.countries[code].numbers, key=lambda n: order.index(n.kind))
        return "\n".join(f"{self.labels[n.kind][language]}: {n.number}" for n in numbers)

    def for_region(self, language: str) -> str:
        """Police and the women's helpline of every country, one line per country."""
        lines = []
        for country in self.countries.values():
            numbers = [n.number for kind in REGION_KINDS for n in country.numbers if n.kind == kind]
            lines.append(f"{country.names[language]}: {' · '.join(numbers)}")
        return "\n".join(lines)

    def heading(self, language: str) -> str:
        """The labels that the region lines use, in order."""
        return " · ".join(self.labels[kind][language] for kind in REGION_KINDS)


@lru_cache
def load(path: Path = NUMBERS_FILE) -> Directory:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    countries = {
        code: Country(
            code=code,
            names=entry["name"],
            numbers=tuple(
                Number(n["kind"], n["number"], n["source"], n["checked"], n["checked_by"])
                for n in entry["numbers"]
            ),
        )
        for code, entry in data["countries"].items()
    }
    return Directory(labels=data["labels"], countries=countries)
