"""Text folding shared by the Rasa pipeline and the application.

Women write with or without diacritics, in Latin or Cyrillic letters, in upper
or lower case. ``fold`` maps all of these to one plain lower-case Latin form so
that a lexicon entry or a town name written once matches every spelling.

This module is imported by both Python environments: standard library only.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["fold", "words"]

# Serbian and Macedonian Cyrillic to the Latin letters people type on phones
# without diacritics (ш -> s, not š; ђ -> dj as in "Djordje").
_CYRILLIC_TO_LATIN = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "ђ": "dj", "ѓ": "gj",
        "е": "e", "ж": "z", "з": "z", "ѕ": "dz", "и": "i", "ј": "j", "к": "k",
        "л": "l", "љ": "lj", "м": "m", "н": "n", "њ": "nj", "о": "o", "п": "p",
        "р": "r", "с": "s", "т": "t", "ћ": "c", "ќ": "kj", "у": "u", "ф": "f",
        "х": "h", "ц": "c", "ч": "c", "џ": "dz", "ш": "s", "ѐ": "e", "ѝ": "i",
        # Russian/Ukrainian letters that turn up in mixed text.
        "й": "j", "ы": "y", "э": "e", "ю": "ju", "я": "ja", "ё": "e", "є": "je",
        "і": "i", "ї": "ji", "ґ": "g", "щ": "sc", "ь": "", "ъ": "",
    }
)
# Latin letters that Unicode decomposition does not reduce to a base letter.
_LATIN_SPECIAL = str.maketrans({"đ": "dj", "ß": "ss", "ł": "l", "ø": "o", "æ": "ae"})
_WORD = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Return ``text`` lower-cased, transliterated to Latin and without diacritics.

    >>> fold("Niš"), fold("Ниш"), fold("Shkodër"), fold("Ѓорче Петров")
    ('nis', 'nis', 'shkoder', 'gjorce petrov')
    """
    lowered = text.casefold().translate(_CYRILLIC_TO_LATIN).translate(_LATIN_SPECIAL)
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """Split folded ``text`` into its alphanumeric words."""
    return _WORD.findall(fold(text))
