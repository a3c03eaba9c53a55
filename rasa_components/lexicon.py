"""The safety lexicon: loading and matching, free of Rasa so both environments can test it.

Each language's file (``safety_lexicon/<lang>.yml``) lists regular expressions
per list, matched with word boundaries against ``bot.text.fold(message)``:
the two safety intents, and ``watched_device`` (he reads her messages, tracks
her phone), which is not an intent but makes the assistant warn her that he
may see this chat too.
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
WATCHED_DEVICE = "watched_device"
_LISTS = (*SAFETY_INTENTS, WATCHED_DEVICE)
# Leading "!!! ", "😢 " or quotes would defeat the patterns anchored at the
# start of her message ("^call the police"), which sit behind a word boundary.
_LEADING_NON_WORD = re.compile(r"^\W+")


def load_lexicon(directory: Path = LEXICON_DIR) -> Dict[Text, "re.Pattern[str]"]:
    """Compile every language's patterns into one regular expression per list."""
    patterns: Dict[Text, List[Text]] = {name: [] for name in _LISTS}
    for path in sorted(directory.glob("*.yml")):
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for name in _LISTS:
            patterns[name].extend(entries.get(name) or [])
    return {
        name: re.compile(r"\b(?:" + "|".join(f"(?:{p})" for p in found) + r")\b")
        for name, found in patterns.items()
        if found
    }


def match(lexicon: Dict[Text, "re.Pattern[str]"], text: Text) -> Optional[Text]:
    """Return the safety intent whose patterns match ``text``, if any."""
    folded = _prepared(text)
    for intent in SAFETY_INTENTS:
        pattern = lexicon.get(intent)
        if pattern is not None and pattern.search(folded):
            return intent
    return None


def mentions_watched_device(lexicon: Dict[Text, "re.Pattern[str]"], text: Text) -> bool:
    """Whether she says he watches her phone or accounts (reads, tracks, has her passwords)."""
    pattern = lexicon.get(WATCHED_DEVICE)
    return pattern is not None and pattern.search(_prepared(text)) is not None


def _prepared(text: Text) -> Text:
    return _LEADING_NON_WORD.sub("", fold(text))
