"""Encryption of what the gateway must keep that could lead to her: addresses, queued texts.

The pseudonym is one-way, but a reply (and later a counsellor, hours later)
needs her platform address, and a queued message needs its text until it is
answered. Both are kept only sealed with Fernet (AES-128-CBC with HMAC-SHA256,
from ``cryptography``) under ``ADDRESS_KEY``: a copy of Redis without the key
reveals nothing. Several comma-separated keys rotate: the first seals, every
one opens.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.settings import Settings


class Sealed(ValueError):
    """A sealed value could not be opened (wrong key, or tampered with)."""


class Sealer:
    """Seal and open short texts under the configured keys."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    @classmethod
    def from_settings(cls, settings: Settings) -> Sealer:
        """The configured ``ADDRESS_KEY``; without one (a single process), a key of its own.

        A process's own key dies with it, like the in-process stores it seals for.
        """
        if settings.address_key is None:
            return cls([Fernet.generate_key()])
        keys = [k.strip().encode() for k in settings.address_key.get_secret_value().split(",") if k.strip()]
        try:
            return cls(keys)
        except ValueError as error:
            raise ValueError("ADDRESS_KEY is not a Fernet key (32 url-safe base64-encoded bytes)") from error

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as error:
            raise Sealed("cannot open a sealed value") from error
