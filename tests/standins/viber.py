"""A stand-in of Viber's REST bot API, and Viber's callbacks as Viber sends them.

``ViberStandIn().app`` answers ``/pa/send_message`` and ``/pa/set_webhook`` like
Viber: HTTP 200 with ``status`` 0 and a ``message_token``, or ``status`` 2
(``invalidAuthToken``) without the right ``X-Viber-Auth-Token``. ``script`` the
next answers: a Viber status (``6``: she unsubscribed), or an HTTP error
(``HttpAnswer(429, retry_after=1)``, ``HttpAnswer(500)``). Every request is in
``recorder.calls``.

The callbacks follow the samples of Viber's REST bot API documentation
(``message`` with a text, picture or location; ``conversation_started``,
``subscribed``, ``unsubscribed``, ``delivered``, ``seen``, ``failed``, ``webhook``);
``sign`` and ``signed`` give them the ``X-Viber-Content-Signature`` Viber adds.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.standins.server import Recorder, catch_all

TOKEN = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"  # the format of a Viber auth token
USER_ID = "01234567890A="  # the sample subscriber id of Viber's documentation
_tokens = itertools.count(4912661846655238145)  # the sample message token, then on
_STATUS_MESSAGES = {0: "ok", 2: "invalidAuthToken", 5: "receiverNotRegistered",
                    6: "receiverNotSubscribed", 11: "receiverNoSuitableDevice",
                    12: "tooManyRequests"}


@dataclass(frozen=True)
class HttpAnswer:
    """An HTTP error instead of Viber's usual 200 (a proxy's 429, Viber's 500)."""

    status_code: int
    retry_after: float | None = None


class ViberStandIn:
    """The stand-in's state; ``app`` is its ASGI application."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.recorder = Recorder()
        self._script: deque[int | HttpAnswer] = deque()
        self._lock = threading.Lock()
        self.app = catch_all(self._handle)

    def script(self, *answers: int | HttpAnswer) -> None:
        """Answer the next calls so, one each, in order; then as usual again."""
        with self._lock:
            self._script.extend(answers)

    def reset(self) -> None:
        """Forget the calls and what is scripted (a stand-in shared by several tests)."""
        with self._lock:
            self._script.clear()
        with self.recorder.lock:
            self.recorder.calls.clear()

    def sent(self) -> list[dict[str, Any]]:
        """The bodies of every ``send_message`` call, in order."""
        return [call.json() for call in self.recorder.calls if call.path == "/pa/send_message"]

    async def _handle(self, request: Request, body: bytes) -> Response:
        self.recorder.record(request, body)
        if request.method != "POST" or request.url.path not in ("/pa/send_message", "/pa/set_webhook"):
            return Response(status_code=404)
        if request.headers.get("x-viber-auth-token") != self.token:
            return _status(2)
        with self._lock:
            answer = self._script.popleft() if self._script else 0
        if isinstance(answer, HttpAnswer):
            headers = {"Retry-After": str(answer.retry_after)} if answer.retry_after is not None else {}
            return Response(status_code=answer.status_code, headers=headers)
        if answer != 0:
            return _status(answer)
        if request.url.path == "/pa/set_webhook":
            return JSONResponse({"status": 0, "status_message": "ok",
                                 "event_types": json.loads(body).get("event_types", [])})
        return JSONResponse({"status": 0, "status_message": "ok", "message_token": next(_tokens),
                             "chat_hostname": "SN-CHAT-05_", "billing_status": 1})


def _status(status: int) -> JSONResponse:
    """Viber's refusal: HTTP 200 all the same, the reason in ``status``."""
    return JSONResponse({"status": status, "status_message": _STATUS_MESSAGES.get(status, "generalError")})


# ------------------------------------------------------------------ callbacks


def _now_ms() -> int:
    return int(time.time() * 1000)


def subscriber(user_id: str = USER_ID, language: str = "en") -> dict[str, Any]:
    """Viber's user object (what a ``send_name: false`` webhook still gets: no name, no photo)."""
    return {"id": user_id, "country": "UK", "language": language, "api_version": 10}


def message(content: dict[str, Any], user_id: str = USER_ID, language: str = "en",
            token: int | None = None, timestamp: int | None = None) -> dict[str, Any]:
    """A ``message`` callback carrying ``content`` (the ``message`` object)."""
    return {"event": "message", "timestamp": timestamp or _now_ms(), "chat_hostname": "SN-CHAT-05_",
            "message_token": token if token is not None else next(_tokens),
            "sender": subscriber(user_id, language), "message": content, "silent": False}


def text(words: str, **fields: Any) -> dict[str, Any]:
    """Her text, or a keyboard button's ``ActionBody`` (Viber sends both alike)."""
    return message({"type": "text", "text": words}, **fields)


def picture(**fields: Any) -> dict[str, Any]:
    return message({"type": "picture", "text": "a caption", "media": "https://dl-media.viber.com/p.jpg",
                    "thumbnail": "https://dl-media.viber.com/t.jpg", "file_name": "p.jpg",
                    "size": 20480}, **fields)


def location(lat: float, lon: float, **fields: Any) -> dict[str, Any]:
    return message({"type": "location", "location": {"lat": lat, "lon": lon}}, **fields)


def conversation_started(user_id: str = USER_ID, language: str = "en", subscribed: bool = False,
                         token: int | None = None) -> dict[str, Any]:
    return {"event": "conversation_started", "timestamp": _now_ms(), "chat_hostname": "SN-CHAT-05_",
            "message_token": token if token is not None else next(_tokens), "type": "open",
            "context": "", "user": subscriber(user_id, language), "subscribed": subscribed}


def subscribed(user_id: str = USER_ID) -> dict[str, Any]:
    return {"event": "subscribed", "timestamp": _now_ms(), "chat_hostname": "SN-CHAT-05_",
            "user": subscriber(user_id), "message_token": next(_tokens)}


def unsubscribed(user_id: str = USER_ID) -> dict[str, Any]:
    return {"event": "unsubscribed", "timestamp": _now_ms(), "chat_hostname": "SN-CHAT-05_",
            "user_id": user_id, "message_token": next(_tokens)}


def receipt(event: str, user_id: str = USER_ID) -> dict[str, Any]:
    """A ``delivered``, ``seen`` or ``failed`` receipt of one of the bot's messages."""
    callback = {"event": event, "timestamp": _now_ms(), "chat_hostname": "SN-CHAT-05_",
                "message_token": next(_tokens), "user_id": user_id}
    if event == "failed":
        callback["desc"] = "failure description"
    return callback


def webhook_check() -> dict[str, Any]:
    """What Viber posts to a webhook being set, to see that it answers."""
    return {"event": "webhook", "timestamp": _now_ms(), "chat_hostname": "SN-CHAT-05_",
            "message_token": next(_tokens)}


def encode(callback: dict[str, Any]) -> bytes:
    """The body as Viber sends it: compact JSON, UTF-8, non-ASCII as is."""
    return json.dumps(callback, ensure_ascii=False, separators=(",", ":")).encode()


def sign(body: bytes, token: str = TOKEN) -> str:
    """``X-Viber-Content-Signature``: hex HMAC-SHA256 of the raw body keyed by the auth token."""
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def signed(callback: dict[str, Any], token: str = TOKEN) -> tuple[bytes, dict[str, str]]:
    """The body of ``callback`` and the headers Viber posts it with."""
    body = encode(callback)
    return body, {"Content-Type": "application/json", "X-Viber-Content-Signature": sign(body, token)}
