"""Who may take chats: counsellors and administrators, kept in the directory's database.

Passwords (for the web console) are argon2id hashes; a Telegram counsellor is known
by the Telegram user id an administrator registered (``helpline counsellors add``).

Every update of the counsellor bot and every console request asks who is acting, so
the directory answers from a snapshot of all counsellors (a few dozen rows) read at
most every ``SNAPSHOT_SECONDS``, instead of a database round trip in a worker thread
each time (under a burst of presses those queued behind each other). Someone not in
the snapshot is looked up afresh (in one read shared by all who missed meanwhile), so a
counsellor just added (by the CLI, or another instance) is let in at once; a removal made
elsewhere reaches this instance within ``SNAPSHOT_SECONDS`` (here, at once: a read begun
before it is not trusted). Passwords are always checked against the database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from bot.handoff.records import Counsellor, Role

_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("no such login")  # an unknown login costs as much as a wrong password
SNAPSHOT_SECONDS = 2.0  # how old the snapshot of counsellors may be


class CounsellorDirectory:
    """The registered counsellors; the database is read in a worker thread."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._snapshot: list[Counsellor] = []
        self._read_at = float("-inf")  # time.monotonic() of the snapshot
        self._changes = 0  # counts this instance's changes: a read begun before one is stale
        self._reading = asyncio.Lock()  # one read at a time refreshes it (bound to a loop at first use)

    async def add(self, display_name: str, telegram_user_id: int | None = None, login: str | None = None,
                  password: str | None = None, role: Role = Role.COUNSELLOR, max_chats: int = 3) -> Counsellor:
        if not display_name.strip():
            raise ValueError("a counsellor needs a display name (it is what she is told)")
        if telegram_user_id is None and login is None:
            raise ValueError("a counsellor needs a Telegram user id or a console login")
        if login is not None and not password:
            raise ValueError("a console login needs a password")
        counsellor = Counsellor(
            display_name=display_name.strip(), telegram_user_id=telegram_user_id, login=login,
            password_hash=_HASHER.hash(password) if password else None, role=role, max_chats=max_chats,
        )
        return await asyncio.to_thread(self._store, counsellor)

    async def remove(self, counsellor_id: int) -> bool:
        def work() -> bool:
            with Session(self._engine) as session, session.begin():
                return session.execute(delete(Counsellor).where(Counsellor.id == counsellor_id)).rowcount > 0
        removed = await asyncio.to_thread(work)
        self._changed()
        return removed

    async def all(self) -> list[Counsellor]:
        return list(await self._current())

    async def by_id(self, counsellor_id: int) -> Counsellor | None:
        return await self._find(lambda c: c.id == counsellor_id)

    async def by_telegram(self, user_id: int) -> Counsellor | None:
        return await self._find(lambda c: c.telegram_user_id == user_id)

    async def _find(self, matches: Callable[[Counsellor], bool]) -> Counsellor | None:
        """The counsellor ``matches`` picks: from the snapshot, else from a fresh one."""
        found = next((c for c in await self._current() if matches(c)), None)
        if found is None:
            found = next((c for c in await self._current(fresh=True) if matches(c)), None)
        return found

    async def _current(self, fresh: bool = False) -> list[Counsellor]:
        """The snapshot, read again when older than ``SNAPSHOT_SECONDS``; ``fresh``: read after
        this call began. One read serves everyone who asked while it was waiting, so a flood of
        strangers on the counsellor bot costs one read at a time, not one each."""
        asked_at = time.monotonic()
        oldest = asked_at if fresh else asked_at - SNAPSHOT_SECONDS
        if self._read_at >= oldest:
            return self._snapshot
        async with self._reading:
            if self._read_at < oldest:  # nobody read it while this one waited
                read_at, changes = time.monotonic(), self._changes
                self._snapshot = await asyncio.to_thread(self._select, select(Counsellor).order_by(Counsellor.id))
                if changes == self._changes:  # else it may predate the change: the next call reads again
                    self._read_at = read_at
            return self._snapshot

    async def check_login(self, login: str, password: str) -> Counsellor | None:
        """The counsellor whose login and password these are, or None (same cost either way)."""
        found = await asyncio.to_thread(self._select, select(Counsellor).where(Counsellor.login == login))
        stored = found[0].password_hash if found and found[0].password_hash else _DUMMY_HASH
        try:
            await asyncio.to_thread(_HASHER.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return None
        return found[0] if found else None

    async def any(self) -> bool:
        return await self._find(lambda c: True) is not None

    def _store(self, counsellor: Counsellor) -> Counsellor:
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            session.add(counsellor)
        self._changed()
        return counsellor

    def _changed(self) -> None:
        self._changes += 1
        self._read_at = float("-inf")

    def _select(self, statement) -> list[Counsellor]:  # type: ignore[no-untyped-def]
        with Session(self._engine, expire_on_commit=False) as session:
            return list(session.scalars(statement))
