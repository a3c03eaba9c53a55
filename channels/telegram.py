"""Telegram, through aiogram 3: its types parse the updates, its ``Bot`` sends.

aiogram's ``Bot`` is pointed at ``TELEGRAM_API_BASE`` (``TelegramAPIServer``),
which is how tests put a local stand-in of the Bot API in Telegram's place.
Only aiogram's client and types are used, not its dispatcher or web server: the
gateway's router receives the webhook, so the secret token (which aiogram checks
only in its own server) is checked here, in constant time.

Only private chats are served: an update from a group or a channel is ignored,
as are edits and the update types the webhook is not registered for. ``/start``
is her pressing Start (a ``?start=`` link's payload is not used); a voice
message, photo, file or sticker becomes ``unsupported`` and nothing of it is
downloaded or kept. Her messages' ids are kept (sealed, by the gateway) so that
an erasure can delete them from her phone: Telegram allows that for 48 hours,
and what it refuses after that is counted, not retried.

**Button payloads and the 64 bytes of ``callback_data``.** A pressed button
comes back as ``callback_data``, at most 64 bytes, and the press may reach any
instance of the app, after a restart or a deployment. So the payload must be
recoverable from ``callback_data`` alone, without a memory of what was sent:

- a payload that fits (every payload of the domain today) is sent as it is;
- a longer one that is one of the domain's payloads (``domain.yml``) is sent as
  ``#`` and a digest of it, looked up in the table of the domain's payloads.
  The digest depends on the payload only, not on its place in the file, so every
  instance and every version of the domain that has the payload reads it back;
- a longer one that is not in the domain (no custom action sends buttons) cannot
  be recovered: that button is left out, with a log line, and the rest is sent.

**Limits.** Telegram allows a bot about 30 messages a second, and about one a
second in one chat with short bursts. ``Throttle`` keeps this instance within
those (bursts of 3 in a chat, then one a second; 30 a second in all). Instances
do not share it: across instances Telegram's 429 answers (``retry_after``) are
the backstop, and the outbox retries after the time they ask for.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

import yaml
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from pydantic import ValidationError

from bot.assistant import Button
from bot.settings import PROJECT_ROOT, Settings
from channels.base import SENT, Address, Delivery, DeliveryOutcome, Inbound, Kind, MalformedUpdate, Outbound
from channels.text import split_text

logger = logging.getLogger(__name__)

NAME = "telegram"
CREDENTIALS = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET")
SECRET_HEADER = "x-telegram-bot-api-secret-token"
DOMAIN_FILE = PROJECT_ROOT / "domain.yml"

MAX_TEXT = 4096  # UTF-16 code units, as Telegram counts them
MAX_CALLBACK_DATA = 64  # bytes
DIGEST_MARK = "#"
DELETE_BATCH = 100  # deleteMessages takes 1 to 100 ids
REQUEST_TIMEOUT = 20  # seconds; a stuck call must not hold her outbox for long
PATIENT_ATTEMPTS = 3  # the rest of a split text, and deletions, are retried here a few times
MAX_PATIENT_WAIT = 10.0  # seconds; a longer retry_after is left to the outbox (or given up)
ALLOWED_UPDATES = ["message", "callback_query"]
PASSING = (TelegramRetryAfter, TelegramServerError, TelegramNetworkError, ClientDecodeError, asyncio.TimeoutError)
FAILURES = (TelegramAPIError, ClientDecodeError, asyncio.TimeoutError)
T = TypeVar("T")

_START = re.compile(r"/start(?:@\w+)?(?:\s|$)")
_UNSUPPORTED = (
    "animation", "audio", "checklist", "contact", "dice", "document", "game", "paid_media",
    "photo", "poll", "sticker", "story", "video", "video_note", "voice",
)


class TelegramChannel:
    """The Telegram Bot API behind ``channels.base.Channel``."""

    name = NAME
    can_delete = True
    reply_window_seconds: float | None = None

    def __init__(self, token: str, secret: str, api_base: str, payloads: Iterable[str] = (),
                 throttle: Throttle | None = None) -> None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_base), timeout=REQUEST_TIMEOUT)
        self._bot = Bot(token, session=session)
        self._secret = secret.encode()
        self._callbacks = CallbackData(payloads)
        self._throttle = throttle or Throttle()

    # ------------------------------------------------------------------ webhook

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        received = next((v for k, v in headers.items() if k.lower() == SECRET_HEADER), None)
        return received is not None and hmac.compare_digest(received.encode(), self._secret)

    def parse(self, body: bytes) -> list[Inbound]:
        try:
            update = Update.model_validate_json(body)
        except ValidationError as error:
            raise MalformedUpdate("not a Telegram update") from error
        if update.message is not None:
            return _from_message(update.update_id, update.message)
        if update.callback_query is not None:
            return self._from_callback(update.update_id, update.callback_query)
        return []  # edits, reactions, member updates...: nothing she asks

    def handshake(self, params: Mapping[str, str]) -> str | None:
        return None  # Telegram makes no subscription check

    def start_answer(self, welcome: Outbound) -> dict[str, object] | None:
        return None  # the bot may write first once she pressed Start

    def _from_callback(self, update_id: int, query: CallbackQuery) -> list[Inbound]:
        chat = query.message.chat if query.message is not None else None
        if chat is None or chat.type != "private" or query.data is None:
            return []
        payload = self._callbacks.decode(query.data)
        if payload is None:
            logger.info("a telegram button of a former version was pressed; ignored")
            return []
        address = Address(NAME, str(chat.id), time.time())
        return [Inbound(NAME, str(query.from_user.id), str(update_id), "button", address,
                        text=payload, callback_id=query.id)]

    # ------------------------------------------------------------------ sending

    async def send(self, address: Address, message: Outbound) -> Delivery:
        chunks = split_text(message.text or "", MAX_TEXT)
        if not chunks:
            logger.warning("a telegram reply without text was not sent (%d buttons)", len(message.buttons))
            return SENT
        keyboard = self._keyboard(message.buttons)
        sent: list[str] = []
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            delivery = await self._send_chunk(address.chat, chunk, keyboard if last else None, index > 0)
            if delivery.outcome is not DeliveryOutcome.SENT:
                return replace(delivery, sent_ids=tuple(sent))
            sent.extend(delivery.sent_ids)
        return Delivery(DeliveryOutcome.SENT, sent_ids=tuple(sent))

    async def _send_chunk(self, chat: str, text: str, keyboard: InlineKeyboardMarkup | None,
                          continuing: bool) -> Delivery:
        """One message. A continuation is retried here: the start is on her phone already and
        would be sent twice if the outbox retried the whole reply."""
        attempts = PATIENT_ATTEMPTS if continuing else 1
        try:
            sent = await self._patiently(
                partial(self._bot.send_message, chat_id=chat, text=text, reply_markup=keyboard), attempts, chat
            )
        except FAILURES as error:
            delivery = _failure(error)
            logger.warning("a telegram send failed: %s", delivery.reason)
            return delivery
        return Delivery(DeliveryOutcome.SENT, sent_ids=(str(sent.message_id),))

    async def _patiently(self, call: Callable[[], Awaitable[T]], attempts: int, chat: str | None = None) -> T:
        """``call`` within the rate limits (of ``chat`` too, for a message to her), tried again after
        a rate limit or a passing failure (waiting at most ``MAX_PATIENT_WAIT``); the last failure
        is raised."""
        attempt = 1
        while True:
            await self._throttle.wait(chat)
            try:
                return await call()
            except PASSING as error:
                wait = float(error.retry_after) if isinstance(error, TelegramRetryAfter) else float(attempt)
                if attempt >= attempts or wait > MAX_PATIENT_WAIT:
                    raise
            await asyncio.sleep(wait)
            attempt += 1

    def _keyboard(self, buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
        """One button a row (titles in four languages are long); None without buttons."""
        rows = []
        for button in buttons:
            data = self._callbacks.encode(button.payload)
            if data is None:
                logger.warning("a telegram button was left out: its payload does not fit callback_data")
                continue
            rows.append([InlineKeyboardButton(text=button.title, callback_data=data)])
        return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None

    async def acknowledge(self, callback_id: str) -> None:
        try:
            await self._bot.answer_callback_query(callback_query_id=callback_id)
        except FAILURES as error:
            logger.info("a telegram button press could not be answered: %s", type(error).__name__)

    # ----------------------------------------------------------------- deleting

    async def delete(self, address: Address, message_ids: list[str]) -> None:
        """Delete what Telegram still allows; what it refuses (older than 48 h) is counted, not retried."""
        ids = sorted({int(i) for i in message_ids if i.isdigit()})
        refused = 0
        for start in range(0, len(ids), DELETE_BATCH):
            batch = ids[start:start + DELETE_BATCH]
            try:
                await self._patiently(
                    partial(self._bot.delete_messages, chat_id=address.chat, message_ids=batch), PATIENT_ATTEMPTS
                )
            except (TelegramBadRequest, TelegramNotFound):  # an API without deleteMessages
                refused += await self._delete_each(address.chat, batch)
        if refused:
            logger.info("telegram kept %d messages it no longer allows deleting", refused)

    async def _delete_each(self, chat: str, ids: list[int]) -> int:
        """``deleteMessage`` one by one; how many Telegram refused (too old, already gone)."""
        refused = 0
        for message_id in ids:
            try:
                await self._patiently(
                    partial(self._bot.delete_message, chat_id=chat, message_id=message_id), PATIENT_ATTEMPTS
                )
            except TelegramBadRequest:
                refused += 1
        return refused

    # -------------------------------------------------------------------- setup

    async def register_webhook(self, url: str) -> None:
        await self._bot.set_webhook(
            url, secret_token=self._secret.decode(), allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
        )

    async def close(self) -> None:
        await self._bot.session.close()


def from_settings(settings: Settings) -> TelegramChannel | None:
    """The Telegram channel, or None when its token or webhook secret is not configured."""
    token, secret = settings.telegram_bot_token, settings.telegram_webhook_secret
    if token is None or secret is None or not token.get_secret_value() or not secret.get_secret_value():
        return None
    return TelegramChannel(token.get_secret_value(), secret.get_secret_value(), settings.telegram_api_base,
                           payloads=domain_payloads())


# ---------------------------------------------------------------------- parsing


def _from_message(update_id: int, message: Message) -> list[Inbound]:
    if message.chat.type != "private" or message.from_user is None:
        return []
    kind, text, location = _content(message)
    if kind is None:
        return []  # a service message (pinned, forwarded rights...): nothing she wrote
    hint = message.from_user.language_code if kind == "start" else None
    address = Address(NAME, str(message.chat.id), message.date.timestamp())
    return [Inbound(
        NAME, str(message.from_user.id), str(update_id), kind, address, text=text,
        language_hint=hint[:2].lower() if hint else None, location=location,
        deletable_ids=(str(message.message_id),),
    )]


def _content(message: Message) -> tuple[Kind | None, str, tuple[float, float] | None]:
    """What kind of message it is, its text, its place; nothing of a file is kept."""
    if message.text is not None:
        return ("start", "", None) if _START.match(message.text) else ("text", message.text, None)
    if message.location is not None:
        return "location", "", (message.location.latitude, message.location.longitude)
    if any(getattr(message, field, None) is not None for field in _UNSUPPORTED):
        return "unsupported", "", None
    return None, "", None


def _failure(error: Exception) -> Delivery:
    """What a failed call means for her reply (fixed reasons, never the error's text)."""
    if isinstance(error, TelegramRetryAfter):
        return Delivery(DeliveryOutcome.RETRY, retry_after=float(error.retry_after), reason="rate limited")
    if isinstance(error, TelegramForbiddenError):
        return Delivery(DeliveryOutcome.GONE, reason="blocked")
    if isinstance(error, TelegramBadRequest):
        if "chat not found" in error.message.lower():
            return Delivery(DeliveryOutcome.GONE, reason="chat not found")
        return Delivery(DeliveryOutcome.DROP, reason="rejected")
    if isinstance(error, TelegramServerError | TelegramNetworkError | ClientDecodeError | asyncio.TimeoutError):
        return Delivery(DeliveryOutcome.RETRY, reason="unavailable")
    # 401, 404, 409: the bot's configuration, not her chat: retried, never marked gone.
    return Delivery(DeliveryOutcome.RETRY, reason=type(error).__name__)


# -------------------------------------------------------------- callback data


class CallbackData:
    """Button payloads to and from ``callback_data``, without state (see the module docstring)."""

    def __init__(self, payloads: Iterable[str]) -> None:
        self._by_digest = {_digest(p): p for p in payloads}

    def encode(self, payload: str) -> str | None:
        if len(payload.encode()) <= MAX_CALLBACK_DATA and not payload.startswith(DIGEST_MARK):
            return payload
        digest = _digest(payload)
        return digest if digest in self._by_digest else None

    def decode(self, data: str) -> str | None:
        """The payload; None for a digest this domain does not know (a former version's button)."""
        return self._by_digest.get(data) if data.startswith(DIGEST_MARK) else data


def _digest(payload: str) -> str:
    digest = hashlib.sha256(payload.encode()).digest()[:12]
    return DIGEST_MARK + base64.urlsafe_b64encode(digest).decode()


def domain_payloads(domain_file: Path = DOMAIN_FILE) -> tuple[str, ...]:
    """Every button payload of the domain's responses."""
    domain = yaml.safe_load(domain_file.read_text(encoding="utf-8"))
    return tuple(
        button["payload"]
        for variations in domain.get("responses", {}).values()
        for variation in variations
        for button in variation.get("buttons") or ()
    )


# ----------------------------------------------------------------- rate limits


@dataclass
class _Bucket:
    rate: float  # tokens a second
    burst: float
    tokens: float
    stamp: float

    def reserve(self, now: float) -> float:
        """Take a token, in debt if none is left; the seconds until it is really there."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate) - 1
        self.stamp = now
        return max(0.0, -self.tokens / self.rate)

    def idle(self, now: float) -> bool:
        return self.tokens + (now - self.stamp) * self.rate >= self.burst


class Throttle:
    """Token buckets of this instance: a burst of ``chat_burst`` in one chat, then
    ``chat_rate`` a second; ``total_rate`` a second over all chats."""

    MAX_TRACKED = 1000  # past this, chats idle long enough to be full again are forgotten

    def __init__(self, total_rate: float = 30.0, chat_rate: float = 1.0, chat_burst: float = 3.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._chat_rate, self._chat_burst = chat_rate, chat_burst
        self._total = _Bucket(total_rate, total_rate, total_rate, clock())
        self._chats: dict[str, _Bucket] = {}

    def reserve(self, chat: str | None) -> float:
        """Book one call (a message to ``chat``, if given); the seconds to wait before making it."""
        now = self._clock()
        if chat is None:
            return self._total.reserve(now)
        if len(self._chats) >= self.MAX_TRACKED:
            self._chats = {c: b for c, b in self._chats.items() if not b.idle(now)}
        bucket = self._chats.setdefault(chat, _Bucket(self._chat_rate, self._chat_burst, self._chat_burst, now))
        return max(bucket.reserve(now), self._total.reserve(now))

    async def wait(self, chat: str | None) -> None:
        if delay := self.reserve(chat):
            await asyncio.sleep(delay)
