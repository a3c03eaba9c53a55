"""Small helpers shared by tests: the domain's responses as she would see them."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import yaml

from bot.responses import render
from bot.settings import PROJECT_ROOT


@lru_cache
def domain() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))


def text_of(name: str, language: str, **values: Any) -> str:
    return render(domain()["responses"], name, language, **values)["text"]


def prefix_of(name: str, language: str) -> str:
    """The text of a response up to its first placeholder: enough to recognise it."""
    for variation in domain()["responses"][name]:
        if variation["condition"][0]["value"] == language:
            return variation["text"].split("{", 1)[0]
    raise KeyError((name, language))
