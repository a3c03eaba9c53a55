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
