"""Who may take chats: counsellors and administrators, kept in the directory's database.

Passwords (for the web console) are argon2id hashes; a Telegram counsellor is known
by the Telegram user id an administrator registered (``helpline counsellors add``).
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from bot.handoff.records import Counsellor, Role

_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("no such login")  # an unknown login costs as much as a wrong password


class CounsellorDirectory:
    """The registered counsellors; each call runs in a worker thread."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

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
        return await asyncio.to_thread(work)

    async def all(self) -> list[Counsellor]:
        return await asyncio.to_thread(self._select, select(Counsellor).order_by(Counsellor.id))

    async def by_id(self, counsellor_id: int) -> Counsellor | None:
        found = await asyncio.to_thread(self._select, select(Counsellor).where(Counsellor.id == counsellor_id))
        return found[0] if found else None

    async def by_telegram(self, user_id: int) -> Counsellor | None:
        found = await asyncio.to_thread(
            self._select, select(Counsellor).where(Counsellor.telegram_user_id == user_id))
        return found[0] if found else None

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
        return bool(await asyncio.to_thread(self._select, select(Counsellor).limit(1)))

    def _store(self, counsellor: Counsellor) -> Counsellor:
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            session.add(counsellor)
        return counsellor

    def _select(self, statement) -> list[Counsellor]:  # type: ignore[no-untyped-def]
        with Session(self._engine, expire_on_commit=False) as session:
            return list(session.scalars(statement))
