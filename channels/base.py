"""The one interface every messaging platform implements.

A channel knows its platform and nothing else: it proves that a webhook really
comes from the platform, turns the platform's update into ``Inbound`` messages,
and sends ``Outbound`` messages back in the platform's own format. Everything
shared (deduplication, the per-conversation queue, the assistant, the safety
fallback, the outbox and its retries, reply addresses, erasure) lives in
``bot.gateway``, so that adding Signal, Messenger or SMS means adding one module.

A platform user id and a chat address are personal data: they never leave a
channel and the gateway except encrypted (``bot.gateway.addresses``), and they
are never logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Literal, Protocol

from bot.assistant import Button

Kind = Literal["start", "text", "button", "location", "unsupported"]
"""What she sent: ``start`` (opened the chat), ``text``, ``button`` (a payload),
``location`` (a shared place), ``unsupported`` (voice, photo, file, sticker...:
never downloaded)."""


class MalformedUpdate(ValueError):
    """The body is not an update of the platform (answered with 400)."""


@dataclass(frozen=True)
class Address:
    """Where replies to her go on a platform: sealed at rest (``bot.gateway.addresses``).

    ``chat`` is the platform's chat or user id (Telegram chat id, Viber user id,
    WhatsApp phone number). ``last_inbound_at`` is when she last wrote (Unix
    time), for rules such as WhatsApp's 24-hour customer-service window.
    """

    platform: str
    chat: str
    last_inbound_at: float = 0.0


@dataclass(frozen=True)
class Inbound:
    """One message of hers, as the platform delivered it.

    ``message_id`` identifies the delivery for deduplication (Telegram
    ``update_id``, Viber ``message_token``, WhatsApp message id); a retried
    webhook carries the same one. ``deletable_ids`` are the platform's ids of
    her message that the bot may delete later on her request (Telegram only).
    ``callback_id`` is a button press to acknowledge (Telegram callback query).
    """

    platform: str
    user_id: str
    message_id: str
    kind: Kind
    address: Address
    text: str = ""
    language_hint: str | None = None
    location: tuple[float, float] | None = None
    deletable_ids: tuple[str, ...] = ()
    callback_id: str | None = None


@dataclass(frozen=True)
class Outbound:
    """One message to her: text, with buttons (title shown, payload sent back when pressed)."""

    text: str | None = None
    buttons: tuple[Button, ...] = ()


class DeliveryOutcome(Enum):
    SENT = "sent"
    RETRY = "retry"  # rate-limited or a passing failure: try again after ``retry_after``
    GONE = "gone"  # she blocked the bot, or cannot be reached any more: stop sending to her
    DROP = "drop"  # the platform refuses this one message for good: drop it (logged), send the next


@dataclass(frozen=True)
class Delivery:
    """What became of one send. ``sent_ids``: platform ids of what was sent (for deletion)."""

    outcome: DeliveryOutcome
    retry_after: float | None = None
    sent_ids: tuple[str, ...] = ()
    reason: str = ""  # a fixed word for logs and metrics, never content


SENT = Delivery(DeliveryOutcome.SENT)


class Channel(Protocol):
    """A messaging platform, as the gateway sees it."""

    name: str
    """The platform's name: the webhook path (``/webhooks/<name>``) and the pseudonym's prefix."""

    can_delete: bool
    """Whether the bot can delete the messages of a chat (Telegram); otherwise the last
    reply after an erasure tells her how to delete the chat herself."""

    reply_window_seconds: float | None
    """How long after her last message the platform takes free-form messages to her
    (WhatsApp's 24-hour customer-service window); None where it sets no such limit. The
    gateway tells the handoff (``Gateway.reply_window_closes``) before a counsellor's
    words are queued, so that nothing is promised that ``send`` would drop."""

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether the webhook really comes from the platform (constant-time comparisons)."""

    def parse(self, body: bytes) -> list[Inbound]:
        """Her messages in the update, oldest first; [] for what is ignored (statuses...).

        Raises ``MalformedUpdate`` when the body is not an update of the platform.
        """

    def handshake(self, params: Mapping[str, str]) -> str | None:
        """The body answering the platform's subscription check (WhatsApp's ``GET`` with
        ``hub.challenge``) when it is genuine; None otherwise (403)."""

    def start_answer(self, welcome: Outbound) -> dict[str, object] | None:
        """The webhook response carrying the welcome, where the platform allows no other
        message before she writes (Viber's ``conversation_started``); None elsewhere."""

    async def send(self, address: Address, message: Outbound) -> Delivery:
        """Send one message; never raises for a platform or network failure (see ``Delivery``)."""

    async def acknowledge(self, callback_id: str) -> None:
        """Answer a button press (``Inbound.callback_id``) so that the button stops spinning;
        never raises."""

    async def delete(self, address: Address, message_ids: list[str]) -> None:
        """Delete these messages of the chat where the platform allows (``can_delete``)."""

    async def register_webhook(self, url: str) -> None:
        """Tell the platform where to send updates (``helpline channels setup <name>``)."""

    async def close(self) -> None:
        """Release connections."""
