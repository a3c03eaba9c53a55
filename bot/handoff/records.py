"""The handoff's durable records, in the directory's database (SQLite or PostgreSQL), each
table named ``handoff_*``.

- ``Counsellor``: who may take chats (by Telegram user id, or a console login with an
  argon2 hash), their display name (the only thing she is told of them) and role.
- ``HandoffRecord``: one per handed-off chat, for statistics: when it was requested,
  taken and ended, waits, outcome and feedback. No message text; the pseudonym is
  kept no longer than the transcript (her erasure, or the purge, clears it).
- ``TranscriptEntry``: what was said while a person was there (and the assistant's part
  before), each text sealed with ``ADDRESS_KEY``; purged after the transcript retention
  and erased by "delete my data".
- ``BlockedSender``: a pseudonym that abused the line, with a reason and an expiry.
- ``HandoffAudit``: every action of a counsellor or administrator (no text).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base

PSEUDONYM_LENGTH = 64


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Role(StrEnum):
    COUNSELLOR = "counsellor"
    ADMIN = "admin"


class Reason(StrEnum):
    """Why she went to a person; danger and self-harm come first in the queue."""

    DANGER = "danger"
    SELF_HARM = "self_harm"
    ASKED = "asked"
    NOT_UNDERSTOOD = "not_understood"
    TOPIC = "topic"


PRIORITY = {Reason.DANGER: 0, Reason.SELF_HARM: 1}  # every other reason: 2
_FLAGGED = {"immediate_danger": Reason.DANGER, "self_harm": Reason.SELF_HARM}


def flagged_reason(flag: str | None) -> Reason | None:
    """The handoff reason of what the safety lexicon flagged (``SafetyFallback.flags``)."""
    return _FLAGGED.get(flag or "")


class Outcome(StrEnum):
    ENDED = "ended"  # a counsellor ended it
    CANCELLED = "cancelled"  # she stopped waiting
    DECLINED = "declined"  # she said no to a person reading
    ERASED = "erased"  # she erased her data, or asked to
    BLOCKED = "blocked"  # the sender was blocked
    EXPIRED = "expired"  # nobody took her left message in time, or her conversation reached its retention


class Author(StrEnum):
    HER = "her"
    ASSISTANT = "assistant"
    COUNSELLOR = "counsellor"
    NOTE = "note"  # internal: never sent to her


class Counsellor(Base):
    __tablename__ = "handoff_counsellors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    display_name: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(16), default=Role.COUNSELLOR)
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    login: Mapped[str | None] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    max_chats: Mapped[int] = mapped_column(SmallInteger, default=3)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HandoffRecord(Base):
    __tablename__ = "handoff_records"
    __table_args__ = (Index("ix_handoff_records_sender", "sender_id"), Index("ix_handoff_records_requested", "requested_at"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sender_id: Mapped[str | None] = mapped_column(String(PSEUDONYM_LENGTH))
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(8))
    country: Mapped[str | None] = mapped_column(String(2))
    reason: Mapped[str] = mapped_column(String(16))
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    taken_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    counsellor_id: Mapped[int | None] = mapped_column(ForeignKey("handoff_counsellors.id", ondelete="SET NULL"))
    outcome: Mapped[str | None] = mapped_column(String(16))
    feedback: Mapped[int | None] = mapped_column(SmallInteger)
    transfers: Mapped[int] = mapped_column(SmallInteger, default=0)
    timeouts: Mapped[int] = mapped_column(SmallInteger, default=0)
    left_message: Mapped[bool] = mapped_column(default=False)  # told nobody is free: she may leave one


class TranscriptEntry(Base):
    __tablename__ = "handoff_transcript"
    __table_args__ = (Index("ix_handoff_transcript_handoff", "handoff_id", "id"),
                      Index("ix_handoff_transcript_at", "at"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    handoff_id: Mapped[str] = mapped_column(ForeignKey("handoff_records.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    author: Mapped[str] = mapped_column(String(16))
    counsellor_id: Mapped[int | None] = mapped_column(ForeignKey("handoff_counsellors.id", ondelete="SET NULL"))
    sealed: Mapped[str] = mapped_column(Text)


class BlockedSender(Base):
    __tablename__ = "handoff_blocked_senders"

    sender_id: Mapped[str] = mapped_column(String(PSEUDONYM_LENGTH), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    blocked_by: Mapped[int | None] = mapped_column(ForeignKey("handoff_counsellors.id", ondelete="SET NULL"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HandoffAudit(Base):
    __tablename__ = "handoff_audit"
    __table_args__ = (Index("ix_handoff_audit_handoff", "handoff_id", "actor_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("handoff_counsellors.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(32))
    handoff_id: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(200))  # never message text
