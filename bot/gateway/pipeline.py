"""The path every platform message takes: accepted once, answered in order, delivered surely.

1. ``accept`` (in the webhook, before the platform gets its 200): her address is
   kept sealed for the conversation's lifetime (``ReplyAddresses``: erasure on
   the platform, later a counsellor), and her message is pushed, sealed with
   the address its replies go to, onto her conversation's inbox queue together
   with a set-if-absent *seen* mark of (platform, message id): a retried
   delivery is queued once, and nothing is acknowledged that is not persisted.
2. Inbox workers (``gateway_workers`` per instance) claim one conversation at a
   time (a lease in the queue, so that instances never work on the same
   conversation together) and answer its messages head first through
   ``Conversations.answer``: the assistant, or the safety fallback at the
   deadline. A message the assistant could not take (Rasa down) stays at the
   head and is retried with backoff; she already has the numbers.
3. Replies go onto her conversation's outbox queue, each with her address
   sealed in it, and outbox workers send them in order through the channel,
   retrying what the platform asks to retry (``retry_after``), dropping a
   message it refuses for good, and stopping when she cannot be reached (she
   blocked the bot) until she writes again. A reply that cannot be sent is
   logged without content and counted, never dropped silently.

A worker that dies lets its lease expire: another one, on any instance, takes
the conversation up where it stopped.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass, replace

from bot import language, places
from bot.assistant import BotMessage, Button
from bot.cancellation import cancel_and_wait, within
from bot.conversations import RETRY_ATTEMPTS, Conversations, Outcome, retry_delay
from bot.gateway.addresses import ReplyAddresses
from bot.gateway.queues import Queues
from bot.gateway.sealing import Sealer
from bot.identity import pseudonym
from bot.metrics import GATEWAY_DELIVERIES, GATEWAY_MESSAGES
from bot.safety_fallback import SafetyFallback
from channels.base import Address, Channel, Delivery, DeliveryOutcome, Inbound, Outbound

logger = logging.getLogger(__name__)

LEASE_SECONDS = 15.0  # a dead worker's conversation is taken up again after this
CLAIMERS = 2  # claim loops per queue and instance
IDLE_POLL_SECONDS = 1.0  # an idle worker looks for retries due and work other instances queued
SEEN_SECONDS = 7 * 24 * 3600  # platforms retry for days at most (WhatsApp: 7)
MAX_SEND_ATTEMPTS = 20  # about 15 minutes of backoff
MAX_STEP_FAILURES = 3  # an item whose handling keeps raising is given up, not retried forever

Advance = bool | Awaitable[bool]
"""What a step says of the head item: True done (pop it, go on), False keep it (the step
released the key or forgot the queue), or the rest of the work to await (then as above)."""
Step = Callable[[str, str, str], Awaitable[Advance]]


@dataclass(frozen=True)
class Queued:
    """One of her messages waiting in the inbox, with where its replies go (sealed at rest)."""

    address: Address
    kind: str
    text: str
    language_hint: str | None = None
    location: tuple[float, float] | None = None
    callback_id: str | None = None
    accepted_at: float = 0.0  # when the webhook took it (Unix time): her deadline counts from here
    attempts: int = 0
    fallback_given: bool = False

    @classmethod
    def of(cls, message: Inbound) -> Queued:
        return cls(message.address, message.kind, message.text, message.language_hint,
                   message.location, message.callback_id, accepted_at=time.time())

    def dump(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def load(cls, data: str) -> Queued:
        fields = json.loads(data)
        location = fields.pop("location")
        return cls(address=Address(**fields.pop("address")),
                   location=tuple(location) if location else None, **fields)


@dataclass(frozen=True)
class Pending:
    """One reply waiting in the outbox, with the address it goes to (sealed at rest)."""

    address: Address
    text: str | None
    buttons: tuple[tuple[str, str], ...] = ()
    attempts: int = 0

    def outbound(self) -> Outbound:
        return Outbound(self.text, tuple(Button(title, payload) for title, payload in self.buttons))

    def dump(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def load(cls, data: str) -> Pending:
        fields = json.loads(data)
        return cls(Address(**fields["address"]), fields["text"],
                   tuple((title, payload) for title, payload in fields["buttons"]), fields["attempts"])


class Gateway:
    """Accepts platform messages and runs the inbox and outbox workers of this instance."""

    def __init__(
        self,
        channels: dict[str, Channel],
        conversations: Conversations,
        fallback: SafetyFallback,
        inbox: Queues,
        outbox: Queues,
        addresses: ReplyAddresses,
        sealer: Sealer,
        pepper: bytes,
        retention_seconds: float,
    ) -> None:
        self.channels = channels
        self._conversations = conversations
        self._fallback = fallback
        self._inbox = inbox
        self._outbox = outbox
        self._addresses = addresses
        self._sealer = sealer
        self._pepper = pepper
        self._retention = retention_seconds
        self._instance = uuid.uuid4().hex[:12]
        self._inbox_ready = asyncio.Event()
        self._outbox_ready = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._behind: set[asyncio.Task[None]] = set()  # conversations finishing a slow turn
        self._failures: dict[tuple[str, str], int] = {}
        self._claims = itertools.count()

    # ------------------------------------------------------------------ accept

    async def accept(self, channel: Channel, messages: list[Inbound]) -> int:
        """Persist her messages before the platform is acknowledged; return how many were new.

        Raises when the stores cannot be reached: the webhook then fails and the
        platform delivers again later.
        """
        new = 0
        for message in messages:
            sender_id = pseudonym(self._pepper, channel.name, message.user_id)
            await self._addresses.remember(sender_id, message.address)
            await self._addresses.add_message_ids(sender_id, list(message.deletable_ids))
            item = self._sealer.seal(Queued.of(message).dump())
            if await self._inbox.push(sender_id, item, self._retention,
                                      once=self._seen_key(channel.name, message.message_id),
                                      once_ttl_seconds=SEEN_SECONDS):
                new += 1
                GATEWAY_MESSAGES.labels(channel.name, "accepted").inc()
            else:
                GATEWAY_MESSAGES.labels(channel.name, "duplicate").inc()
        if new:
            self._inbox_ready.set()
        return new

    def welcome(self, language_hint: str | None) -> Outbound:
        """The welcome for platforms that want it in the webhook's own response (Viber)."""
        message = self._fallback.welcome(language.from_hint(language_hint) or self._fallback.default_language)
        return Outbound(message.text, message.buttons)

    def _seen_key(self, platform: str, message_id: str) -> str:
        """The platform's message id, keyed (some ids embed her phone number)."""
        digest = hmac.new(self._pepper, f"{platform}\x00{message_id}".encode(), hashlib.sha256)
        return digest.hexdigest()[:40]

    # ----------------------------------------------------------------- workers

    def start(self, workers: int) -> None:
        """Start this instance's claimers: up to ``workers`` conversations at once, per queue.

        A claimer hands each conversation it claims to a task of its own, so that
        a message is taken up as soon as it is due, however long others take.
        """
        for queues, ready, step in ((self._inbox, self._inbox_ready, self._answer_next),
                                    (self._outbox, self._outbox_ready, self._send_next)):
            slots = asyncio.Semaphore(workers)
            for _ in range(CLAIMERS):
                self._workers.append(asyncio.create_task(self._claim_forever(queues, ready, slots, step)))

    async def problem(self) -> str | None:
        """Why this instance's gateway cannot work, or None (for ``/health``)."""
        if any(task.done() for task in self._workers):
            return "workers stopped"
        try:
            await within(3, self._inbox.pending())
        except Exception as error:  # noqa: BLE001 - any failure means "not ready"
            return f"queues unreachable ({type(error).__name__})"
        return None

    async def close(self) -> None:
        await cancel_and_wait(self._workers)  # first, so that nothing new is claimed
        self._workers.clear()
        stopped: set[asyncio.Task[None]] = set()
        while started := self._behind - stopped:  # and what a task started as it was stopped
            await cancel_and_wait(started)
            stopped |= started
        for channel in self.channels.values():
            await channel.close()
        await self._inbox.close()
        await self._outbox.close()

    async def _claim_forever(self, queues: Queues, ready: asyncio.Event, slots: asyncio.Semaphore,
                             step: Step) -> None:
        """Claim due conversations while there are free slots, and work on each in its own task."""
        while True:
            await slots.acquire()
            ready.clear()  # before the claim: a push during the claim wakes the wait below
            owner = f"{self._instance}-{next(self._claims)}"  # one per claim: a stale task cannot pop
            try:
                key = await queues.claim(owner, LEASE_SECONDS)
            except Exception as error:  # noqa: BLE001 - the store will be back
                logger.error("%s claim failed: %s", queues.name, type(error).__name__)
                key = None
            if key is None:
                slots.release()
                with suppress(asyncio.TimeoutError):
                    await within(IDLE_POLL_SECONDS, ready.wait())
                continue
            task = asyncio.create_task(self._drain(queues, key, owner, step))
            self._behind.add(task)
            task.add_done_callback(lambda done: (self._behind.discard(done), slots.release()))

    async def _drain(self, queues: Queues, key: str, owner: str, step: Step) -> None:
        """Work through a held key's queue, head first, until it is empty or released.

        A step may hand the rest of its work to later (a slow turn, once she has
        the numbers): a task of its own then holds the key, finishes, and goes
        on with the queue, while the worker goes back to claiming.
        """
        try:
            async with _renewing(queues, key, owner):
                while (raw := await queues.peek(key)) is not None:
                    advance = await self._step(queues, key, owner, step, raw)
                    if not isinstance(advance, bool):
                        self._later(queues, key, owner, step, advance)
                        return
                    if not advance or not await queues.pop(key, owner):
                        return
        except Exception as error:  # noqa: BLE001 - the lease runs out and the key is retried
            logger.error("%s work failed: %s", queues.name, type(error).__name__)

    def _later(self, queues: Queues, key: str, owner: str, step: Step, rest: Awaitable[bool]) -> None:
        async def finish() -> None:
            try:
                async with _renewing(queues, key, owner):
                    advance = await rest
                if advance and await queues.pop(key, owner):
                    await self._drain(queues, key, owner, step)
            except Exception as error:  # noqa: BLE001 - the lease runs out and the key is retried
                logger.error("%s work failed: %s", queues.name, type(error).__name__)

        task = asyncio.create_task(finish())
        self._behind.add(task)
        task.add_done_callback(self._behind.discard)

    async def _step(self, queues: Queues, key: str, owner: str, step: Step, raw: str) -> Advance:
        """``step``, with an item that keeps failing given up rather than holding her queue."""
        try:
            advance = await step(key, owner, raw)
        except Exception as error:  # noqa: BLE001 - counted; after a few, the item is given up
            failures = self._failures.get((queues.name, key), 0) + 1
            logger.error("%s step failed (%d): %s", queues.name, failures, type(error).__name__)
            if failures < MAX_STEP_FAILURES:
                self._failures[(queues.name, key)] = failures
                await queues.release(key, owner, float(failures))  # a store's hiccup: soon again
                return False
            GATEWAY_MESSAGES.labels(queues.name, "given up").inc()
            advance = True
        self._failures.pop((queues.name, key), None)
        return advance

    # ------------------------------------------------------------------- inbox

    async def _answer_next(self, sender_id: str, owner: str, raw: str) -> Advance:
        """Answer the head message of her inbox; True when it is done (pop it)."""
        try:
            queued = Queued.load(self._sealer.open(raw))
        except (ValueError, KeyError, TypeError):  # another ADDRESS_KEY (Sealed), or another version
            GATEWAY_MESSAGES.labels("unknown", "unreadable").inc()
            logger.error("a queued message could not be read: dropped")
            return True
        platform = queued.address.platform
        channel = self.channels.get(platform)
        if channel is None:
            GATEWAY_MESSAGES.labels(platform, "channel off").inc()
            logger.warning("a message of %s cannot be answered: the platform is off", platform)
            return True
        if queued.callback_id:
            await channel.acknowledge(queued.callback_id)
        deliver = self._deliverer(sender_id, queued.address)
        if queued.kind == "unsupported":
            context = await self._conversations.context_of(sender_id)
            await deliver([self._fallback.text_only(context.get("language"), context.get("country"))])
            return True
        outcome, rest = await self._conversations.answer_first(
            sender_id, _assistant_text(queued), deliver, fallback_given=queued.fallback_given,
            since=queued.accepted_at, channel=platform,
        )
        if rest is None:
            return await self._after(sender_id, owner, queued, outcome)

        async def finish() -> bool:
            return await self._after(sender_id, owner, queued, await rest)

        return finish()

    async def _after(self, sender_id: str, owner: str, queued: Queued, outcome: Outcome) -> bool:
        """Done with the message, or kept at the head and retried (the assistant never got it)."""
        platform = queued.address.platform
        if outcome is Outcome.DONE:
            GATEWAY_MESSAGES.labels(platform, "answered").inc()
            return True
        if queued.attempts + 1 >= RETRY_ATTEMPTS:
            GATEWAY_MESSAGES.labels(platform, "given up").inc()
            logger.error("a message of %s was given up after %d attempts", platform, queued.attempts + 1)
            return True
        retry = replace(queued, attempts=queued.attempts + 1, fallback_given=True)
        await self._inbox.replace(sender_id, owner, 0, self._sealer.seal(retry.dump()))
        seen = await self._fallback_for_those_waiting(sender_id, owner)
        await self._inbox.release(sender_id, owner, _backoff(retry.attempts), seen=seen)
        return False

    async def _fallback_for_those_waiting(self, sender_id: str, owner: str) -> int:
        """Her messages behind one the assistant could not take get the safety fallback now
        (each for its own words: danger, self-harm, or the apology with the numbers).
        Returns how many messages her inbox held: one she sends later is answered at once."""
        items = await self._inbox.items(sender_id)
        waiting = items[1:]
        for index, raw in enumerate(waiting, start=1):
            try:
                queued = Queued.load(self._sealer.open(raw))
            except (ValueError, KeyError, TypeError):
                continue  # dropped when it comes to the head
            if queued.fallback_given or queued.kind == "unsupported":
                continue
            context = await self._conversations.context_of(sender_id)
            replies = self._fallback.replies(_assistant_text(queued), context.get("language"),
                                             context.get("country"))
            await self._deliverer(sender_id, queued.address)(replies)
            given = replace(queued, fallback_given=True)
            await self._inbox.replace(sender_id, owner, index, self._sealer.seal(given.dump()))
        return len(items)

    async def send_to(self, sender_id: str, replies: list[BotMessage]) -> bool:
        """Send her messages outside her own turn (a counsellor's reply), through her outbox to
        the address she last wrote from; False when no address is known (erased, expired)."""
        address = await self._addresses.get(sender_id)
        if address is None:
            return False
        await self._deliverer(sender_id, address)(replies)
        return True

    async def reply_window_closes(self, sender_id: str) -> float | None:
        """When her platform stops taking free-form messages to her (Unix time): WhatsApp's
        customer-service window, 24 hours after her last message. None where the platform sets
        no such limit, or when her address is not known (``send_to`` then says so)."""
        address = await self._addresses.get(sender_id)
        channel = self.channels.get(address.platform) if address is not None else None
        if address is None or channel is None or channel.reply_window_seconds is None:
            return None
        return address.last_inbound_at + channel.reply_window_seconds

    def _deliverer(self, sender_id: str, address: Address) -> Callable[[list[BotMessage]], Awaitable[None]]:
        """Replies to her go onto her outbox with the address they go to."""

        async def deliver(replies: list[BotMessage]) -> None:
            for reply in replies:
                pending = Pending(address, reply.text, tuple((b.title, b.payload) for b in reply.buttons))
                await self._outbox.push(sender_id, self._sealer.seal(pending.dump()), self._retention)
            self._outbox_ready.set()

        return deliver

    # ------------------------------------------------------------------ outbox

    async def _send_next(self, sender_id: str, owner: str, raw: str) -> bool:
        """Send the head reply of her outbox; True when it is done with (pop it)."""
        try:
            pending = Pending.load(self._sealer.open(raw))
        except (ValueError, KeyError, TypeError):  # another ADDRESS_KEY (Sealed), or another version
            _dropped("unknown", "unreadable")
            return True
        channel = self.channels.get(pending.address.platform)
        if channel is None:
            _dropped(pending.address.platform, "channel off")
            return True
        if await self._addresses.is_gone(sender_id):  # she blocked the bot: nothing until she writes
            _dropped(channel.name, "refused before")
            return True
        delivery = await channel.send(pending.address, pending.outbound())
        GATEWAY_DELIVERIES.labels(channel.name, delivery.outcome.value).inc()
        # Parts of a split message may have gone out before a failure: deletable all the same.
        await self._addresses.add_message_ids(sender_id, list(delivery.sent_ids))
        if delivery.outcome is DeliveryOutcome.SENT:
            return True
        if delivery.outcome is DeliveryOutcome.DROP:
            _dropped(channel.name, delivery.reason or "rejected")
            return True
        if delivery.outcome is DeliveryOutcome.GONE:
            _dropped(channel.name, delivery.reason or "refused")
            if await self._addresses.mark_gone(sender_id, pending.address):
                await self._outbox.forget(sender_id)
                return False
            return True  # she wrote again since: only this reply is lost
        return await self._retry_send(sender_id, owner, pending, delivery)

    async def _retry_send(self, sender_id: str, owner: str, pending: Pending, delivery: Delivery) -> bool:
        attempts = pending.attempts + 1
        if attempts >= MAX_SEND_ATTEMPTS:
            _dropped(pending.address.platform, "retries exhausted")
            return True
        retry = replace(pending, attempts=attempts)
        await self._outbox.replace(sender_id, owner, 0, self._sealer.seal(retry.dump()))
        await self._outbox.release(sender_id, owner, delivery.retry_after or _backoff(attempts))
        return False


def _assistant_text(queued: Queued) -> str:
    """What the assistant is sent for her message."""
    if queued.kind == "start":
        hinted = language.from_hint(queued.language_hint)
        return "/greet" + json.dumps({"language": hinted}) if hinted else "/greet"
    if queued.kind == "location" and queued.location:
        return places.location_message(*queued.location) or "/inform_location"
    return queued.text


def _backoff(attempts: int) -> float:
    return retry_delay(attempts)


def _dropped(platform: str, reason: str) -> None:
    GATEWAY_DELIVERIES.labels(platform, "dropped").inc()
    logger.error("a reply on %s could not be delivered: %s", platform, reason)


@asynccontextmanager
async def _renewing(queues: Queues, key: str, owner: str) -> AsyncIterator[None]:
    """Keep the lease of ``key`` while working on it."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            with suppress(Exception):
                await queues.renew(key, owner, LEASE_SECONDS)

    task = asyncio.create_task(renew())
    try:
        yield
    finally:
        await cancel_and_wait([task])
