"""The safety lexicon: loading and matching, free of Rasa so both environments can test it.

Each language's file (``safety_lexicon/<lang>.yml``) lists regular expressions
per intent, matched with word boundaries against ``bot.text.fold(message)``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional, Text

import yaml

from bot.text import fold

LEXICON_DIR = Path(__file__).parent / "safety_lexicon"
# Checked in this order: self-harm wording ("I will kill myself") is more specific
# than danger wording ("kill").
SAFETY_INTENTS = ("self_harm", "immediate_danger")


def load_lexicon(directory: Path = LEXICON_DIR) -> Dict[Text, "re.Pattern[str]"]:
    """Compile every language's patterns into one regular expression per intent."""
    patterns: Dict[Text, List[Text]] = {intent: [] for intent in SAFETY_INTENTS}
    for path in sorted(directory.glob("*.yml")):
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for intent in SAFETY_INTENTS:
            patterns[intent].extend(entries.get(intent) or [])
    return {
        intent: re.compile(r"\b(?:" + "|".join(f"(?:{p})" for p in found) + r")\b")
        for intent, found in patterns.items()
        if found
    }


def match(lexicon: Dict[Text, "re.Pattern[str]"], text: Text) -> Optional[Text]:
    """Return the safety intent whose patterns match ``text``, if any."""
    folded = fold(text)
    for intent in SAFETY_INTENTS:
        pattern = lexicon.get(intent)
        if pattern is not None and pattern.search(folded):
            return intent
    return None
