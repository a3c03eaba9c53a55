"""Encryption of what the gateway must keep that could lead to her: addresses, queued texts.

The pseudonym is one-way, but a reply (and later a counsellor, hours later)
needs her platform address, and a queued message needs its text until it is
answered. Both are kept only sealed with Fernet (AES-128-CBC with HMAC-SHA256,
from ``cryptography``) under ``ADDRESS_KEY``: a copy of Redis without the key
reveals nothing. Several comma-separated keys rotate: the first seals, every
one opens.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

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
        """The configured ``ADDRESS_KEY``; on the embedded default, a key derived from the pepper.

        The embedded default's queues are in its SQLite file and outlive the
        process: what it sealed before a restart it must open after, which a key
        derived from the same pepper does (``helpline run`` keeps one pepper per
        run unless one is configured). Shared stores need a configured key
        (``Settings.address_key_problem``).
        """
        if settings.address_key is None:
            if settings.pseudonym_pepper is None:
                raise ValueError("PSEUDONYM_PEPPER or ADDRESS_KEY is needed to seal addresses")
            return cls([_derived_key(settings.pseudonym_pepper.get_secret_value())])
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


def _derived_key(pepper: str) -> bytes:
    """A Fernet key derived from the pepper (HKDF-SHA256): both come from the environment."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"helpline address key")
    return base64.urlsafe_b64encode(hkdf.derive(pepper.encode()))
