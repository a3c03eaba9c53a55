"""Examples of the NLU data files, as plain messages, for checks that run without the model.

Three sets, kept apart so the reported figures stay honest:
- ``nlu_data/nlu``: what the model is trained on;
- ``tests/nlu_dev``: our development set, which the safety lexicon and the
  language handling are tuned on;
- ``tests/nlu_holdout``: what ``make eval`` reports; nothing is tuned on it,
  so nothing here reads it except the check that the sets do not overlap.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import NamedTuple

import yaml

from bot.settings import PROJECT_ROOT

TRAINING_DIR = PROJECT_ROOT / "nlu_data" / "nlu"
DEV_DIR = PROJECT_ROOT / "tests" / "nlu_dev"
HOLDOUT_DIR = PROJECT_ROOT / "tests" / "nlu_holdout"
# "[Niš](location)" or '[shqip]{"entity": "language", "value": "sq"}'
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\(([^)]*)\)|(\{[^}]*\}))")


class Example(NamedTuple):
    intent: str
    text: str  # as she would type it: annotations removed
    language: str | None  # the value of an annotated `language` entity


def read(path: Path) -> list[Example]:
    """Every example of one Rasa NLU YAML file."""
    found = []
    for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
        for line in block["examples"].splitlines():
            if line.strip().startswith("- "):
                found.append(_example(block["intent"], line.strip()[2:]))
    return found


def _example(intent: str, annotated: str) -> Example:
    language = None
    for match in _ANNOTATION.finditer(annotated):
        entity = json.loads(match.group(3)) if match.group(3) else {"entity": match.group(2)}
        if entity.get("entity") == "language":
            language = entity.get("value")
    return Example(intent, _ANNOTATION.sub(r"\1", annotated), language)


def dev_and_training(language: str) -> list[Example]:
    """What the deterministic parts may be tuned on, for one language."""
    return read(DEV_DIR / f"{language}.yml") + read(TRAINING_DIR / f"{language}.yml")
