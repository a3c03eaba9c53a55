"""Render a response of ``domain.yml`` in a given language.

Every text a woman sees is a response in ``domain.yml`` with one variation per
language (a condition on the ``language`` slot). Rasa renders them for rules;
custom actions render them here, from the domain Rasa sends with each call, so
that a slot set in the same turn (her language) is already taken into account.

A number in a text takes the form its language gives it ("1 hour", "21 sat",
"24 sata", "5 sati"): ``hours_text`` picks the response of the number's CLDR
plural category, so that the unit words too stay in ``domain.yml``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class MissingResponse(LookupError):
    """The response, or its variation in the requested language, does not exist."""


def render(responses: dict[str, Any], name: str, language: str, **values: Any) -> dict[str, Any]:
    """Return ``{"text": ..., "buttons": [...]}`` of response ``name`` in ``language``."""
    for variation in responses.get(name, ()):
        conditions = variation.get("condition") or []
        if any(c.get("name") == "language" and c.get("value") == language for c in conditions):
            rendered: dict[str, Any] = {"text": variation["text"].format(**values)}
            if variation.get("buttons"):
                rendered["buttons"] = variation["buttons"]
            return rendered
    raise MissingResponse(f"{name} has no variation for language {language!r}")


def _one_or_other(count: int) -> str:
    """English and Albanian: "1 hour", "21 hours"."""
    return "one" if count == 1 else "other"


def _one_by_last_digit(count: int) -> str:
    """Macedonian: "1 час", "21 час", but "11 часа"."""
    return "one" if count % 10 == 1 and count % 100 != 11 else "other"


def _one_few_other(count: int) -> str:
    """Serbian: "1 sat", "21 sat"; "2 sata", "24 sata"; "5 sati", "11 sati", "12 sati"."""
    last, last_two = count % 10, count % 100
    if last == 1 and last_two != 11:
        return "one"
    if 2 <= last <= 4 and not 12 <= last_two <= 14:
        return "few"
    return "other"


# CLDR's plural rules for whole numbers (v = 0), by language.
PLURAL_RULES: dict[str, Callable[[int], str]] = {
    "en": _one_or_other,
    "sq": _one_or_other,
    "mk": _one_by_last_digit,
    "sr": _one_few_other,
}
HOURS_RESPONSES = {"one": "utter_hours_one", "few": "utter_hours_few", "other": "utter_hours_other"}
DAYS_RESPONSES = {"one": "utter_days_one", "few": "utter_days_few", "other": "utter_days_other"}


def plural_category(language: str, count: int) -> str:
    """The CLDR plural category ("one", "few" or "other") of whole number ``count`` in ``language``."""
    return PLURAL_RULES[language](count)


def hours_text(responses: dict[str, Any], language: str, count: int) -> str:
    """``count`` hours in ``language``, e.g. "1 hour", "24 sata", "21 час"."""
    return _counted(responses, HOURS_RESPONSES, language, hours=count)


def days_text(responses: dict[str, Any], language: str, count: int) -> str:
    """``count`` days in ``language``, e.g. "1 day", "30 dana", "21 ден"."""
    return _counted(responses, DAYS_RESPONSES, language, days=count)


def _counted(responses: dict[str, Any], names: dict[str, str], language: str, **count: int) -> str:
    (number,) = count.values()
    return str(render(responses, names[plural_category(language, number)], language, **count)["text"])
