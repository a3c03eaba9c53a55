"""What happens to one message of hers, whatever channel it came from.

Channels turn a platform message into ``(sender_id, text)`` with a pseudonymous
sender. ``POST /api/chat`` calls ``handle`` and gets back the replies to put in
its response; the gateway (``bot.gateway``) and the web chat's socket call
``answer``, which delivers replies as they come. Either way she always gets
something to read:

- the assistant's replies when they come within the first-reply deadline;
- otherwise (Rasa down, frozen, slow, failing, or a turn without any text) the
  safety fallback (``bot.safety_fallback``): the numbers first. A slow turn goes
  on behind the deadline; what it says is delivered when it comes (``answer``),
  or kept for her next message (``handle``).

This is also where the privacy promises are kept: erasure on request (the
assistant's ``erase_conversation`` directive) and after the retention period,
through the one ``Erasure`` that every store registers with (``keep`` holds a
conversation past her last message, while a message she left waits for a counsellor). Failures of live
state or of an erasure never stop a reply: they are logged without content,
counted, and the erasure is retried by the sweep.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

from bot.assistant import AssistantClient, AssistantUnavailable, BotMessage
from bot.cancellation import cancel_and_wait, within
from bot.conversation_store import ERASE_REQUESTED_INDEX, LAST_SEEN_INDEX, ConversationStore
from bot.directives import CONTEXT_DIRECTIVE, ERASE_DIRECTIVE, HANDOFF_DIRECTIVE, NUMBERS_DIRECTIVE
from bot.erasure import Erasure, ErasureIncomplete
from bot.gateway.sealing import Sealer
from bot.handoff.records import Reason, flagged_reason
from bot.live import LiveState
from bot.metrics import ERASURES, LIVE_STATE_ERRORS, SAFETY_FALLBACKS, SWEEP_ERRORS
from bot.safety_fallback import SafetyFallback

if TYPE_CHECKING:
    from bot.handoff.service import HandoffService

logger = logging.getLogger(__name__)

SWEEP_LOCK = "retention-sweep"
# Per live-state call on her message's path: 3 calls fit in the 5 s with the 4 s deadline.
LIVE_STATE_TIMEOUT = 0.3
T = TypeVar("T")


Deliver = Callable[[list[BotMessage]], Awaitable[None]]

# A message that waited past its deadline (in a queue) still gets the assistant's answer
# alone if it comes this quickly, rather than the numbers and then the answer.
LATE_GRACE_SECONDS = 0.1

# A message the assistant never got is tried again after 1, 2, 4 … 60 s: about an hour in all.
RETRY_ATTEMPTS = 60
MAX_RETRY_DELAY_SECONDS = 60.0


def retry_delay(attempts: int) -> float:
    """Seconds before trying again after ``attempts`` failed tries (for every caller of ``answer``)."""
    return min(MAX_RETRY_DELAY_SECONDS, 2.0 ** max(0, attempts - 1))


class Outcome(Enum):
    """What became of a message given to ``Conversations.answer``."""

    DONE = "done"
    RETRY = "retry"  # the assistant did not take it: keep it and try again later


@dataclass(frozen=True)
class FirstAnswer:
    """What she is told first. ``fallback`` is the app's own answer (empty when the assistant
    said all it must in time); ``reason`` says why it was needed."""

    fallback: list[BotMessage]
    replies: list[BotMessage]
    reason: str | None
    numbers_given: bool = False
    handoff: dict[str, Any] | None = None


@dataclass(frozen=True)
class Turn:
    """What one turn of the assistant gave: the replies to deliver, whether it erased, and
    whether it asked for a counsellor (the ``handoff`` directive)."""

    replies: list[BotMessage]
    erased: bool = False
    numbers_given: bool = False
    handoff: dict[str, Any] | None = None


class Conversations:
    """Routes her messages to the assistant, answers when it cannot, erases when due."""

    def __init__(
        self,
        assistant: AssistantClient,
        live: LiveState,
        erasure: Erasure,
        fallback: SafetyFallback,
        retention_seconds: float,
        first_reply_deadline: float,
        *,
        sealer: Sealer,
    ) -> None:
        """``sealer`` seals the replies kept for her (the app's one ``Sealer``, the gateway's)."""
        self._assistant = assistant
        self._live = live
        self._store = ConversationStore(live, retention_seconds, sealer)
        self._erasure = erasure
        self._fallback = fallback
        self._retention = retention_seconds
        self._deadline = first_reply_deadline
        self._late_turns: set[asyncio.Task[None]] = set()
        self._turn_locks = KeyedLocks()
        # Her messages enter one at a time (in this process): the live-state calls before a
        # turn starts must not let a later message's turn overtake an earlier one's.
        self._entry_locks = KeyedLocks()
        self._instance = uuid.uuid4().hex
        self._handoff: HandoffService | None = None
        self.last_sweep = time.monotonic()  # of the last sweep that ran through (or of the start)

    def attach_handoff(self, handoff: HandoffService) -> None:
        """Route her messages through the counsellor handoff (built after the gateway it uses)."""
        self._handoff = handoff

    @property
    def store(self) -> ConversationStore:
        """The app's live data of conversations; registered with the erasure."""
        return self._store

    async def handle(self, sender_id: str, text: str) -> list[BotMessage]:
        """Her replies to ``text``: the assistant's, or the safety fallback's. Never raises.

        For a channel that answers in the request itself (``POST /api/chat``): a
        slow turn's replies are kept and come with her next message.
        """
        started = asyncio.get_running_loop().time()
        collected: list[BotMessage] = []

        async def collect(replies: list[BotMessage]) -> None:
            collected.extend(replies)

        async with self._entry_locks.hold(sender_id):
            await self._guarded("touch", self._store.touch(sender_id, time.time()), None)
            intercepted = await self._intercepted(sender_id, text, collect)
            turn = None if intercepted else asyncio.ensure_future(self._turn(sender_id, text))
        if turn is None:
            late = await self._guarded("take late replies", self._store.take_late_replies(sender_id), [])
            return late + collected
        late = await self._guarded("take late replies", self._store.take_late_replies(sender_id), [])
        first = await self._first_answer(sender_id, text, turn, started)
        if first.reason == "slow":
            self._finish_behind(sender_id, turn)
        if not await self._hand_off(sender_id, text, None, collect, "web") and first.handoff:
            await self._hand_off(sender_id, "", first.handoff, collect, "web")
        if first.fallback:
            return first.fallback + first.replies + late + collected  # the numbers first
        if first.numbers_given:
            return first.replies + late + collected
        return late + first.replies + collected

    async def answer(
        self, sender_id: str, text: str, deliver: Deliver, *, fallback_given: bool = False,
        channel: str = "web",
    ) -> Outcome:
        """Answer ``text`` through ``deliver``, as soon as there is something to say.

        For channels that can send at any time (the messaging platforms, the web
        chat's socket): the safety fallback goes out at the deadline and a slow
        turn's replies follow when they come. Returns ``Outcome.RETRY`` when the
        assistant never got the message (down): the caller keeps it and calls
        again later with ``fallback_given=True``, so that she is not sent the
        numbers twice for one message. Raises what ``deliver`` raises (a failing handoff
        lets the assistant answer, or answers with the numbers).
        """
        outcome, rest = await self.answer_first(sender_id, text, deliver, fallback_given=fallback_given,
                                                channel=channel)
        return outcome if rest is None else await rest

    async def answer_first(
        self, sender_id: str, text: str, deliver: Deliver, *, fallback_given: bool = False,
        since: float | None = None, channel: str = "web",
    ) -> tuple[Outcome, Awaitable[Outcome] | None]:
        """``answer`` in two parts: what she is told by the deadline, and, when the turn is
        still running, the rest (its late replies, then the outcome) for the caller to await
        whenever it likes: a worker need not wait for a frozen assistant.

        ``since`` (Unix time) is when her message was taken, if earlier than now: the
        deadline counts from then, so that a message that waited is not kept waiting longer.

        While a counsellor has her chat (or she is answering the handoff's question), the
        handoff takes the message and the assistant is not asked. A turn that asks for a
        counsellor, and a message the safety lexicon flags, start a handoff on ``channel``.
        """
        waited = max(0.0, time.time() - since) if since else 0.0
        started = asyncio.get_running_loop().time() - waited
        async with self._entry_locks.hold(sender_id):
            await self._guarded("touch", self._store.touch(sender_id, time.time()), None)  # her activity, either way
            if await self._intercepted(sender_id, text, deliver, numbers_given=fallback_given):
                return Outcome.DONE, None
            turn = asyncio.ensure_future(self._turn(sender_id, text))
        first = await self._first_answer(sender_id, text, turn, started)
        if first.fallback and not fallback_given:
            await deliver(first.fallback)
        if first.replies:
            await deliver(first.replies)
        # Danger or self-harm: a person too, however the turn ends (once: not on a retry).
        flagged = not fallback_given and await self._hand_off(sender_id, text, None, deliver, channel)
        if first.reason == "slow":
            return Outcome.DONE, self._rest(sender_id, turn, deliver, channel, flagged)
        if first.handoff and not flagged:
            await self._hand_off(sender_id, "", first.handoff, deliver, channel)
        return (Outcome.RETRY if first.reason == "unavailable" else Outcome.DONE), None

    async def _rest(self, sender_id: str, turn: asyncio.Future[Turn], deliver: Deliver, channel: str,
                    flagged: bool) -> Outcome:
        """The late replies of a slow turn, delivered when they come."""
        try:
            finished = await turn
        except AssistantUnavailable as error:
            return Outcome.DONE if error.reached else Outcome.RETRY
        except Exception:  # noqa: BLE001 - it failed after she was answered
            logger.error("a slow turn failed after the safety fallback")
            return Outcome.DONE
        if finished.replies:
            await deliver(finished.replies)
        if finished.handoff and not flagged:
            await self._hand_off(sender_id, "", finished.handoff, deliver, channel)
        return Outcome.DONE

    async def _intercepted(self, sender_id: str, text: str, deliver: Deliver, numbers_given: bool = False) -> bool:
        """Whether the handoff took her message (a failing handoff lets the assistant answer)."""
        if self._handoff is None:
            return False
        try:
            return await self._handoff.intercept(sender_id, text, deliver, numbers_given=numbers_given)
        except Exception as error:  # noqa: BLE001 - she is answered by the assistant instead
            logger.error("handoff failed on her message: %s", type(error).__name__)
            return False

    async def _hand_off(self, sender_id: str, text: str, request: dict[str, Any] | None,
                        deliver: Deliver, channel: str) -> bool:
        """Start a handoff when her message is flagged (danger, self-harm: deterministic,
        whatever the model predicted), or the assistant asked for one (``request``, its
        directive); whether one was asked for."""
        if self._handoff is None:
            return False
        reason = flagged_reason(self._fallback.flags(text))
        if reason is None and request is not None:
            reason = Reason(request.get("reason", Reason.ASKED))
        if reason is None:
            return False
        request = request or {}
        context = await self.context_of(sender_id)
        language = context.get("language") or request.get("language") or self._fallback.default_language
        try:
            await self._handoff.request(
                sender_id, reason, deliver, channel=channel, language=language,
                country=context.get("country") or request.get("country"),
                need=request.get("need"), place=request.get("place"),
            )
        except Exception as error:  # noqa: BLE001 - a person cannot be reached: the numbers instead
            logger.error("handoff request failed: %s", type(error).__name__)
            if reason not in (Reason.DANGER, Reason.SELF_HARM):  # those have them already
                await deliver(self._fallback.replies(text, language, context.get("country")))
        return True

    async def context_of(self, sender_id: str) -> dict[str, Any]:
        """Her language and country as the assistant last reported them ({} when unknown)."""
        return await self._guarded("read context", self._store.context(sender_id), {})

    async def _first_answer(
        self, sender_id: str, text: str, turn: asyncio.Future[Turn], started: float
    ) -> FirstAnswer:
        """What she is told first: the assistant's turn if it came in time with what it must
        say; otherwise the safety fallback (numbers first) and whatever the turn said."""
        remaining = self._deadline - (asyncio.get_running_loop().time() - started)
        try:
            finished = await within(max(LATE_GRACE_SECONDS, remaining), asyncio.shield(turn))
        except TimeoutError:
            reason, replies = "slow", []
        except AssistantUnavailable as error:
            reason, replies = ("error" if error.reached else "unavailable"), []
        except Exception as error:  # noqa: BLE001 - whatever broke, she is answered
            logger.error("turn failed: %s", type(error).__name__)
            reason, replies = "error", []
        else:
            replies, handoff = finished.replies, finished.handoff
            if finished.numbers_given:
                return FirstAnswer([], replies, None, numbers_given=True, handoff=handoff)
            if any(reply.text for reply in replies) and not self._fallback.flags(text):
                return FirstAnswer([], replies, None, handoff=handoff)
            if handoff is not None and self._handoff is not None and not self._fallback.flags(text):
                return FirstAnswer([], replies, None, handoff=handoff)  # the handoff answers her
            # No text, or a flagged message without the numbers (the numbers action
            # failed and Rasa went on to its next response).
            reason = "no text" if not any(reply.text for reply in replies) else "numbers missing"
        SAFETY_FALLBACKS.labels(reason).inc()
        logger.warning("assistant %s: the app answered with the safety fallback", reason)
        context = await self._guarded("read context", self._store.context(sender_id), {})
        fallback = self._fallback.replies(text, context.get("language"), context.get("country"))
        return FirstAnswer(fallback, replies, reason)

    async def _turn(self, sender_id: str, text: str) -> Turn:
        """One turn of the assistant with its directives carried out.

        Her turns run one at a time (in this process): a turn queued behind an
        erasure must not write the erased conversation back.
        """
        async with self._turn_locks.hold(sender_id):
            replies = await self._assistant.send(sender_id, text)
            context: dict[str, Any] = {}
            for reply in replies:
                context.update(reply.custom.get(CONTEXT_DIRECTIVE) or {})
            if context:
                await self._guarded("remember context", self._store.remember_context(sender_id, context), None)
            deliverable = [reply for reply in replies if reply.text or reply.buttons]
            numbers_given = any(reply.custom.get(NUMBERS_DIRECTIVE) for reply in replies)
            handoff = next((reply.custom[HANDOFF_DIRECTIVE] for reply in replies
                            if isinstance(reply.custom.get(HANDOFF_DIRECTIVE), dict)), None)
            if not any(reply.custom.get(ERASE_DIRECTIVE) for reply in replies):
                return Turn(deliverable, numbers_given=numbers_given, handoff=handoff)
            if not context:
                context = await self._guarded("read context", self._store.context(sender_id), {})
            if await self.erase(sender_id, trigger="request"):
                return Turn(deliverable, erased=True, numbers_given=numbers_given)
            language = context.get("language") or self._fallback.default_language
            return Turn([self._fallback.say("utter_erasure_postponed", language)])

    def _finish_behind(self, sender_id: str, turn: asyncio.Future[Turn]) -> None:
        """Let a slow turn finish behind the deadline; keep what it says for her next message."""

        async def keep() -> None:
            try:
                finished = await turn
            except Exception:  # noqa: BLE001 - it failed after she was answered: nothing to keep
                return
            if finished.erased:  # erased at her request: keep nothing, not even the confirmation
                return
            replies = list(finished.replies)

            async def collect(more: list[BotMessage]) -> None:
                replies.extend(more)

            if finished.handoff:  # she asked for a person: the handoff's question comes with them
                await self._hand_off(sender_id, "", finished.handoff, collect, "web")
            await self._guarded("keep late replies", self._store.keep_late_replies(sender_id, replies), None)

        task = asyncio.ensure_future(keep())
        self._late_turns.add(task)
        task.add_done_callback(self._late_turns.discard)

    async def erase(self, sender_id: str, trigger: str = "request") -> bool:
        """Erase the conversation from every store, as she asked; return whether every store did.

        When one could not, the conversation is marked as expired so that the
        sweep retries the erasure within its interval (as her request: everything goes).
        """
        try:
            await self._erasure.erase(sender_id, requested=True)
        except ErasureIncomplete:
            ERASURES.labels(trigger, "postponed").inc()
            await self._mark_for_retry(sender_id, requested=True)
            return False
        await self._guarded("unindex", self._live.index_remove(LAST_SEEN_INDEX, sender_id), None)
        await self._guarded("unindex", self._live.index_remove(ERASE_REQUESTED_INDEX, sender_id), None)
        ERASURES.labels(trigger, "erased").inc()
        logger.info("a conversation was erased (%s)", trigger)
        return True

    async def keep(self, sender_id: str, now: float) -> bool:
        """Keep her conversation as if she had written at ``now`` (Unix time), though she did
        not: the retention sweep counts from then, and every store whose data of hers expires by
        itself (her reply address, her context, Rasa's tracker in Redis) lasts the retention
        period from now. For a message she left for a counsellor, who may be back only after
        the retention period (``bot.handoff``). Whether every store renewed (else: call again)."""
        await self._store.touch(sender_id, now)
        return await self._erasure.renew(sender_id)

    async def _mark_for_retry(self, sender_id: str, requested: bool) -> None:
        """Index the conversation as long expired, so that the next sweep erases it (``requested``:
        as she asked, not as the retention would)."""
        if requested:
            await self._guarded("mark for retry",
                                self._live.index_add(ERASE_REQUESTED_INDEX, sender_id, 0.0), None)
        await self._guarded("mark for retry", self._live.index_add(LAST_SEEN_INDEX, sender_id, 0.0), None)

    async def erase_expired(self, now: float | None = None, batch: int = 100) -> int:
        """Erase conversations idle for longer than the retention period; return how many.

        Each is claimed first (removed from the index only if no newer message
        renewed it), then erased; one that cannot be erased now goes back into
        the index to be retried. What has its own retention (the handoff's transcript)
        stays, unless this retries an erasure she asked for.
        """
        cutoff = (now if now is not None else time.time()) - self._retention
        erased = 0
        for sender_id in await self._live.index_below(LAST_SEEN_INDEX, cutoff, batch):
            if not await self._live.index_claim(LAST_SEEN_INDEX, sender_id, cutoff):
                continue  # she wrote again meanwhile
            requested = await self._live.index_claim(ERASE_REQUESTED_INDEX, sender_id, float("inf"))
            try:
                await self._erasure.erase(sender_id, requested=requested)
            except ErasureIncomplete:
                ERASURES.labels("retention", "postponed").inc()
                await self._mark_for_retry(sender_id, requested)
                break  # a store is down: try again at the next sweep
            ERASURES.labels("retention", "erased").inc()
            erased += 1
        return erased

    async def sweep_once(self, interval_seconds: float) -> int:
        """One sweep, if no other instance is sweeping (a lock with expiry); return how many."""
        if not await self._live.lock(SWEEP_LOCK, self._instance, ttl_seconds=2 * interval_seconds):
            return 0
        try:
            return await self.erase_expired()
        finally:
            await self._live.unlock(SWEEP_LOCK, self._instance)

    async def sweep_forever(self, interval_seconds: float) -> None:
        """Background task of the app: sweep every interval; an error is logged and retried."""
        while True:
            try:
                erased = await self.sweep_once(interval_seconds)
            except Exception as error:  # noqa: BLE001 - the sweeper must outlive any failure
                SWEEP_ERRORS.inc()
                logger.error("retention sweep failed, retrying: %s", type(error).__name__)
            else:
                self.last_sweep = time.monotonic()
                if erased:
                    logger.info("erased %d expired conversations", erased)
            await asyncio.sleep(interval_seconds)

    async def close(self) -> None:
        """Stop waiting for slow turns (shutdown)."""
        await cancel_and_wait(list(self._late_turns))

    @staticmethod
    async def _guarded(operation: str, work: Awaitable[T], default: T) -> T:
        """Live-state work that must never stop or delay a reply: on failure log, count, go on."""
        try:
            return await within(LIVE_STATE_TIMEOUT, work)
        except Exception as error:  # noqa: BLE001 - a reply to her matters more
            LIVE_STATE_ERRORS.labels(operation).inc()
            logger.error("live state failed (%s): %s", operation, type(error).__name__)
            return default


class KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


def sweeper_problem(conversations: Conversations, task: asyncio.Task[None], interval: float) -> str | None:
    """Why the retention sweeper is not doing its work, or None (for ``/health``)."""
    if task.done():
        return "stopped"
    if time.monotonic() - conversations.last_sweep > 3 * interval:
        return "failing"
    return None
