"""Render a response of ``domain.yml`` in a given language.

Every text a woman sees is a response in ``domain.yml`` with one variation per
language (a condition on the ``language`` slot). Rasa renders them for rules;
custom actions render them here, from the domain Rasa sends with each call, so
that a slot set in the same turn (her language) is already taken into account.
"""

from __future__ import annotations

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
