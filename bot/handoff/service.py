"""The handoff service: a counsellor takes over her chat, in the chat she is already in.

Her side (called from ``bot.conversations`` on every channel):

- ``request(sender_id, reason, deliver, ...)``: the assistant asked for a person (she
  asked, it failed twice to understand her, a counsellor-only topic) or the safety
  lexicon flagged danger or self-harm. Danger and self-harm go straight to the front of
  the queue (after the numbers, which the turn already gave); anything else is asked
  for consent first.
- ``intercept(sender_id, text, deliver)``: True when the message is the handoff's to
  handle (her consent, her words to the counsellor or kept for one, cancelling, the
  feedback): the assistant is then not asked.

The counsellors' side (the Telegram counsellor bot, the web console): ``waiting``,
``take``, ``reply``, ``note``, ``transfer``, ``end``, ``block``, presence, ``lines``.
Frontends subscribe a ``HandoffListener`` for what happens on this instance. ``reply``
says what became of a counsellor's words (``ReplyStatus``): outside her platform's reply
window (WhatsApp: 24 hours after her last message) they are refused at once, and
``window_left`` tells the counsellor who takes a chat how long is left.

Live state (Redis, or in-process on the embedded default) holds the open chats: the
waiting queue (an index scored by priority, then request time), each chat's state, a
counsellor's chats, presence. A claim removes the chat from the queue atomically
(``LiveState.index_claim``): of two counsellors pressing Take at once on any two
instances, one gets it. Per-chat and per-counsellor changes hold a short lock in live
state. The durable side (``HandoffRecord`` for statistics, the sealed transcript, the
audit) is in the directory's database. While a person has the chat, the assistant's
tracker is paused (Rasa's ``pause``/``resume`` events) and her messages bypass it; while
she waits, her words are kept for the counsellor, and the assistant's buttons (services
near her, offered when nobody is free) still reach the assistant.

When nobody is free, or outside the hours, she may leave a message: the chat stays in the
queue until a counsellor takes it, up to ``Timing.message_seconds`` after her last message
there (or after she was told), and she is told how long. Her conversation would be erased
by the retention sweep (and her reply address expire) a retention period after her last
message, before a counsellor is back after a weekend; so the sweep keeps it meanwhile, as
if she had written (``Reach.keep``). Past that time the chat leaves the queue (``expired``)
and the normal retention applies. Her "delete my data" erases it at once, as ever.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol

import yaml

from bot.assistant import AssistantClient, AssistantUnavailable, BotMessage
from bot.cancellation import within
from bot.handoff.counsellors import CounsellorDirectory
from bot.handoff.hours import Schedule
from bot.handoff.records import (
    PRIORITY,
    Author,
    Counsellor,
    HandoffAudit,
    Outcome,
    Reason,
    Role,
    flagged_reason,
)
from bot.handoff.store import HandoffStore, Line
from bot.live import LiveState
from bot.metrics import HANDOFFS
from bot.responses import days_text, hours_text
from bot.safety_fallback import DOMAIN_FILE, SafetyFallback
from bot.text import fold

logger = logging.getLogger(__name__)

Deliver = Callable[[list[BotMessage]], Awaitable[None]]

YES, NO, CANCEL = "/handoff_yes", "/handoff_no", "/handoff_cancel"
ERASE = "/delete_my_data"
# Her consent typed instead of pressed (folded: without diacritics, in Latin letters).
CONSENT_WORDS = {word: YES for word in ("yes", "ok", "okay", "po", "da", "mire", "dobro", "vo red")} | {
    word: NO for word in ("no", "jo", "ne")}
ASSISTANT_SECONDS = 3.0  # the handoff waits this long for the assistant's tracker, then goes on
FEEDBACK = {"/handoff_feedback_yes": 1, "/handoff_feedback_no": 0}
CANNED = ("utter_canned_greeting", "utter_canned_safe", "utter_canned_services",
          "utter_canned_emergency", "utter_canned_goodbye")
CONSENT_SECONDS = 3600.0  # an unanswered consent question is forgotten after this
WINDOW_MARGIN_SECONDS = 60.0
"""A counsellor's words need a moment in the outbox: in the last minute of her platform's
window (WhatsApp's 24 hours) they are refused, rather than promised and dropped at send."""
LOCK_SECONDS = 5.0
# A left message's conversation is renewed this many times per retention period: never near its end.
KEEPS_PER_RETENTION = 4
# Her texts that say how long a handed-off chat is kept (``{transcript_period}``).
TELLS_TRANSCRIPT_PERIOD = ("utter_handoff_consent", "utter_handoff_kept_days")


def label_of(sender_id: str) -> str:
    """What counsellors call her: the start of her pseudonym's digest (never a platform id).

    Pseudonyms are ``<platform>-<hex digest>`` (``bot.identity``): the digest tells
    two women on one platform apart."""
    return sender_id.rpartition("-")[2][:8]


class Stage(StrEnum):
    CONSENT = "consent"  # asked whether a person may read the chat
    WAITING = "waiting"  # in the queue
    ACTIVE = "active"  # a counsellor has it
    FEEDBACK = "feedback"  # ended; the feedback question is open


class TakeStatus(StrEnum):
    TAKEN = "taken"
    ALREADY_TAKEN = "already taken"
    AT_LIMIT = "at limit"
    GONE = "gone"  # no such chat (ended, cancelled, erased)


class ReplyStatus(StrEnum):
    """What became of a counsellor's words (compare with ``SENT``: every member is truthy)."""

    SENT = "sent"  # on their way to her (queued in her chat)
    EMPTY = "empty"  # nothing to send
    NOT_YOURS = "not yours"  # the chat is not, or no longer, the counsellor's
    UNREACHABLE = "unreachable"  # her address is gone (erased, expired, she blocked the bot)
    WINDOW_CLOSED = "window closed"  # WhatsApp: over 24 h since her last message; until she writes


@dataclass(frozen=True)
class Chat:
    """One open handoff as live state keeps it (no message text)."""

    id: str
    sender_id: str
    channel: str
    language: str
    country: str | None
    reason: str
    stage: str
    requested_at: float
    queued_at: float = 0.0  # when it last entered the queue (a release puts it back)
    need: str | None = None
    place: str | None = None
    counsellor_id: int | None = None
    counsellor_name: str | None = None
    taken_at: float | None = None
    her_waiting_since: float | None = None  # her oldest message the counsellor has not answered
    told_position: int | None = None
    told_unanswered: bool = False  # nobody is free, or outside the hours: she may leave a message
    left_at: float | None = None  # then: when she was told, or her last message (kept from then)
    kept_at: float = 0.0  # when her conversation was last kept for it (``Reach.keep``)
    told_kept: bool = False

    @property
    def priority(self) -> int:
        return PRIORITY.get(Reason(self.reason), 2)

    @property
    def score(self) -> float:
        """Queue order: priority, then when she first asked (a released chat keeps its place)."""
        return self.priority * 1e13 + self.requested_at * 1000

    def dump(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def load(cls, raw: str) -> Chat:
        return cls(**json.loads(raw))


@dataclass(frozen=True)
class Waiting:
    """A chat in the queue, as counsellors see it."""

    handoff_id: str
    label: str
    channel: str
    language: str
    reason: str  # danger and self-harm: the risk
    waited_seconds: float
    position: int
    need: str | None
    place: str | None
    left_message: bool


@dataclass(frozen=True)
class ActiveChat:
    handoff_id: str
    label: str
    channel: str
    language: str
    since: float


@dataclass(frozen=True)
class Taken:
    status: TakeStatus
    chat: ActiveChat | None = None


class HandoffListener(Protocol):
    """A counsellors' frontend, told what happens on this instance."""

    async def requested(self, waiting: Waiting) -> None: ...
    async def taken(self, handoff_id: str, counsellor: Counsellor) -> None: ...
    async def her_message(self, handoff_id: str, counsellor_id: int, text: str) -> None: ...
    async def ended(self, handoff_id: str, counsellor_id: int, why: str) -> None: ...
    async def released(self, handoff_id: str, counsellor_id: int, why: str) -> None: ...
    async def closed(self, handoff_id: str, why: str) -> None:
        """It left the queue without a counsellor ("cancelled", "blocked", "erased", "expired":
        her message waited ``Timing.message_seconds`` and nobody took it); or, "erased", a chat
        of hers that was already over when she erased her data: forget what is kept of it."""


class Reach(Protocol):
    """Sends her a message outside her own turn (a counsellor's reply, a timeout)."""

    async def send(self, sender_id: str, channel: str, messages: list[BotMessage]) -> bool:
        """Whether they are on their way (False: she cannot be reached, her address is gone)."""

    async def keep(self, sender_id: str, now: float) -> bool:
        """Keep her conversation, her address with it, as if she had written at ``now``: the
        retention period counts from then. Whether everything was kept (else: again soon)."""

    async def reply_window_closes(self, sender_id: str, channel: str) -> float | None:
        """When her platform stops taking messages to her (Unix time: WhatsApp, 24 hours after
        her last message); None where it sets no such limit."""


@dataclass(frozen=True)
class Timing:
    """The service's clock and patience (``Settings.handoff_*``)."""

    wait_seconds: float = 600.0  # nobody took it: she is told, and may leave a message
    counsellor_timeout_seconds: float = 600.0  # her message unanswered this long: back to the queue
    minutes_per_place: float = 5.0  # the expected wait she is told, per place in the queue
    retention_seconds: float = 24 * 3600.0  # of the live state (her conversation's retention)
    message_seconds: float = 96 * 3600.0  # a left message waits this long for a counsellor
    transcript_days: float = 30.0  # how long a handed-off chat is kept (she is told when it starts)
    clock: Callable[[], float] = field(default=time.time)


class HandoffService:
    """Queue, claims, relay and records of counsellor handoffs."""

    name = "handoff"

    def __init__(self, live: LiveState, store: HandoffStore, counsellors: CounsellorDirectory,
                 assistant: AssistantClient, fallback: SafetyFallback, reach: Reach,
                 schedule: Schedule, timing: Timing = Timing()) -> None:
        self._live = live
        self._store = store
        self.counsellors = counsellors
        self._assistant = assistant
        self._fallback = fallback
        self._reach = reach
        self._schedule = schedule
        self._timing = timing
        self._listeners: list[HandoffListener] = []
        self._instance = uuid.uuid4().hex

    def subscribe(self, listener: HandoffListener) -> None:
        self._listeners.append(listener)

    # ------------------------------------------------------------- her side

    async def request(self, sender_id: str, reason: Reason, deliver: Deliver, *, channel: str,
                      language: str, country: str | None = None, need: str | None = None,
                      place: str | None = None) -> None:
        """She goes to a person: consent first, except danger and self-harm (queued at once)."""
        current = await self._chat_of(sender_id)
        if current is not None and current.stage in (Stage.WAITING, Stage.ACTIVE):
            if current.stage == Stage.WAITING and reason in PRIORITY:
                await self._raise_priority(current, reason)
            elif current.stage == Stage.WAITING:  # she asked again (an older button): where she stands
                await deliver([self._position_message(current, await self._position(current.id))])
            return
        if await self._store.is_blocked(sender_id, self._now()):
            if reason not in PRIORITY:  # danger and self-harm already have the numbers
                await deliver([self._say("utter_handoff_blocked", language, country)])
            return
        if not await self.counsellors.any():
            if reason not in PRIORITY:
                await deliver([self._say("utter_human_unavailable", language, country)])
            return
        chat = Chat(uuid.uuid4().hex, sender_id, channel, language, country, reason, Stage.CONSENT,
                    requested_at=self._now(), need=need, place=place)
        if reason in PRIORITY:
            await self._enqueue(chat, deliver, consented=False)
        else:
            await self._put(chat, ttl=CONSENT_SECONDS)
            await deliver([self._say("utter_handoff_consent", language, country)])

    async def intercept(self, sender_id: str, text: str, deliver: Deliver, numbers_given: bool = False) -> bool:
        """Handle her message if it belongs to a handoff; False lets the assistant answer it.

        ``numbers_given``: she already got the safety fallback for this very message (it was
        retried while the assistant was down): danger words do not bring the numbers twice.
        """
        handled = await self._handle(sender_id, text.strip(), deliver, numbers_given)
        if not handled:  # the assistant answers: it must not be paused any more
            await self._resume_if_pending(sender_id)
        return handled

    async def _handle(self, sender_id: str, text: str, deliver: Deliver, numbers_given: bool) -> bool:
        chat = await self._chat_of(sender_id)
        if chat is None:
            return False
        if chat.stage == Stage.CONSENT:
            return await self._consent(chat, text, deliver)
        if chat.stage == Stage.FEEDBACK:
            return await self._feedback(chat, text, deliver)
        if asks_erasure(text):  # "delete my data" is the assistant's to do, with a person or not
            await self._leave(chat, Outcome.ERASED, "she asked to erase her data")
            return False
        flagged = self._fallback.flags(text)
        if flagged and not numbers_given:  # whoever has the chat, the numbers come at once
            await deliver(self._fallback.replies(text, chat.language, chat.country))
        if text == CANCEL:  # she stops waiting, or leaves the counsellor
            await self._leave(chat, Outcome.CANCELLED, "she left the chat")
            await deliver([self._say("utter_handoff_cancelled", chat.language, chat.country)])
            return True
        if text.startswith("/handoff_"):  # an older button of the handoff's
            if chat.stage == Stage.WAITING:
                await deliver([self._position_message(chat, await self._position(chat.id))])
            return True
        if chat.stage == Stage.WAITING and text.startswith("/"):
            return False  # one of the assistant's buttons (services while she waits): it answers
        await self._from_her(chat, text, deliver, flagged)
        return True

    async def _consent(self, chat: Chat, text: str, deliver: Deliver) -> bool:
        answer = CONSENT_WORDS.get(fold(text).strip(" .!"), text)
        if answer == YES:
            try:
                await self._enqueue(chat, deliver, consented=True)
            except Exception as error:  # noqa: BLE001 - a person cannot be reached now: the numbers
                logger.error("a chat could not be queued: %s", type(error).__name__)
                await self._live.delete(_chat_key(chat.id), _of_key(chat.sender_id))
                await deliver(self._fallback.replies(text, chat.language, chat.country))
            return True
        await self._live.delete(_chat_key(chat.id), _of_key(chat.sender_id))
        if answer == NO:
            HANDOFFS.labels(Outcome.DECLINED).inc()
            await self._store.declined(chat)
            await deliver([self._say("utter_handoff_declined", chat.language, chat.country)])
            return True
        return False  # she wrote something else: the assistant answers it

    async def _feedback(self, chat: Chat, text: str, deliver: Deliver) -> bool:
        await self._live.delete(_chat_key(chat.id), _of_key(chat.sender_id))
        if text not in FEEDBACK:
            return False
        await self._store.feedback(chat.id, FEEDBACK[text])
        await deliver([self._say("utter_handoff_thanks", chat.language, chat.country)])
        return True

    async def _from_her(self, chat: Chat, text: str, deliver: Deliver, flagged: str | None) -> None:
        """Her words: to the counsellor who has the chat, or kept for the one who takes it."""
        async with self._locked(chat.id):
            chat = await self._chat(chat.id) or chat
            if chat.her_waiting_since is None:
                chat = replace(chat, her_waiting_since=self._now())
            urgent = flagged_reason(flagged)
            if chat.stage == Stage.WAITING and urgent and chat.priority > PRIORITY[urgent]:
                chat = await self._raise_priority(chat, urgent, locked=True)
            tell_kept = chat.stage == Stage.WAITING and not chat.told_kept
            if tell_kept:
                chat = replace(chat, told_kept=True)
            if chat.stage == Stage.WAITING and chat.told_unanswered:  # her message: kept from now
                chat = replace(chat, left_at=self._now())
            await self._put(chat)
        # Kept before it is relayed: a counsellor's answer must come after it in the transcript.
        try:
            await self._store.add_line(chat.id, Author.HER, text)
        except Exception as error:  # noqa: BLE001 - relayed all the same; the transcript misses it
            logger.error("a line of hers was not kept in the transcript: %s", type(error).__name__)
        if chat.stage == Stage.ACTIVE and chat.counsellor_id is not None:
            await self._emit("her_message", chat.id, chat.counsellor_id, text)
        if tell_kept and not flagged:
            await deliver([self._say("utter_handoff_kept", chat.language, chat.country)])

    async def _enqueue(self, chat: Chat, deliver: Deliver, consented: bool) -> None:
        """Into the queue; if a store fails on the way, nothing is left half done (she is
        answered by the caller with the numbers) and the error is raised. Without her consent
        (danger, self-harm) she is told here how long the chat is kept, as the question would."""
        now = self._now()
        closed = not self._schedule.is_open(dt.datetime.fromtimestamp(now, dt.UTC))
        chat = replace(chat, stage=Stage.WAITING, queued_at=now, told_unanswered=closed,
                       left_at=now if closed else None)
        await self._store.requested(chat, left_message=closed)
        try:
            await self._put(chat)
            await self._live.index_add(OPEN, chat.id, now)
            await self._live.index_add(WAITING, chat.id, chat.score)  # from here on it can be taken
        except Exception:
            await self._forget(chat)
            raise
        HANDOFFS.labels("requested").inc()
        position = await self._position(chat.id) or 1
        await self._update(chat.id, told_position=position)
        told = [await self._may_leave_a_message("utter_handoff_closed", chat, now), self._services(chat)] \
            if closed else [self._position_message(chat, position)]
        if not consented:
            told.append(self._say("utter_handoff_kept_days", chat.language, chat.country))
        await deliver(told)
        await self._emit("requested", self._waiting(chat, position))
        try:  # what she told the assistant, for the counsellor who takes the chat
            await self._store.add_history(chat.id, await self._history(chat.sender_id))
        except Exception as error:  # noqa: BLE001 - the counsellor reads the chat from here on
            logger.error("the assistant's part of a chat was not kept: %s", type(error).__name__)

    async def _raise_priority(self, chat: Chat, reason: Reason, locked: bool = False) -> Chat:
        raised = replace(chat, reason=reason)
        if locked:
            await self._put(raised)
        else:
            raised = await self._update(chat.id, reason=reason) or raised
        if raised.stage == Stage.WAITING:
            await self._live.index_add(WAITING, chat.id, raised.score)
        return raised

    # --------------------------------------------------- the counsellors' side

    async def waiting(self) -> list[Waiting]:
        """The queue, first to be taken first."""
        ids = await self._live.index_below(WAITING, float("inf"), 1000)
        chats = [chat for chat in [await self._chat(i) for i in ids] if chat is not None]
        return [self._waiting(chat, position) for position, chat in enumerate(chats, start=1)]

    async def take(self, counsellor_id: int, handoff_id: str) -> Taken:
        """Claim a waiting chat for a counsellor: exactly one of several at once gets it."""
        counsellor = await self.counsellors.by_id(counsellor_id)
        if counsellor is None:
            return Taken(TakeStatus.GONE)

        async def claim() -> TakeStatus | None:
            if await self._live.index_claim(WAITING, handoff_id, float("inf")):
                return None
            return TakeStatus.ALREADY_TAKEN if await self._chat(handoff_id) is not None else TakeStatus.GONE

        refused = await self._reserve(counsellor, handoff_id, claim)
        if refused is not None:
            return Taken(refused)
        chat = await self._assign(handoff_id, counsellor)
        if chat is None:
            return Taken(TakeStatus.GONE)
        await self._audit(counsellor_id, "take", handoff_id)
        return Taken(TakeStatus.TAKEN, self._active(chat))

    async def _reserve(self, counsellor: Counsellor, handoff_id: str,
                       claim: Callable[[], Awaitable[TakeStatus | None]]) -> TakeStatus | None:
        """Count the chat among the counsellor's, within their limit, if ``claim`` succeeds
        (None); else why not."""
        async with self._locked(f"counsellor:{counsellor.id}"):
            mine = await self._ids_of(counsellor.id)
            if len(mine) >= counsellor.max_chats:
                return TakeStatus.AT_LIMIT
            refused = await claim()
            if refused is None:
                await self._set_ids(counsellor.id, [*mine, handoff_id])
            return refused

    async def _assign(self, handoff_id: str, counsellor: Counsellor) -> Chat | None:
        """Give a claimed chat to ``counsellor``; None (their count undone) when it is gone."""
        now = self._now()
        # She waits for the counsellor's first words from now on: silence returns the chat.
        chat = await self._update(handoff_id, expect=lambda c: c.stage == Stage.WAITING, stage=Stage.ACTIVE,
                                  counsellor_id=counsellor.id, counsellor_name=counsellor.display_name,
                                  taken_at=now, her_waiting_since=now)
        if chat is None:
            await self._forget_of(counsellor.id, handoff_id)
            return None
        await self._audit(counsellor.id, "assigned", chat.id)  # who may read it from now on
        await self._store.taken(chat.id, counsellor.id, now)
        HANDOFFS.labels("taken").inc()
        await self._reach.send(chat.sender_id, chat.channel, [
            self._say("utter_handoff_joined", chat.language, chat.country, counsellor=counsellor.display_name)])
        await self._emit("taken", chat.id, counsellor)
        await self._tracker_event(chat.sender_id, "pause")  # a person answers her from now on
        return chat

    async def reply(self, counsellor_id: int, handoff_id: str, text: str) -> ReplyStatus:
        """A counsellor's words to her, in her chat, or why they cannot go: the counsellor is
        told at once, never left believing she got them (WhatsApp's window is asked before
        they are queued: its outbox would drop them later)."""
        text = text.strip()
        if not text:
            return ReplyStatus.EMPTY
        chat = await self._held(counsellor_id, handoff_id)
        if chat is None:
            return ReplyStatus.NOT_YOURS
        if await self._window_left(chat) == 0:
            HANDOFFS.labels("window closed").inc()
            logger.info("a counsellor's reply on %s was refused: her reply window has closed", chat.channel)
            return ReplyStatus.WINDOW_CLOSED
        if not await self._reach.send(chat.sender_id, chat.channel, [BotMessage(text=text)]):
            return ReplyStatus.UNREACHABLE
        await self._store.add_line(handoff_id, Author.COUNSELLOR, text, counsellor_id)
        await self._update(handoff_id, her_waiting_since=None)
        await self._audit(counsellor_id, "reply", handoff_id)
        return ReplyStatus.SENT

    async def window_left(self, handoff_id: str) -> float | None:
        """How long a counsellor's words can still reach her (seconds; 0: not until she writes
        again), for the counsellor who takes the chat; None where her channel sets no limit
        (only WhatsApp does), or the chat is gone."""
        chat = await self._chat(handoff_id)
        return await self._window_left(chat) if chat is not None else None

    async def _window_left(self, chat: Chat) -> float | None:
        closes_at = await self._reach.reply_window_closes(chat.sender_id, chat.channel)
        if closes_at is None:
            return None
        return max(0.0, closes_at - WINDOW_MARGIN_SECONDS - self._now())

    async def note(self, counsellor_id: int, handoff_id: str, text: str) -> bool:
        """An internal note on the chat, for counsellors only."""
        if not text.strip() or not await self._may_act(counsellor_id, handoff_id):
            return False
        await self._store.add_line(handoff_id, Author.NOTE, text.strip(), counsellor_id)
        await self._audit(counsellor_id, "note", handoff_id)
        return True

    async def end(self, counsellor_id: int, handoff_id: str) -> bool:
        """The counsellor ends the chat: she gets a closing message, the feedback question and
        the assistant back."""
        chat = await self._update(handoff_id, ttl=CONSENT_SECONDS, expect=_held_by(counsellor_id),
                                  stage=Stage.FEEDBACK, counsellor_id=None)
        if chat is None:
            return False
        await self._unassign(chat.id, counsellor_id, chat.sender_id)
        await self._live.index_remove(OPEN, chat.id)
        await self._store.ended(chat.id, Outcome.ENDED, self._now())
        HANDOFFS.labels(Outcome.ENDED).inc()
        await self._reach.send(chat.sender_id, chat.channel,
                               [self._say("utter_handoff_closing", chat.language, chat.country)])
        await self._audit(counsellor_id, "end", handoff_id)
        await self._emit("ended", chat.id, counsellor_id, "ended")
        return True

    async def transfer(self, counsellor_id: int, handoff_id: str, to_counsellor_id: int | None) -> bool:
        """Give the chat to another counsellor, or back to the queue (``None``)."""
        if to_counsellor_id is None:
            if not await self._release(handoff_id, counsellor_id, "transferred"):
                return False
        else:
            target = await self.counsellors.by_id(to_counsellor_id)
            if target is None or to_counsellor_id == counsellor_id:
                return False

            async def hand_over() -> TakeStatus | None:  # back to waiting, for the target to take
                moved = await self._update(handoff_id, expect=_held_by(counsellor_id), stage=Stage.WAITING,
                                           counsellor_id=None, counsellor_name=None)
                return None if moved is not None else TakeStatus.GONE

            if await self._reserve(target, handoff_id, hand_over) is not None:
                return False
            await self._forget_of(counsellor_id, handoff_id)
            await self._store.transferred(handoff_id)
            await self._emit("released", handoff_id, counsellor_id, "transferred")
            await self._assign(handoff_id, target)
        await self._audit(counsellor_id, "transfer", handoff_id,
                          f"to {to_counsellor_id}" if to_counsellor_id else "to the queue")
        return True

    async def block(self, actor_id: int, handoff_id: str, reason: str, days: float) -> bool:
        """Block the sender of this chat: she gets a neutral reply and never reaches a counsellor."""
        chat = await self._chat(handoff_id)
        if chat is None or not await self._may_act(actor_id, handoff_id) or not reason.strip():
            return False
        await self._store.block(chat.sender_id, reason.strip()[:200], self._now() + days * 86400, actor_id)
        await self._leave(chat, Outcome.BLOCKED, "blocked")
        await self._reach.send(chat.sender_id, chat.channel,
                               [self._say("utter_handoff_blocked", chat.language, chat.country)])
        await self._audit(actor_id, "block", handoff_id, f"{days:g} days")
        return True

    async def set_away(self, counsellor_id: int, away: bool) -> None:
        if away:
            await self._live.value_set(f"handoff:away:{counsellor_id}", "1", 30 * 86400)
        else:
            await self._live.delete(f"handoff:away:{counsellor_id}")
        await self._audit(counsellor_id, "away" if away else "back")

    async def is_away(self, counsellor_id: int) -> bool:
        return await self._live.value_get(f"handoff:away:{counsellor_id}") is not None

    async def chats_of(self, counsellor_id: int) -> list[ActiveChat]:
        chats = [await self._chat(i) for i in await self._ids_of(counsellor_id)]
        return [self._active(chat) for chat in chats if chat is not None and chat.counsellor_id == counsellor_id]

    async def lines(self, viewer: Counsellor, handoff_id: str, after_id: int = 0) -> list[Line] | None:
        """The chat so far (the assistant's part included) for a counsellor who handled it, or
        an administrator; None for anyone else."""
        if viewer.role != Role.ADMIN and not await self._store.handled_by(handoff_id, viewer.id):
            return None
        return await self._store.lines(handoff_id, after_id)

    async def audit(self, actor_id: int | None, action: str, handoff_id: str | None = None,
                    detail: str | None = None) -> None:
        await self._audit(actor_id, action, handoff_id, detail)

    async def audit_log(self, limit: int = 200) -> list[HandoffAudit]:
        """The newest audit rows first (administrators read them in the console)."""
        return await self._store.audit_log(limit)

    def canned(self, language: str) -> list[tuple[str, str]]:
        """Canned replies in her language: (a title for the counsellor, the text she reads)."""
        return [(name.removeprefix("utter_canned_"), self._fallback.say(name, language).text or "")
                for name in CANNED]

    # --------------------------------------------------------------- the sweep

    async def sweep(self) -> None:
        """Tell waiting women their new place, tell those nobody took that nobody is free, keep
        the conversations of those who may leave a message (until their time is up), and return
        to the queue the chats whose counsellor went silent or was removed."""
        now = self._now()
        open_ids = await self._live.index_below(OPEN, float("inf"), 1000)
        registered = {c.id for c in await self.counsellors.all()} if open_ids else set()
        for handoff_id in open_ids:
            try:
                await self._sweep_one(handoff_id, now, registered)
            except Exception as error:  # noqa: BLE001 - the others are swept; this one next time
                logger.error("handoff sweep failed on a chat: %s", type(error).__name__)

    async def _sweep_one(self, handoff_id: str, now: float, registered: set[int]) -> None:
        chat = await self._chat(handoff_id)
        if chat is None:
            await self._live.index_remove(OPEN, handoff_id)
            await self._live.index_remove(WAITING, handoff_id)
        elif chat.stage == Stage.WAITING:
            await self._sweep_waiting(chat, now)
        elif chat.stage == Stage.ACTIVE and chat.counsellor_id is not None:
            if chat.counsellor_id not in registered and \
                    await self.counsellors.by_id(chat.counsellor_id) is None:  # removed meanwhile
                await self._release(chat.id, chat.counsellor_id, "counsellor removed")
            elif chat.her_waiting_since is not None and \
                    now - chat.her_waiting_since > self._timing.counsellor_timeout_seconds:
                if await self._release(chat.id, chat.counsellor_id, "timeout"):
                    await self._store.timed_out(chat.id)

    async def _sweep_waiting(self, chat: Chat, now: float) -> None:
        """She is told once that nobody is free (then she may leave a message), and each better place."""
        if not chat.told_unanswered and now - chat.queued_at > self._timing.wait_seconds:
            left_at = chat.left_at or now  # told again after a release: her message is not younger
            await self._reach.send(chat.sender_id, chat.channel,
                                   [await self._may_leave_a_message("utter_handoff_unanswered", chat, left_at),
                                    self._services(chat)])
            await self._update(chat.id, told_unanswered=True, left_at=left_at)
            await self._store.left_message(chat.id)
            return
        if chat.told_unanswered and not await self._keep_message(chat, now):
            return
        position = await self._position(chat.id)
        if position is not None and chat.told_position is not None and position < chat.told_position:
            await self._reach.send(chat.sender_id, chat.channel, [self._position_message(chat, position)])
            await self._update(chat.id, told_position=position)

    async def _keep_message(self, chat: Chat, now: float) -> bool:
        """Keep her conversation for the counsellor who will answer her message, a few times per
        retention period, while it is within ``message_seconds`` of being left; past that, the
        chat leaves the queue (unless a counsellor has just taken it): False."""
        left_at = chat.left_at or chat.queued_at  # (a chat queued before ``left_at`` was kept)
        if now > await self._message_until(chat, left_at):
            if await self._live.index_claim(WAITING, chat.id, float("inf")):  # not if Take won
                await self._leave(chat, Outcome.EXPIRED, "expired")
            return False
        if now - chat.kept_at >= self._timing.retention_seconds / KEEPS_PER_RETENTION and \
                await self._reach.keep(chat.sender_id, now):
            await self._update(chat.id, kept_at=now)  # the chat's own keys are renewed with it
        return True

    async def _message_until(self, chat: Chat, left_at: float) -> float:
        """Until when a message she left waits: ``message_seconds``, or less where her platform
        takes answers only for a while after her last message (WhatsApp: 24 hours)."""
        window = await self._reach.reply_window_closes(chat.sender_id, chat.channel)
        return min(left_at + self._timing.message_seconds, window if window is not None else float("inf"))

    async def _may_leave_a_message(self, response: str, chat: Chat, left_at: float) -> BotMessage:
        """She is told she may leave a message, and for how long it waits."""
        hours = max(1, round((await self._message_until(chat, left_at) - left_at) / 3600))
        return self._say(response, chat.language, chat.country,
                         message_period=hours_text(self._fallback.responses, chat.language, hours))

    @property
    def request_seconds(self) -> float:
        """How long a request can wait in the queue, with a retention period to spare (a sweep
        late or down; longer only if she writes again while she waits): what a frontend keeps of
        one lasts as long."""
        return self._timing.wait_seconds + self._timing.message_seconds + self._timing.retention_seconds

    async def sweep_forever(self, interval_seconds: float) -> None:
        """Run ``sweep`` on one instance at a time, and purge old transcripts hourly."""
        last_purge = 0.0
        while True:
            try:
                if await self._live.lock("handoff-sweep", self._instance, interval_seconds * 3):
                    await self.sweep()
                    if time.monotonic() - last_purge > 3600:
                        await self._store.purge(self._now())
                        last_purge = time.monotonic()
            except Exception as error:  # noqa: BLE001 - the next round tries again
                logger.error("handoff sweep failed: %s", type(error).__name__)
            await asyncio.sleep(interval_seconds)

    # ---------------------------------------------------------------- erasure

    async def erase(self, sender_id: str) -> None:
        """Her "delete my data": the open chat ends, the transcript goes, the records forget her.

        Her chats that are already over (within the last hours, a frontend may still hold copies
        of her words) are ``closed`` as "erased" too: "delete my data" said to a counsellor ends
        the chat before she confirms, so that by now no chat of hers is open."""
        chat = await self._end_open(sender_id)
        for handoff_id in await self._store.erase(sender_id, self._now()):
            if chat is None or handoff_id != chat.id:
                await self._emit("closed", handoff_id, "erased")

    async def expire(self, sender_id: str) -> None:
        """Her conversation's retention passed (``bot.erasure.Retaining``): the open chat ends, as
        her address is gone; the transcript and the records' pseudonym stay for the transcript's
        own retention (``TRANSCRIPT_RETENTION_DAYS``), for the counsellors who handled the chat,
        until ``HandoffStore.purge``."""
        await self._end_open(sender_id, Outcome.EXPIRED)

    async def _end_open(self, sender_id: str, outcome: Outcome = Outcome.ERASED) -> Chat | None:
        """End her open chat, if any (erased, or expired with her conversation); the chat it was."""
        chat = await self._chat_of(sender_id)
        if chat is not None:
            # Nothing goes to the assistant now: a resume would write her tracker back.
            await self._leave(chat, outcome, outcome.value, tell_assistant=False)
        await self._live.delete(_resume_key(sender_id))
        return chat

    # ---------------------------------------------------------------- helpers

    async def _release(self, handoff_id: str, counsellor_id: int, why: str) -> bool:
        """Back to the queue at her original place, if ``counsellor_id`` still has the chat; she
        is told. False when the chat changed meanwhile (ended, transferred, released)."""
        chat = await self._update(handoff_id, expect=_held_by(counsellor_id), stage=Stage.WAITING,
                                  counsellor_id=None, counsellor_name=None, queued_at=self._now(),
                                  told_unanswered=False)
        if chat is None:
            return False
        await self._unassign(chat.id, counsellor_id, chat.sender_id)
        await self._live.index_add(WAITING, chat.id, chat.score)
        position = await self._position(chat.id) or 1
        await self._reach.send(chat.sender_id, chat.channel, [
            self._say("utter_handoff_returned", chat.language, chat.country, position=position)])
        await self._update(chat.id, told_position=position)
        await self._emit("released", chat.id, counsellor_id, why)
        await self._emit("requested", self._waiting(chat, position))
        return True

    async def _leave(self, chat: Chat, outcome: Outcome, why: str, tell_assistant: bool = True) -> None:
        """The chat ends without the counsellor's closing (she left, asked to erase, was erased or
        blocked): whoever had it is told, and nothing of it stays in live state."""
        await self._forget(chat)
        if chat.counsellor_id is not None:
            await self._forget_of(chat.counsellor_id, chat.id)
            if tell_assistant:
                await self._resume(chat.sender_id)
            await self._emit("ended", chat.id, chat.counsellor_id, why)
        else:
            await self._emit("closed", chat.id, why)
        await self._store.ended(chat.id, outcome, self._now())
        HANDOFFS.labels(outcome).inc()

    async def _forget(self, chat: Chat) -> None:
        """Remove the chat from live state (the queue, the open chats, its state, her pointer)."""
        await self._live.index_remove(WAITING, chat.id)
        await self._live.index_remove(OPEN, chat.id)
        await self._live.delete(_chat_key(chat.id), _of_key(chat.sender_id))

    async def _unassign(self, handoff_id: str, counsellor_id: int, sender_id: str) -> None:
        """The counsellor leaves the chat: the assistant may answer her again."""
        await self._forget_of(counsellor_id, handoff_id)
        await self._resume(sender_id)

    async def _forget_of(self, counsellor_id: int, handoff_id: str) -> None:
        """The chat no longer counts among the counsellor's."""
        async with self._locked(f"counsellor:{counsellor_id}"):
            await self._set_ids(counsellor_id, [i for i in await self._ids_of(counsellor_id) if i != handoff_id])

    async def _resume(self, sender_id: str) -> None:
        """Tell the assistant it answers her again; if it cannot be told now, before her next turn
        (a paused tracker answers nothing)."""
        await self._live.value_set(_resume_key(sender_id), "1", self._timing.retention_seconds)
        await self._resume_if_pending(sender_id)

    async def _resume_if_pending(self, sender_id: str) -> None:
        if await self._live.value_get(_resume_key(sender_id)) is None:
            return
        if await self._tracker_event(sender_id, "resume"):
            await self._live.delete(_resume_key(sender_id))

    async def _held(self, counsellor_id: int, handoff_id: str) -> Chat | None:
        chat = await self._chat(handoff_id)
        return chat if chat is not None and _held_by(counsellor_id)(chat) else None

    async def _may_act(self, counsellor_id: int, handoff_id: str) -> bool:
        counsellor = await self.counsellors.by_id(counsellor_id)
        if counsellor is None:
            return False
        return counsellor.role == Role.ADMIN or await self._held(counsellor_id, handoff_id) is not None

    async def _history(self, sender_id: str) -> list[tuple[str, str]]:
        try:
            return await within(ASSISTANT_SECONDS, self._assistant.history(sender_id))
        except (TimeoutError, AssistantUnavailable) as error:
            logger.warning("handoff without the assistant's part of the chat: %s", type(error).__name__)
            return []

    async def _tracker_event(self, sender_id: str, event: str) -> bool:
        """Record ``pause`` or ``resume`` in her tracker; False when the assistant did not take it."""
        try:
            await within(ASSISTANT_SECONDS, self._assistant.record(sender_id, event))
        except (TimeoutError, AssistantUnavailable) as error:  # her chat goes on meanwhile
            logger.warning("assistant %s not recorded: %s", event, type(error).__name__)
            return False
        return True

    async def _position(self, handoff_id: str) -> int | None:
        ids = await self._live.index_below(WAITING, float("inf"), 1000)
        return ids.index(handoff_id) + 1 if handoff_id in ids else None

    def _position_message(self, chat: Chat, position: int | None) -> BotMessage:
        position = position or 1
        minutes = max(1, round(position * self._timing.minutes_per_place))
        return self._say("utter_handoff_queued", chat.language, chat.country, position=position, minutes=minutes)

    def _services(self, chat: Chat) -> BotMessage:
        """While nobody can take her chat: the assistant's services, the one she asked for first."""
        menu = self._fallback.say("utter_how_can_i_help", chat.language)
        asked = need_payloads().get(chat.need or "")
        buttons = sorted((b for b in menu.buttons if b.payload != "/request_human"),
                         key=lambda button: button.payload != asked)
        return BotMessage(self._say("utter_handoff_services", chat.language, chat.country).text, tuple(buttons))

    def _waiting(self, chat: Chat, position: int) -> Waiting:
        return Waiting(chat.id, label_of(chat.sender_id), chat.channel, chat.language, chat.reason,
                       max(0.0, self._now() - chat.requested_at), position, chat.need, chat.place,
                       chat.told_unanswered)

    @staticmethod
    def _active(chat: Chat) -> ActiveChat:
        return ActiveChat(chat.id, label_of(chat.sender_id), chat.channel, chat.language, chat.taken_at or 0.0)

    def _say(self, response: str, language: str, country: str | None, **values: Any) -> BotMessage:
        numbers = self._fallback.numbers.numbers_for(country or self._fallback.default_country, language,
                                                    self_harm=False)
        if response in TELLS_TRANSCRIPT_PERIOD:
            days = max(1, round(self._timing.transcript_days))
            values["transcript_period"] = days_text(self._fallback.responses, language, days)
        return self._fallback.say(response, language, numbers=numbers, **values)

    def _now(self) -> float:
        return self._timing.clock()

    async def _chat_of(self, sender_id: str) -> Chat | None:
        handoff_id = await self._live.value_get(_of_key(sender_id))
        return await self._chat(handoff_id) if handoff_id else None

    async def _chat(self, handoff_id: str) -> Chat | None:
        raw = await self._live.value_get(_chat_key(handoff_id))
        return Chat.load(raw) if raw else None

    async def _update(self, handoff_id: str, ttl: float | None = None,
                      expect: Callable[[Chat], bool] | None = None, **changes: Any) -> Chat | None:
        """Change some fields of a chat as it is now (another instance may have changed others),
        if it is as ``expect`` says; the changed chat, or None (gone, or not as expected)."""
        async with self._locked(handoff_id):
            chat = await self._chat(handoff_id)
            if chat is None or (expect is not None and not expect(chat)):
                return None
            chat = replace(chat, **changes)
            await self._put(chat, ttl)
            return chat

    async def _put(self, chat: Chat, ttl: float | None = None) -> None:
        ttl = ttl or self._timing.retention_seconds
        await self._live.value_set(_chat_key(chat.id), chat.dump(), ttl)
        await self._live.value_set(_of_key(chat.sender_id), chat.id, ttl)

    async def _ids_of(self, counsellor_id: int) -> list[str]:
        raw = await self._live.value_get(f"handoff:counsellor:{counsellor_id}")
        return list(json.loads(raw)) if raw else []

    async def _set_ids(self, counsellor_id: int, ids: Iterable[str]) -> None:
        await self._live.value_set(f"handoff:counsellor:{counsellor_id}", json.dumps(list(ids)),
                                   self._timing.retention_seconds)

    async def _audit(self, actor_id: int | None, action: str, handoff_id: str | None = None,
                     detail: str | None = None) -> None:
        await self._store.audit(actor_id, action, handoff_id, detail)

    async def _emit(self, event: str, *args: Any) -> None:
        for listener in self._listeners:
            try:
                await getattr(listener, event)(*args)
            except Exception as error:  # noqa: BLE001 - one frontend's failure does not stop the others
                logger.error("handoff listener %s failed on %s: %s", type(listener).__name__, event,
                             type(error).__name__)

    @asynccontextmanager
    async def _locked(self, name: str) -> AsyncIterator[None]:
        """A short lock in live state, so that instances change one chat (or counsellor) in turn."""
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + LOCK_SECONDS
        while not await self._live.lock(f"handoff:{name}", owner, LOCK_SECONDS):
            if time.monotonic() > deadline:
                raise TimeoutError(f"handoff lock {name} held too long")
            await asyncio.sleep(0.01)
        try:
            yield
        finally:
            await self._live.unlock(f"handoff:{name}", owner)


@lru_cache(maxsize=1)
def need_payloads() -> dict[str, str]:
    """Each service category's button payload, from the domain's slot mappings (shelter →
    ``/seek_shelter``)."""
    domain = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))
    mappings = domain["slots"]["service_category"]["mappings"]
    return {m["value"]: f"/{m['intent']}" for m in mappings if m.get("type") == "from_intent"}


def _held_by(counsellor_id: int) -> Callable[[Chat], bool]:
    return lambda chat: chat.stage == Stage.ACTIVE and chat.counsellor_id == counsellor_id


@lru_cache(maxsize=1)
def _erase_phrases() -> tuple[str, ...]:
    """What the welcome tells her to write to erase her data, in each language (folded)."""
    domain = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))
    texts = [variant["text"] for variant in domain["responses"]["utter_welcome"]]
    return tuple(fold(quoted) for text in texts for quoted in re.findall(r'"([^"]+)"', text))


def asks_erasure(text: str) -> bool:
    """Whether she asks to erase her data (the button, or the words the welcome gives her)."""
    folded = fold(text)
    return text == ERASE or any(phrase in folded for phrase in _erase_phrases())


WAITING = "handoff:waiting"
OPEN = "handoff:open"


def _chat_key(handoff_id: str) -> str:
    return f"handoff:chat:{handoff_id}"


def _of_key(sender_id: str) -> str:
    return f"handoff:of:{sender_id}"


def _resume_key(sender_id: str) -> str:
    return f"handoff:resume:{sender_id}"
