"""WhatsApp, through Meta's WhatsApp Cloud API: webhooks in, the messages endpoint out.

- ``GET /webhooks/whatsapp``: Meta's subscription check (``hub.verify_token``);
- ``POST /webhooks/whatsapp``: accepted only with a valid ``X-Hub-Signature-256``
  (HMAC-SHA256 of the raw body keyed by the app secret);
- replies: ``POST {WHATSAPP_API_BASE}/{phone number id}/messages``.

Why a small client of our own (httpx) rather than ``pywa``: pywa's ``GraphAPI``
sets its HTTP session's ``base_url`` to ``https://graph.facebook.com/v<version>``
itself, over whatever the session was given, so its sends cannot be pointed at
``WHATSAPP_API_BASE`` (a local stand-in in the tests, a proxy in production). We
need one endpoint and a signature check, not a framework.

Free-form replies are allowed only inside the 24-hour customer-service window
after her last message; outside it WhatsApp accepts templates only, which the
helpline does not send (a template would arrive, unasked, on a phone someone else
may be watching). Such a reply is not sent, with one log line without content; a
counsellor's words are refused before they are queued (``reply_window_seconds``, asked
through ``Gateway.reply_window_closes``): a counsellor is never told they went.

A business cannot delete messages of a WhatsApp chat (``can_delete`` is False):
after an erasure the last reply tells her how to delete the chat herself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from bot.assistant import Button
from channels.base import (
    SENT, Address, Delivery, DeliveryOutcome, Inbound, Kind, MalformedUpdate, Outbound,
)
from channels.text import split_text

if TYPE_CHECKING:
    from bot.settings import Settings

logger = logging.getLogger(__name__)

NAME = "whatsapp"
CREDENTIALS = ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN",
               "WHATSAPP_PHONE_NUMBER_ID")
SIGNATURE_HEADER = "x-hub-signature-256"
WINDOW_SECONDS = 24 * 3600

# Meta's limits on what is sent (characters).
TEXT_MAX = 4096
INTERACTIVE_BODY_MAX = 1024
REPLY_BUTTONS_MAX = 3
REPLY_TITLE_MAX = 20
LIST_ROWS_MAX = 10
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
PAYLOAD_MAX = 200  # a list row id's limit (a reply button's is 256): one limit for both forms
LIST_LABEL = "☰"
"""The label of the button opening a list message (and the title of its one section,
which Meta's reference marks required). It is shown to her, so it must be in her
language, but a channel does not know her language and ``Outbound`` carries only the
message: a sign without words reads the same in every language."""

UNSUPPORTED_TYPES = frozenset(
    {"image", "audio", "video", "document", "sticker", "contacts", "unknown"}
)
"""What she may send but the helpline does not read (nothing is downloaded).
``unknown`` is what WhatsApp sends for a message it does not support itself."""

RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131056})  # app, account, throughput, pair
ACCOUNT_CODES = frozenset({0, 3, 10, 190, 200, 368, 131031, 131042, 133010})
"""Refusals about the business, not her (token, permissions, account locked or unpaid,
number not registered): retried, so that sends to her resume once it is fixed."""
UNREACHABLE_CODES = (131026,)  # she cannot be written to: stop until she writes again
REFUSAL_REASONS = {
    131047: "re-engagement",  # more than 24 h since she wrote (seen by Meta's clock)
    131026: "undeliverable",  # not a WhatsApp number, old app, or she blocked the number
    131051: "unsupported",
}


class WhatsAppChannel:
    """The WhatsApp Cloud API of one business phone number."""

    name = NAME
    can_delete = False
    reply_window_seconds: float | None = WINDOW_SECONDS

    def __init__(self, access_token: str, app_secret: str, verify_token: str,
                 phone_number_id: str, api_base: str, timeout_seconds: float = 10.0) -> None:
        self._app_secret = app_secret.encode()
        self._verify_token = verify_token.encode()
        self._phone_number_id = phone_number_id
        self._messages_url = f"{api_base.rstrip('/')}/{phone_number_id}/messages"
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=httpx.Timeout(timeout_seconds, connect=5.0),
        )

    # ---------------------------------------------------------------- webhooks

    def handshake(self, params: Mapping[str, str]) -> str | None:
        """``hub.challenge`` when Meta subscribes with our verify token, else None."""
        token = params.get("hub.verify_token", "").encode()
        challenge = params.get("hub.challenge")
        genuine = hmac.compare_digest(token, self._verify_token)
        subscribing = params.get("hub.mode") == "subscribe"
        return challenge if genuine and subscribing and challenge else None

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether ``X-Hub-Signature-256`` is ``sha256=`` and the body's HMAC-SHA256
        under the app secret (header names have no case)."""
        received = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), "")
        expected = "sha256=" + hmac.new(self._app_secret, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(received.encode(errors="replace"), expected.encode())

    def parse(self, body: bytes) -> list[Inbound]:
        """Her messages to our number, in the update's order; statuses and reactions are ignored."""
        try:
            update = json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise MalformedUpdate("not JSON") from error
        if not isinstance(update, dict) or update.get("object") != "whatsapp_business_account":
            raise MalformedUpdate("not a WhatsApp Business Account update")
        messages: list[Inbound] = []
        for value in self._values(update):
            _log_failed_statuses(_objects(value, "statuses"))
            inbound = (_inbound(raw) for raw in _objects(value, "messages"))
            messages.extend(message for message in inbound if message is not None)
        return messages

    def _values(self, update: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The ``messages`` changes of our phone number (an app may serve several numbers)."""
        for entry in _objects(update, "entry"):
            for change in _objects(entry, "changes"):
                value = _object(change, "value")
                ours = _object(value, "metadata").get("phone_number_id") == self._phone_number_id
                if change.get("field") == "messages" and ours:
                    yield value

    def start_answer(self, welcome: Outbound) -> dict[str, object] | None:
        """None: WhatsApp takes no message in a webhook's response."""
        return None

    # ------------------------------------------------------------------- sends

    async def send(self, address: Address, message: Outbound) -> Delivery:
        """Send one message (in parts when it is longer than WhatsApp takes), inside her window.

        A part that fails ends the send with that part's outcome; a retry then
        sends the earlier parts again: a paragraph repeated is better than one lost.
        """
        if time.time() - address.last_inbound_at > WINDOW_SECONDS:
            logger.warning("a whatsapp reply was not sent: outside the 24-hour window")
            return Delivery(DeliveryOutcome.DROP, reason="outside window")
        for payload in _payloads(address.chat, message):
            delivery = await self._post(payload)
            if delivery.outcome is not DeliveryOutcome.SENT:
                return delivery
        return SENT  # no ids: a business cannot delete a WhatsApp chat's messages

    async def _post(self, payload: dict[str, Any]) -> Delivery:
        try:
            response = await self._client.post(self._messages_url, json=payload)
        except httpx.HTTPError as error:
            logger.warning("a whatsapp send failed: %s", type(error).__name__)
            return Delivery(DeliveryOutcome.RETRY, reason="network")
        if response.is_success:
            return SENT
        code = _error_code(response)
        delivery = _failure(response.status_code, code, _retry_after(response))
        logger.warning("whatsapp did not take a reply: %s (HTTP %d, code %s)",
                       delivery.reason, response.status_code, code)
        return delivery

    async def acknowledge(self, callback_id: str) -> None:
        """Nothing: a WhatsApp button does not spin. Marking her message read (blue
        ticks) is optional, and the reply tells her as much."""

    async def delete(self, address: Address, message_ids: list[str]) -> None:
        """Nothing: a business cannot delete the messages of a WhatsApp chat."""

    async def register_webhook(self, url: str) -> None:
        """WhatsApp's webhook is set in Meta's app dashboard, not through the API."""
        raise RuntimeError(
            "configure the webhook in the Meta app dashboard (WhatsApp > Configuration): "
            f"callback URL {url}, verify token the value of WHATSAPP_VERIFY_TOKEN, "
            "subscribed field 'messages'"
        )

    async def close(self) -> None:
        await self._client.aclose()


def from_settings(settings: Settings) -> WhatsAppChannel | None:
    """The channel, or None (off) unless every one of ``CREDENTIALS`` is set."""
    token, secret = settings.whatsapp_access_token, settings.whatsapp_app_secret
    verify, phone_number_id = settings.whatsapp_verify_token, settings.whatsapp_phone_number_id
    if not (token and secret and verify and phone_number_id):
        return None
    return WhatsAppChannel(token.get_secret_value(), secret.get_secret_value(),
                           verify.get_secret_value(), phone_number_id, settings.whatsapp_api_base)


# ------------------------------------------------------------------ parsing


def _object(parent: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``parent[key]`` as an object ({} when absent); MalformedUpdate when it is something else."""
    value = parent.get(key, {})
    if not isinstance(value, dict):
        raise MalformedUpdate(f"{key} is not an object")
    return value


def _objects(parent: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    """``parent[key]`` as a list of objects ([] when absent); MalformedUpdate otherwise."""
    items = parent.get(key, [])
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise MalformedUpdate(f"{key} is not a list of objects")
    return items


def _string(parent: Mapping[str, Any], key: str) -> str:
    value = parent.get(key)
    if not isinstance(value, str):
        raise MalformedUpdate(f"{key} is not a string")
    return value


def _number(parent: Mapping[str, Any], key: str) -> float:
    value = parent.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedUpdate(f"{key} is not a number")
    return float(value)


def _inbound(raw: dict[str, Any]) -> Inbound | None:
    """One of her messages, or None for what needs no answer (reactions, orders, system notes)."""
    content = _content(raw)
    if content is None:
        return None
    kind, text, location = content
    sender, message_id = _string(raw, "from"), _string(raw, "id")
    try:
        sent_at = int(raw["timestamp"])
    except (KeyError, TypeError, ValueError) as error:
        raise MalformedUpdate("timestamp is not a Unix time") from error
    return Inbound(platform=NAME, user_id=sender, message_id=message_id, kind=kind,
                   address=Address(platform=NAME, chat=sender, last_inbound_at=sent_at),
                   text=text, location=location)


def _content(raw: dict[str, Any]) -> tuple[Kind, str, tuple[float, float] | None] | None:
    """(kind, text or button payload, location) of a message by its ``type``."""
    kind = raw.get("type")
    if kind == "text":
        return "text", _string(_object(raw, "text"), "body"), None
    if kind == "interactive":
        interactive = _object(raw, "interactive")
        reply = interactive.get("type")
        if reply in ("button_reply", "list_reply"):
            return "button", _string(_object(interactive, reply), "id"), None
        return None  # flows and the like: never sent by the helpline
    if kind == "button":  # a template's quick reply
        return "button", _string(_object(raw, "button"), "payload"), None
    if kind == "location":
        place = _object(raw, "location")
        return "location", "", (_number(place, "latitude"), _number(place, "longitude"))
    if kind == "request_welcome":  # she opened the chat for the first time
        return "start", "", None
    if kind in UNSUPPORTED_TYPES:
        return "unsupported", "", None
    return None


def _log_failed_statuses(statuses: list[dict[str, Any]]) -> None:
    """A reply WhatsApp took but could not deliver: counted, with its error codes only."""
    failed = [status for status in statuses if status.get("status") == "failed"]
    if failed:
        errors = [error for status in failed for error in _objects(status, "errors")]
        codes = sorted({code for error in errors if isinstance(code := error.get("code"), int)})
        logger.warning("whatsapp could not deliver %d replies (codes %s)", len(failed), codes)


# ------------------------------------------------------------------- sending


def _payloads(to: str, message: Outbound) -> list[dict[str, Any]]:
    """The messages endpoint's bodies for one message: text parts, then the buttons."""
    text = message.text or ""
    buttons = [b for b in message.buttons if len(b.payload) <= PAYLOAD_MAX][:LIST_ROWS_MAX]
    if len(buttons) < len(message.buttons):
        logger.warning("%d buttons did not fit a whatsapp message and were left out",
                       len(message.buttons) - len(buttons))
    if not buttons:
        return [_text(to, part) for part in split_text(text, TEXT_MAX)]
    head, body = _tail(text, INTERACTIVE_BODY_MAX)
    body = body if body.strip() else LIST_LABEL  # an interactive message needs a body
    return [*(_text(to, part) for part in split_text(head, TEXT_MAX)),
            _interactive(to, body, buttons)]


def _envelope(to: str, kind: str, content: dict[str, Any]) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": kind,
            kind: content}


def _text(to: str, body: str) -> dict[str, Any]:
    return _envelope(to, "text", {"body": body, "preview_url": False})


def _interactive(to: str, body: str, buttons: list[Button]) -> dict[str, Any]:
    """Reply buttons when they fit (3 at most, short titles); a list message otherwise,
    rather than titles cut so short that she cannot tell what they mean."""
    if len(buttons) <= REPLY_BUTTONS_MAX and all(len(b.title) <= REPLY_TITLE_MAX for b in buttons):
        kind = "button"
        replies = [{"type": "reply", "reply": {"id": b.payload, "title": b.title}} for b in buttons]
        action: dict[str, Any] = {"buttons": replies}
    else:
        kind = "list"
        rows = [_row(b) for b in buttons]
        action = {"button": LIST_LABEL, "sections": [{"title": LIST_LABEL, "rows": rows}]}
    return _envelope(to, "interactive", {"type": kind, "body": {"text": body}, "action": action})


def _row(button: Button) -> dict[str, str]:
    """A list row; a long title is cut at a word and given in full as the row's description."""
    if len(button.title) <= ROW_TITLE_MAX:
        return {"id": button.payload, "title": button.title}
    return {"id": button.payload, "title": _shorten(button.title, ROW_TITLE_MAX),
            "description": _shorten(button.title, ROW_DESCRIPTION_MAX)}


def _shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut at a word with an ellipsis when longer."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > 0 else limit - 1].rstrip() + "…"


def _tail(text: str, limit: int) -> tuple[str, str]:
    """(head, tail): the tail at most ``limit`` characters long, beginning at a line or a word."""
    if len(text) <= limit:
        return "", text
    start = len(text) - limit
    breaks = [i for i in (text.find("\n", start - 1), text.find(" ", start - 1)) if i >= 0]
    cut = min(breaks) + 1 if breaks else start
    return text[:cut].rstrip(), text[cut:].lstrip()


def _error_code(response: httpx.Response) -> int | None:
    """The Graph API's ``error.code``, when the body has one."""
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return code if isinstance(code, int) else None


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def _failure(status: int, code: int | None, retry_after: float | None) -> Delivery:
    """What a refused send means: try again later, or stop sending to her."""
    if status == 429 or code in RATE_LIMIT_CODES:
        return Delivery(DeliveryOutcome.RETRY, retry_after=retry_after, reason="rate limited")
    if status >= 500:
        return Delivery(DeliveryOutcome.RETRY, retry_after=retry_after, reason="server error")
    if status in (401, 403) or code in ACCOUNT_CODES:
        return Delivery(DeliveryOutcome.RETRY, reason="account")
    if code in UNREACHABLE_CODES:
        return Delivery(DeliveryOutcome.GONE, reason=REFUSAL_REASONS[code])
    return Delivery(DeliveryOutcome.DROP, reason=REFUSAL_REASONS.get(code or 0, "rejected"))
