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
# What a woman in danger needs first comes first: 112 works from any mobile
# phone where the file has it, so it is always the first line she reads; for
# self-harm the crisis line follows at once, before anything else.
DANGER_ORDER = ("emergency", "police", "women_helpline", "ambulance", "crisis_line")
SELF_HARM_ORDER = ("emergency", "crisis_line", "ambulance", "women_helpline", "police")
# The shortest useful line per country when her country is not known yet.
REGION_KINDS = ("police", "women_helpline")
# For self-harm, the first of these a country has (a person who listens).
SELF_HARM_REGION_KINDS = ("crisis_line", "women_helpline")


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

    def numbers_for(self, country: str | None, language: str, self_harm: bool = False) -> str:
        """The numbers block she reads, one per line, the number that works from any mobile first.

        Her country's numbers when it is known; otherwise 112 first, then a line
        per country (police and women's helpline, or for self-harm the crisis
        line, else the women's helpline, each named).
        """
        if isinstance(country, str) and country in self.countries:
            return self.for_country(country, language, self_harm=self_harm)
        lines = [self.emergency_line(language)]
        if self_harm:
            lines.append(self.for_region_self_harm(language))
        else:
            lines += [f"({self.heading(language)})", self.for_region(language)]
        return "\n".join(lines)

    def for_country(self, code: str, language: str, self_harm: bool = False) -> str:
        """All numbers of one country, one per line, most urgent first."""
        order = SELF_HARM_ORDER if self_harm else DANGER_ORDER
        numbers = sorted(self.countries[code].numbers, key=lambda n: order.index(n.kind))
        return "\n".join(f"{self.labels[n.kind][language]}: {n.number}" for n in numbers)

    def for_region(self, language: str) -> str:
        """Police and the women's helpline of every country, one line per country.

        One column per kind of the heading: several numbers of a kind are joined
        by " / ", a kind a country lacks is "–", so that no number reads as another kind.
        """
        lines = []
        for country in self.countries.values():
            columns = [
                " / ".join(n.number for n in country.numbers if n.kind == kind) or "–"
                for kind in REGION_KINDS
            ]
            lines.append(f"{country.names[language]}: {' · '.join(columns)}")
        return "\n".join(lines)

    def for_region_self_harm(self, language: str) -> str:
        """Per country, the crisis line where there is one, else the women's helpline, labelled."""
        lines = []
        for country in self.countries.values():
            for kind in SELF_HARM_REGION_KINDS:
                numbers = [n.number for n in country.numbers if n.kind == kind]
                if numbers:
                    label = self.labels[kind][language]
                    lines.append(f"{country.names[language]} – {label}: {' · '.join(numbers)}")
                    break
        return "\n".join(lines)

    def emergency_line(self, language: str) -> str:
        """The emergency number(s) of the file (112), labelled: what works wherever she is."""
        numbers = dict.fromkeys(
            n.number for c in self.countries.values() for n in c.numbers if n.kind == "emergency"
        )
        return f"{self.labels['emergency'][language]}: {' · '.join(numbers)}"

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
