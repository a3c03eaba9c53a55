"""Who is signed in to the console, and how often a login may fail.

Both live in live state (Redis, or in-process on the embedded default), so that any
app instance knows a session another one opened, and a login's failures count on
every instance together.

- A session is a random 32-byte token in the counsellor's cookie; live state keeps only
  its SHA-256 (``console:session:<hash>`` → counsellor id and registration time) for
  ``SESSION_SECONDS``. A copy of live state therefore holds no usable token. Signing out
  deletes the entry. A session is good only while its counsellor is registered: removed,
  they are signed out at their next request or poll, even if a counsellor registered
  since was given the same id (SQLite reuses the highest one).
- A login name may fail ``MAX_FAILURES`` times within ``FAILURE_WINDOW_SECONDS``. Each
  attempt first takes one of ``MAX_FAILURES`` expiring slots (locks) of that login
  before its password is checked; a failure keeps its slot until it expires, a success
  gives it back. With every slot held, the attempt is refused unchecked: parallel
  guesses from several instances cannot get past the limit either.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from bot.handoff.counsellors import CounsellorDirectory
from bot.handoff.records import Counsellor
from bot.live import LiveState

SESSION_SECONDS = 12 * 3600
MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 15 * 60


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Sessions:
    """Console sessions: token in the cookie, its hash in live state."""

    def __init__(self, live: LiveState, counsellors: CounsellorDirectory) -> None:
        self._live = live
        self._counsellors = counsellors

    async def open(self, counsellor: Counsellor) -> str:
        """A new session for the counsellor; returns the token for the cookie."""
        token = secrets.token_urlsafe(32)
        value = f"{counsellor.id}:{_registered(counsellor)}"
        await self._live.value_set(self._key(token), value, SESSION_SECONDS)
        return token

    async def counsellor_of(self, token: str | None) -> Counsellor | None:
        """The counsellor of a live session; None when it is absent, expired or signed out, or
        its counsellor is no longer registered."""
        value = await self._live.value_get(self._key(token)) if token else None
        counsellor_id, _, registered = (value or "").partition(":")
        if not counsellor_id.isdigit():
            return None
        counsellor = await self._counsellors.by_id(int(counsellor_id))
        same = counsellor is not None and _registered(counsellor) == registered
        return counsellor if same else None

    async def close(self, token: str) -> None:
        await self._live.delete(self._key(token))

    @staticmethod
    def _key(token: str) -> str:
        return f"console:session:{_digest(token)}"


def _registered(counsellor: Counsellor) -> str:
    """When the counsellor was registered, in UTC: the same however the database returns it
    (SQLite without its zone). It tells a removed counsellor from a new one with their id."""
    at = counsellor.created_at
    return (at.astimezone(dt.UTC) if at.tzinfo else at).replace(tzinfo=None).isoformat()


@dataclass(frozen=True)
class Attempt:
    """The failure slot one login attempt holds."""

    slot: str
    owner: str


class LoginLimiter:
    """At most ``MAX_FAILURES`` failed logins per login name within the window, across instances."""

    def __init__(self, live: LiveState) -> None:
        self._live = live

    async def attempt(self, login: str) -> Attempt | None:
        """Take a slot for one attempt at ``login``; None when every slot is held (refuse it)."""
        owner = uuid.uuid4().hex
        for slot in self._slots(login):
            if await self._live.lock(slot, owner, FAILURE_WINDOW_SECONDS):
                return Attempt(slot, owner)
        return None

    async def succeeded(self, attempt: Attempt) -> None:
        """A right password does not count against the login: its slot is given back."""
        await self._live.unlock(attempt.slot, attempt.owner)

    @staticmethod
    def _slots(login: str) -> list[str]:
        name = _digest(login.strip().casefold())  # the name itself is not kept
        return [f"console:login:{name}:{index}" for index in range(MAX_FAILURES)]
