"""Pseudonymous sender ids.

The id that Rasa, the database and the logs see is an HMAC of the platform and
the platform's user id under a secret pepper. Without the pepper nobody can go
back from the pseudonym to the person; rotating the pepper (see
``docs/configuration.md``) makes every existing pseudonym unlinkable.
"""

from __future__ import annotations

import hashlib
import hmac


def pseudonym(pepper: bytes, platform: str, platform_user_id: str) -> str:
    """Return the stable pseudonymous id of ``platform_user_id`` on ``platform``."""
    digest = hmac.new(pepper, f"{platform}\x00{platform_user_id}".encode(), hashlib.sha256)
    return f"{platform}-{digest.hexdigest()[:32]}"
