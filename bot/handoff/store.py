"""The handoff's durable side in the directory's database: records, sealed transcript, blocks, audit.

Every call runs in a worker thread (SQLAlchemy sessions are synchronous). Transcript
texts are sealed with the reply addresses' key (``bot.gateway.sealing``): a copy of the
database alone does not reveal what she wrote.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Engine, delete, exists, func, select, update
from sqlalchemy.orm import Session

from bot.gateway.sealing import Sealer
from bot.handoff.records import (
    Author,
    BlockedSender,
    Counsellor,
    HandoffAudit,
    HandoffRecord,
    Outcome,
    TranscriptEntry,
)

if TYPE_CHECKING:
    from bot.handoff.service import Chat

T = TypeVar("T")


@dataclass(frozen=True)
class Line:
    """One line of a handed-off chat as counsellors read it."""

    id: int
    at: float
    author: str  # her | assistant | counsellor | note
    text: str
    counsellor_name: str | None


def _at(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def _seconds(at: dt.datetime) -> float:
    """Unix time of a stored datetime (SQLite gives it back without its UTC zone)."""
    return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).timestamp()


class HandoffStore:
    def __init__(self, engine: Engine, sealer: Sealer, transcript_days: float) -> None:
        self._engine = engine
        self._sealer = sealer
        self._transcript_seconds = transcript_days * 86400

    async def _run(self, work: Callable[[Session], T]) -> T:
        def run() -> T:
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                return work(session)
        return await asyncio.to_thread(run)

    # ------------------------------------------------------------- records

    async def requested(self, chat: Chat, left_message: bool = False) -> None:
        """Her chat entered the queue; ``left_message``: she was told at once that nobody is
        there (outside working hours) and that she may leave a message."""
        def work(session: Session) -> None:
            if session.get(HandoffRecord, chat.id) is None:
                session.add(HandoffRecord(id=chat.id, sender_id=chat.sender_id, channel=chat.channel,
                                          language=chat.language, country=chat.country, reason=chat.reason,
                                          requested_at=_at(chat.requested_at), left_message=left_message))
        await self._run(work)

    async def declined(self, chat: Chat) -> None:
        def work(session: Session) -> None:
            session.add(HandoffRecord(id=chat.id, sender_id=None, channel=chat.channel, language=chat.language,
                                      country=chat.country, reason=chat.reason,
                                      requested_at=_at(chat.requested_at), ended_at=_at(chat.requested_at),
                                      outcome=Outcome.DECLINED))
        await self._run(work)

    async def taken(self, handoff_id: str, counsellor_id: int, now: float) -> None:
        """A counsellor has it (the first taking counts for the wait: ``taken_at`` is kept)."""
        await self._update(handoff_id, counsellor_id=counsellor_id,
                           taken_at=func.coalesce(HandoffRecord.taken_at, _at(now)))

    async def ended(self, handoff_id: str, outcome: Outcome, now: float) -> None:
        await self._update(handoff_id, ended_at=_at(now), outcome=outcome)

    async def feedback(self, handoff_id: str, score: int) -> None:
        await self._update(handoff_id, feedback=score)

    async def left_message(self, handoff_id: str) -> None:
        """She was told nobody is free, and that she may leave a message."""
        await self._update(handoff_id, left_message=True)

    async def transferred(self, handoff_id: str) -> None:
        await self._update(handoff_id, transfers=HandoffRecord.transfers + 1)

    async def timed_out(self, handoff_id: str) -> None:
        await self._update(handoff_id, timeouts=HandoffRecord.timeouts + 1)

    async def _update(self, handoff_id: str, **values: object) -> None:
        await self._run(lambda session: session.execute(
            update(HandoffRecord).where(HandoffRecord.id == handoff_id).values(**values)))

    # ---------------------------------------------------------- transcript

    async def add_line(self, handoff_id: str, author: Author, text: str, counsellor_id: int | None = None) -> None:
        sealed = self._sealer.seal(text)
        await self._run(lambda session: session.add(
            TranscriptEntry(handoff_id=handoff_id, author=author, counsellor_id=counsellor_id, sealed=sealed)))

    async def add_history(self, handoff_id: str, lines: list[tuple[str, str]]) -> None:
        """The assistant's part of the chat before the handoff, for the counsellor who takes it."""
        entries = [TranscriptEntry(handoff_id=handoff_id, author=author, sealed=self._sealer.seal(text))
                   for author, text in lines]
        if entries:
            await self._run(lambda session: session.add_all(entries))

    async def lines(self, handoff_id: str, after_id: int = 0) -> list[Line]:
        def work(session: Session) -> list[Line]:
            rows = session.execute(
                select(TranscriptEntry, Counsellor.display_name)
                .outerjoin(Counsellor, Counsellor.id == TranscriptEntry.counsellor_id)
                .where(TranscriptEntry.handoff_id == handoff_id, TranscriptEntry.id > after_id)
                .order_by(TranscriptEntry.id)
            ).all()
            return [Line(entry.id, _seconds(entry.at), entry.author, self._sealer.open(entry.sealed), name)
                    for entry, name in rows]
        return await self._run(work)

    async def handled_by(self, handoff_id: str, counsellor_id: int) -> bool:
        return await self._run(lambda session: bool(session.scalar(select(exists().where(
            HandoffAudit.handoff_id == handoff_id, HandoffAudit.actor_id == counsellor_id,
            HandoffAudit.action == "assigned")))))

    async def purge(self, now: float) -> int:
        """Delete transcript lines older than the retention; return how many. Then the records
        whose transcript is gone and that are older than it forget her pseudonym (statistics
        keep it no longer than the transcript), and blocks that ran out go."""
        cutoff = _at(now - self._transcript_seconds)

        def work(session: Session) -> int:
            purged = session.execute(delete(TranscriptEntry).where(TranscriptEntry.at < cutoff)).rowcount
            has_lines = exists().where(TranscriptEntry.handoff_id == HandoffRecord.id)
            session.execute(update(HandoffRecord).where(
                HandoffRecord.sender_id.is_not(None), ~has_lines,
                func.coalesce(HandoffRecord.ended_at, HandoffRecord.requested_at) < cutoff,
            ).values(sender_id=None).execution_options(synchronize_session=False))
            session.execute(delete(BlockedSender).where(BlockedSender.until < _at(now)))
            return purged
        return await self._run(work)

    async def erase(self, sender_id: str, now: float) -> list[str]:
        """Her transcript goes; her records stay for statistics, without her pseudonym. The ids of
        her handoffs, read before the pseudonym goes: frontends forget what they keep of each."""
        def work(session: Session) -> list[str]:
            ids = list(session.scalars(select(HandoffRecord.id).where(HandoffRecord.sender_id == sender_id)))
            session.execute(delete(TranscriptEntry).where(TranscriptEntry.handoff_id.in_(ids)))
            session.execute(update(HandoffRecord).where(HandoffRecord.sender_id == sender_id,
                                                        HandoffRecord.outcome.is_(None))
                            .values(outcome=Outcome.ERASED, ended_at=_at(now)))
            session.execute(update(HandoffRecord).where(HandoffRecord.sender_id == sender_id)
                            .values(sender_id=None))
            session.execute(delete(BlockedSender).where(BlockedSender.sender_id == sender_id,
                                                        BlockedSender.until < _at(now)))
            return ids
        return await self._run(work)

    # ------------------------------------------------------- blocks, audit

    async def block(self, sender_id: str, reason: str, until: float, actor_id: int) -> None:
        def work(session: Session) -> None:
            session.merge(BlockedSender(sender_id=sender_id, reason=reason, until=_at(until), blocked_by=actor_id))
        await self._run(work)

    async def is_blocked(self, sender_id: str, now: float) -> bool:
        return await self._run(lambda session: bool(session.scalar(select(exists().where(
            BlockedSender.sender_id == sender_id, BlockedSender.until > _at(now))))))

    async def audit(self, actor_id: int | None, action: str, handoff_id: str | None, detail: str | None) -> None:
        await self._run(lambda session: session.add(
            HandoffAudit(actor_id=actor_id, action=action, handoff_id=handoff_id, detail=detail)))

    async def audit_log(self, limit: int = 200) -> list[HandoffAudit]:
        return await self._run(lambda session: list(session.scalars(
            select(HandoffAudit).order_by(HandoffAudit.id.desc()).limit(limit))))
