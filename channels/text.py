"""Texts cut to a platform's length limit, the way its clients count.

Telegram, Viber and WhatsApp count a message's length in UTF-16 code units (an
emoji is two): a part measured so never goes over a limit because of emoji.
"""

from __future__ import annotations


def split_text(text: str, limit: int) -> list[str]:
    """``text`` in messages of at most ``limit`` UTF-16 units, cut at a paragraph, line or space."""
    chunks = []
    while _utf16(text) > limit:
        cut = _cut(text, _longest_prefix(text, limit))
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*chunks, text] if text.strip() else chunks


def _cut(text: str, fits: int) -> int:
    """Where to cut within the first ``fits`` characters: a paragraph, else a line, else a space
    (in the second half), else anywhere."""
    for separator in ("\n\n", "\n", " "):
        if (cut := text.rfind(separator, 0, fits)) > fits // 2:
            return cut
    return fits


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _longest_prefix(text: str, limit: int) -> int:
    """How many characters of ``text`` fit in ``limit`` UTF-16 units (emoji count two)."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)
