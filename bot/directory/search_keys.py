"""The folded word index behind free-text search.

A woman writes "advokat", "адвокат" or "advokata"; a service says "Besplatan
advokat". Folding (Cyrillic to Latin, no diacritics, lower case) makes these
comparable, but it costs about 30 µs a service in Python: done at search time
over the hundreds of candidates a query reads, it used up the latency budget.
So a service's searchable words (its names and descriptions in every language,
and its organisation's name) are folded once, when the service is written, and
stored as ``SearchKey`` rows: each word of 3 letters or more cut to its first
5. A query word matches a key it begins (its own first 5 letters, so
"advokata" ~ "advokat" and "kuca" ~ "kucama"), through an index range in SQL.

Whoever writes a service's texts or renames its organisation calls ``reindex``;
the importer is the only writer today.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, exists

from bot.directory.models import SEARCH_KEY_LENGTH, SearchKey, Service
from bot.text import words

__all__ = ["KEY_LENGTH", "MIN_WORD", "keys_of", "query_keys", "reindex", "service_has"]

KEY_LENGTH = SEARCH_KEY_LENGTH  # words sharing their first 5 letters match: "pravna" ~ "pravnu"
MIN_WORD = 3  # shorter words ("u", "na", "i") would match everything


def keys_of(texts: Iterable[str | None]) -> set[str]:
    """The keys stored for ``texts``: every folded word of 3+ letters, cut to 5."""
    return {
        word[:KEY_LENGTH] for text in texts if text for word in words(text) if len(word) >= MIN_WORD
    }


def query_keys(text: str) -> frozenset[str]:
    """The keys a query looks for: the same cut of its words, so each is a prefix of a stored key."""
    return frozenset(keys_of([text]))


def reindex(service: Service) -> None:
    """Make ``service.search_keys`` match its current texts and organisation name."""
    texts = [service.organisation.name]
    texts += [part for text in service.texts for part in (text.name, text.description)]
    wanted = keys_of(texts)
    kept = [row for row in service.search_keys if row.key in wanted]
    have = {row.key for row in kept}
    service.search_keys = kept + [SearchKey(key=key) for key in sorted(wanted - have)]


def service_has(key: str) -> ColumnElement[bool]:
    """Whether the service of the enclosing query has a search key beginning with ``key``.

    Keys are lower-case ASCII letters and digits, and the column compares bytes
    (collation "C" on PostgreSQL, SQLite's default), so a prefix is an index
    range. One ``EXISTS`` per query key, rather than one over an ``OR`` of
    ranges, lets each use the index: a seek per service on SQLite, a hashed
    subplan on PostgreSQL.
    """
    begins = and_(SearchKey.key >= key, SearchKey.key < _after(key))
    return exists().where(SearchKey.service_id == Service.id, begins)


def _after(prefix: str) -> str:
    """The first string above every string that begins with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
