"""A stand-in of Meta's WhatsApp Cloud API, and real-format webhooks of WhatsApp.

``GraphStandIn`` serves ``POST /<version>/<phone number id>/messages`` as Meta
does: it checks the bearer token and the phone number id, records every call and
answers ``{messaging_product, contacts, messages: [{id}]}``; ``script`` makes the
next calls fail as Meta fails (``rate_limited``, ``graph_error(131047)``,
``server_error``).

The webhook builders follow the samples of Meta's webhook reference (text,
interactive ``button_reply`` and ``list_reply``, a template's quick reply, media,
contacts, location, reaction, statuses); each message builder takes ``sender``,
``message_id`` and ``timestamp`` (default: her number, a fresh id, now).
``sign`` computes ``X-Hub-Signature-256``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.standins.server import Call, Recorder, catch_all

ACCESS_TOKEN = "EAAG-standin-access-token"
APP_SECRET = "standin-app-secret"
VERIFY_TOKEN = "standin-verify-token"
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_PHONE_NUMBER = "15550783881"
BUSINESS_ACCOUNT_ID = "102290129340398"
API_VERSION = "v23.0"
HER_NUMBER = "38970123456"
REPLIED_TO = {"from": DISPLAY_PHONE_NUMBER, "id": "wamid.HBgLMzg5NzAxMjM0NTYVAgARGBI1"}

Json = dict[str, Any]
_ids = itertools.count(1)


def graph_error(code: int, status: int = 400, message: str = "error",
                headers: dict[str, str] | None = None) -> Response:
    """A Graph API error response as Meta sends it."""
    error = {"message": f"(#{code}) {message}", "type": "OAuthException", "code": code,
             "error_data": {"messaging_product": "whatsapp", "details": message},
             "fbtrace_id": "AbCdEfGhIjKlMnOp"}
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def rate_limited(retry_after: float | None = None) -> Response:
    """HTTP 429 with the throughput limit's code (130429)."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return graph_error(130429, 429, "Rate limit hit", headers)


def server_error() -> Response:
    return Response("<html>Internal Server Error</html>", status_code=500, media_type="text/html")


class GraphStandIn:
    """Meta's messages endpoint for one phone number; ``app`` is its ASGI application."""

    def __init__(self, access_token: str = ACCESS_TOKEN,
                 phone_number_id: str = PHONE_NUMBER_ID) -> None:
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.recorder = Recorder()
        self.app = catch_all(self._handle)
        self._script: list[Response | None] = []
        self._lock = threading.Lock()

    def base(self, served_url: str) -> str:
        """``WHATSAPP_API_BASE`` for the stand-in served at ``served_url``: with a version."""
        return f"{served_url}/{API_VERSION}"

    def script(self, *responses: Response | None) -> None:
        """Answer the next calls with these, in order (None: as usual); then as Meta does."""
        with self._lock:
            self._script.extend(responses)

    def reset(self) -> None:
        """Forget the calls and the script (between tests sharing one server)."""
        with self._lock:
            self._script.clear()
        with self.recorder.lock:
            self.recorder.calls.clear()

    def sent(self) -> list[Json]:
        """The JSON bodies of the calls to the messages endpoint, in order."""
        return [call.json() for call in self.recorder.calls if call.path.endswith("/messages")]

    async def _handle(self, request: Request, body: bytes) -> Response:
        call = self.recorder.record(request, body)
        with self._lock:
            scripted = self._script.pop(0) if self._script else None
        return scripted or self._answer(call)

    def _answer(self, call: Call) -> Response:
        if call.headers.get("authorization") != f"Bearer {self.access_token}":
            return graph_error(190, 401, "Invalid OAuth access token - Cannot parse access token")
        parts = call.path.strip("/").split("/")
        if call.method != "POST" or len(parts) != 3 or parts[2] != "messages":
            return graph_error(100, 400, "Unsupported post request")
        if parts[1] != self.phone_number_id:
            return graph_error(100, 400, "Object with ID does not exist")
        try:
            message = call.json()
            to = message["to"]
            assert message["messaging_product"] == "whatsapp"
        except (ValueError, KeyError, TypeError, AssertionError):
            return graph_error(100, 400, "Invalid parameter")
        sent_id = f"wamid.HBgLMzg5NzAxMjM0NTYVAgARGBI{next(_ids):08d}A="
        recipients = [{"input": to, "wa_id": to}]
        return JSONResponse({"messaging_product": "whatsapp", "contacts": recipients,
                             "messages": [{"id": sent_id}]})


# ----------------------------------------------------------------- webhooks


def sign(body: bytes, app_secret: str = APP_SECRET) -> str:
    """The ``X-Hub-Signature-256`` header Meta sends with ``body``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, app_secret: str = APP_SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, app_secret)}


def encode(update: Json) -> bytes:
    """The body as Meta posts it (JSON with non-ASCII characters escaped)."""
    return json.dumps(update).encode()


def update(*messages: Json, statuses: tuple[Json, ...] = (),
           phone_number_id: str = PHONE_NUMBER_ID) -> Json:
    """A ``messages`` webhook of the business account, carrying ``messages`` and ``statuses``."""
    metadata = {"display_phone_number": DISPLAY_PHONE_NUMBER, "phone_number_id": phone_number_id}
    value: Json = {"messaging_product": "whatsapp", "metadata": metadata}
    if messages:
        senders = dict.fromkeys(m["from"] for m in messages if "from" in m)
        value["contacts"] = [{"profile": {"name": "Ana"}, "wa_id": sender} for sender in senders]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    change = {"value": value, "field": "messages"}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": BUSINESS_ACCOUNT_ID, "changes": [change]}]}


def message(kind: str, content: Json, sender: str = HER_NUMBER, message_id: str | None = None,
            timestamp: int | None = None) -> Json:
    """One message of hers of type ``kind``."""
    message_id = message_id or f"wamid.HBgLMzg5NzAxMjM0NTYVAgASGBQz{next(_ids):08d}A="
    return {"from": sender, "id": message_id,
            "timestamp": str(int(time.time()) if timestamp is None else timestamp),
            "type": kind, **content}


def text(body: str, **options: Any) -> Json:
    return message("text", {"text": {"body": body}}, **options)


def button_reply(reply_id: str, title: str, **options: Any) -> Json:
    """She pressed a reply button of an interactive message."""
    interactive = {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}}
    return message("interactive", {"context": REPLIED_TO, "interactive": interactive}, **options)


def list_reply(reply_id: str, title: str, description: str = "", **options: Any) -> Json:
    """She chose a row of a list message."""
    row = {"id": reply_id, "title": title, **({"description": description} if description else {})}
    interactive = {"type": "list_reply", "list_reply": row}
    return message("interactive", {"context": REPLIED_TO, "interactive": interactive}, **options)


def template_button(payload: str, label: str, **options: Any) -> Json:
    """She pressed a quick-reply button of a template message."""
    content = {"context": REPLIED_TO, "button": {"payload": payload, "text": label}}
    return message("button", content, **options)


def media(kind: str, caption: str = "", **options: Any) -> Json:
    """An image, audio (voice), video, document or sticker, as their samples carry them."""
    mime = {"image": "image/jpeg", "audio": "audio/ogg; codecs=opus", "video": "video/mp4",
            "document": "application/pdf", "sticker": "image/webp"}[kind]
    item = {"mime_type": mime, "sha256": "N2Y5ZDQ3YTM0ZmI0NGZiZGE5ODQ=", "id": "1003383421387256"}
    return message(kind, {kind: item | ({"caption": caption} if caption else {})}, **options)


def image(caption: str = "", **options: Any) -> Json:
    return media("image", caption, **options)


def contacts(**options: Any) -> Json:
    card = {"name": {"formatted_name": "Mira", "first_name": "Mira"},
            "phones": [{"phone": "+389 70 000 000", "type": "CELL"}]}
    return message("contacts", {"contacts": [card]}, **options)


def location(latitude: float, longitude: float, **options: Any) -> Json:
    return message("location", {"location": {"latitude": latitude, "longitude": longitude}},
                   **options)


def request_welcome(**options: Any) -> Json:
    """She opened the chat with the business for the first time (welcome messages on)."""
    return message("request_welcome", {}, **options)


def unknown(**options: Any) -> Json:
    """A message WhatsApp itself does not support (a disappearing message, say)."""
    error = {"code": 131051, "title": "Unsupported message type",
             "error_data": {"details": "Message type is not currently supported"}}
    return message("unknown", {"errors": [error]}, **options)


def reaction(emoji: str, **options: Any) -> Json:
    content = {"reaction": {"message_id": REPLIED_TO["id"], "emoji": emoji}}
    return message("reaction", content, **options)


def status(state: str, error_code: int | None = None, recipient: str = HER_NUMBER) -> Json:
    """A status of a reply: ``sent``, ``delivered``, ``read`` or ``failed`` (with its error)."""
    item: Json = {"id": REPLIED_TO["id"], "status": state, "timestamp": str(int(time.time())),
                  "recipient_id": recipient}
    if state != "failed":
        item["conversation"] = {"id": "CONVERSATION_ID", "origin": {"type": "service"}}
        item["pricing"] = {"billable": False, "pricing_model": "PMP", "category": "service"}
    if error_code is not None:
        item["errors"] = [{"code": error_code, "title": "Message failed to send",
                           "error_data": {"details": "Message failed to send"}}]
    return item
