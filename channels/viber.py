"""Viber: the REST bot API, through a small typed async client of our own.

Not the ``viberbot`` package: it is unmaintained since 2021, synchronous (its
requests would block the event loop every conversation shares), hard-codes
``https://chatapi.viber.com/pa`` (so tests could not point it at a local
stand-in through ``VIBER_API_BASE``) and compares webhook signatures with
``==``, which leaks through timing how much of a forged signature is right. The
few calls the helpline makes (``send_message``, ``set_webhook``) are a JSON
POST each: ``httpx.AsyncClient`` does them here.

What Viber does, and what follows for the helpline:

- Every callback is signed: ``X-Viber-Content-Signature`` is the hex
  HMAC-SHA256 of the raw body keyed by the auth token (checked in constant time).
- Before she writes, a bot may send her one message only, the welcome, and only
  as the HTTP response to ``conversation_started`` (``start_answer``).
- A keyboard button (``ActionType: reply``) comes back as an ordinary text
  message whose text is the button's ``ActionBody``: the Rasa payload, so a text
  starting with ``/`` is a button.
- ``send_message`` answers HTTP 200 with a ``status``; what it means for her chat
  is ``_STATUSES`` below. A bot cannot delete messages on Viber: after an
  erasure the last reply tells her how to delete the chat herself.
- Her name and photo are never asked for (``send_name``/``send_photo`` false),
  and a picture, video, file, sticker or contact is never downloaded.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any, TypeGuard

import httpx

from bot.settings import Settings
from channels.base import (
    SENT,
    Address,
    Delivery,
    DeliveryOutcome,
    Inbound,
    Kind,
    MalformedUpdate,
    Outbound,
)
from channels.text import split_text

logger = logging.getLogger(__name__)

NAME = "viber"
CREDENTIALS = ("VIBER_AUTH_TOKEN",)

SIGNATURE_HEADER = "x-viber-content-signature"
MAX_TEXT_CHARS = 7000  # Viber's limit on a text message
MAX_SENDER_NAME_CHARS = 28  # Viber's limit on ``sender.name``
MIN_API_VERSION = 1  # text and reply keyboards need nothing newer: every Viber client shows them
TIMEOUT_SECONDS = 10.0
EVENT_TYPES = ("delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started")

# ``status`` of Viber's answers (Viber's "error codes" table): what each means for
# her chat. GONE: this receiver cannot get the bot's messages, retrying is useless
# (not registered, not subscribed or unsubscribed, a device or Viber version without
# bot support). DROP: Viber refuses this request itself (bad or missing data, a
# version mismatch): retrying it never helps, the next one may go. Everything else is retried: rate control, Viber's own failures,
# and what is wrong with the account rather than with her (a revoked token, a
# suspended account, no webhook): marking her gone for those would silence every
# woman at once, whereas a retried reply goes out once the operator has fixed it,
# and is otherwise given up, logged and counted by the outbox.
_STATUSES: dict[int, tuple[str, DeliveryOutcome]] = {
    1: ("invalidUrl", DeliveryOutcome.RETRY),
    2: ("invalidAuthToken", DeliveryOutcome.RETRY),
    3: ("badData", DeliveryOutcome.DROP),
    4: ("missingData", DeliveryOutcome.DROP),
    5: ("receiverNotRegistered", DeliveryOutcome.GONE),
    6: ("receiverNotSubscribed", DeliveryOutcome.GONE),
    7: ("publicAccountBlocked", DeliveryOutcome.RETRY),
    8: ("publicAccountNotFound", DeliveryOutcome.RETRY),
    9: ("publicAccountSuspended", DeliveryOutcome.RETRY),
    10: ("webhookNotSet", DeliveryOutcome.RETRY),
    11: ("receiverNoSuitableDevice", DeliveryOutcome.GONE),
    12: ("tooManyRequests", DeliveryOutcome.RETRY),
    13: ("apiVersionNotSupported", DeliveryOutcome.GONE),
    14: ("incompatibleWithVersion", DeliveryOutcome.DROP),
    15: ("publicAccountNotAuthorized", DeliveryOutcome.RETRY),
}
_ACCOUNT_PROBLEMS = frozenset({2, 7, 8, 9, 10, 15})  # an operator must act: said in the log


class ViberChannel:
    """The helpline's Viber bot (``channels.base.Channel``)."""

    name = NAME
    can_delete = False
    reply_window_seconds: float | None = None

    def __init__(self, auth_token: str, api_base: str, sender_name: str) -> None:
        self._key = auth_token.encode()
        self._sender = {"name": sender_name[:MAX_SENDER_NAME_CHARS]}
        self._client = httpx.AsyncClient(base_url=api_base.rstrip("/"), timeout=TIMEOUT_SECONDS,
                                         headers={"X-Viber-Auth-Token": auth_token})

    # ----------------------------------------------------------------- webhook

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        signature = _header(headers, SIGNATURE_HEADER)
        if not signature:
            return False
        expected = hmac.new(self._key, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature.strip().lower().encode(), expected.encode())

    def parse(self, body: bytes) -> list[Inbound]:
        update = _json_object(body)
        event = update.get("event")
        if not isinstance(event, str):
            raise MalformedUpdate("no event")
        if event == "message":
            return [_message(update)]
        if event == "conversation_started":
            return [_started(update)]
        # subscribed: nothing to say before she writes; unsubscribed: the next send is GONE
        # anyway; delivered, seen, failed; webhook (Viber checking a new webhook); newer events.
        return []

    def handshake(self, params: Mapping[str, str]) -> str | None:
        return None  # Viber checks a new webhook with a signed ``webhook`` callback instead

    def start_answer(self, welcome: Outbound) -> dict[str, object] | None:
        """The welcome, as the response body to ``conversation_started`` (no ``receiver``)."""
        return self._message_body(welcome.text or "", welcome)

    # -------------------------------------------------------------------- send

    async def send(self, address: Address, message: Outbound) -> Delivery:
        """Send her the message, in parts of at most 7000 characters, the keyboard on the last."""
        if not message.text and not message.buttons:
            return SENT  # nothing to say
        parts = split_text(message.text or "", MAX_TEXT_CHARS) or [""]  # buttons alone
        for number, part in enumerate(parts, start=1):
            keyboard_of = message if number == len(parts) else None
            body = {"receiver": address.chat, **self._message_body(part, keyboard_of)}
            delivery = await self._send_one(body)
            if delivery.outcome is not DeliveryOutcome.SENT:
                return delivery
        return SENT  # no ids: a Viber bot cannot delete what it sent

    async def _send_one(self, body: dict[str, object]) -> Delivery:
        try:
            response = await self._client.post("/pa/send_message", json=body)
        except httpx.HTTPError as error:
            logger.warning("viber could not be reached: %s", type(error).__name__)
            return Delivery(DeliveryOutcome.RETRY, reason="network")
        retry_after = _retry_after(response.headers.get("retry-after"))
        if response.status_code == 429:
            return Delivery(DeliveryOutcome.RETRY, retry_after, reason="rate limited")
        if response.status_code != 200:
            return Delivery(DeliveryOutcome.RETRY, retry_after, reason="http error")
        status = _status(response)
        if status == 0:
            return SENT
        reason, outcome = _STATUSES.get(status, ("generalError", DeliveryOutcome.RETRY))
        if status in _ACCOUNT_PROBLEMS:
            logger.error("viber refuses the bot's messages: %s (status %d)", reason, status)
        if outcome is not DeliveryOutcome.RETRY:
            return Delivery(outcome, reason=reason)
        return Delivery(outcome, retry_after, reason=reason)

    def _message_body(self, text: str, message: Outbound | None) -> dict[str, object]:
        """A ``send_message`` text message but its receiver; ``message``'s buttons as keyboard."""
        body: dict[str, object] = {"min_api_version": MIN_API_VERSION, "sender": dict(self._sender),
                                   "type": "text", "text": text}
        if message is not None and message.buttons:
            body["keyboard"] = {
                "Type": "keyboard",
                "DefaultHeight": False,
                "Buttons": [
                    {"ActionType": "reply", "ActionBody": button.payload, "Text": button.title,
                     "Columns": 6, "Rows": 1}
                    for button in message.buttons
                ],
            }
        return body

    # ------------------------------------------------------------------ others

    async def acknowledge(self, callback_id: str) -> None:
        """Nothing to do: a Viber button press is a message like any other."""

    async def delete(self, address: Address, message_ids: list[str]) -> None:
        """Nothing to do: Viber gives bots no way to delete messages (``can_delete`` is False)."""

    async def register_webhook(self, url: str) -> None:
        """Have Viber deliver here the events the helpline handles, without her name or photo.

        Viber checks the URL at once with a signed ``webhook`` callback: the app must be
        running at ``url``. Raises ``RuntimeError`` (with Viber's status, no secret) when refused.
        """
        body = {"url": url, "event_types": list(EVENT_TYPES), "send_name": False,
                "send_photo": False}
        try:
            response = await self._client.post("/pa/set_webhook", json=body)
        except httpx.HTTPError as error:
            raise RuntimeError(f"Viber could not be reached ({type(error).__name__})") from None
        if response.status_code != 200:
            raise RuntimeError(f"Viber answered HTTP {response.status_code}")
        status = _status(response)
        if status != 0:
            reason = _STATUSES.get(status, ("generalError", DeliveryOutcome.RETRY))[0]
            raise RuntimeError(f"Viber refused it: {reason} (status {status})")

    async def close(self) -> None:
        await self._client.aclose()


def from_settings(settings: Settings) -> ViberChannel | None:
    """The Viber bot, or None when ``VIBER_AUTH_TOKEN`` is not set."""
    token = settings.viber_auth_token.get_secret_value() if settings.viber_auth_token else ""
    if not token:
        return None
    return ViberChannel(token, settings.viber_api_base, settings.viber_bot_name)


# -------------------------------------------------------------------- parsing


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        update = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise MalformedUpdate("not JSON") from None
    if not isinstance(update, dict):
        raise MalformedUpdate("not an object")
    return update


def _message(update: dict[str, Any]) -> Inbound:
    """Her message: text, a button's payload, a place, or something never downloaded."""
    sender, message = update.get("sender"), update.get("message")
    if not isinstance(sender, dict) or not isinstance(message, dict):
        raise MalformedUpdate("a message without sender or message")
    kind, text, location = _content(message)
    return _inbound(update, sender, kind, text, location)


def _started(update: dict[str, Any]) -> Inbound:
    """She opened the chat: answered with the welcome (``start_answer``)."""
    user = update.get("user")
    if not isinstance(user, dict):
        raise MalformedUpdate("conversation_started without user")
    return _inbound(update, user, "start", "", None)


def _content(message: dict[str, Any]) -> tuple[Kind, str, tuple[float, float] | None]:
    kind = message.get("type")
    if kind == "text":
        text = message.get("text")
        if not isinstance(text, str):
            raise MalformedUpdate("a text message without text")
        return ("button" if text.startswith("/") else "text"), text, None
    if kind == "location" and (place := _coordinates(message.get("location"))):
        return "location", "", place
    # picture, video, file, sticker, contact, url, rich_media, any newer type, and a location
    # without usable coordinates: never downloaded, she is told the helpline reads text only
    return "unsupported", "", None


def _coordinates(location: object) -> tuple[float, float] | None:
    if not isinstance(location, dict):
        return None
    lat, lon = location.get("lat"), location.get("lon")
    if not (_is_number(lat) and _is_number(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None  # NaN fails the comparisons too
    return float(lat), float(lon)


def _inbound(update: dict[str, Any], user: dict[str, Any], kind: Kind, text: str,
             location: tuple[float, float] | None) -> Inbound:
    user_id, token = user.get("id"), update.get("message_token")
    if not isinstance(user_id, str) or not user_id or not _is_token(token):
        raise MalformedUpdate("no user id or message token")
    timestamp = update.get("timestamp")  # milliseconds
    at = timestamp / 1000 if _is_number(timestamp) else time.time()
    return Inbound(
        platform=NAME, user_id=user_id, message_id=str(token), kind=kind,
        address=Address(platform=NAME, chat=user_id, last_inbound_at=at),
        text=text, language_hint=_language(user.get("language")), location=location,
    )


def _is_integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return _is_integer(value) or isinstance(value, float)


def _is_token(value: object) -> bool:
    """Viber's message tokens are 64-bit integers (a string is taken too)."""
    return _is_integer(value) or (isinstance(value, str) and bool(value))


def _language(value: object) -> str | None:
    """``en`` of Viber's ``sender.language`` (``en``, ``en-GB``...); None when there is none."""
    if isinstance(value, str) and len(value) >= 2 and value[:2].isascii() and value[:2].isalpha():
        return value[:2].lower()
    return None


# ---------------------------------------------------------------- responses


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header whatever the case of its name (plain dicts too, not only Starlette's headers)."""
    return next((value for key, value in headers.items() if key.lower() == name), None)


def _status(response: httpx.Response) -> int:
    """Viber's ``status`` in the answer; -1 (a general error, retried) when it has none."""
    try:
        status = response.json().get("status")
    except (ValueError, AttributeError):
        return -1
    return status if _is_integer(status) else -1


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
