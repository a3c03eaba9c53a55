"""A stand-in of Rasa's REST channel and HTTP API, for tests of the app without a model.

``POST /webhooks/rest/webhook`` answers with ``reply(sender, text)`` (by default
one message echoing the text, with buttons when the text asks for them), after
``delay`` seconds; with ``up = False`` it answers 503 as a Rasa that is down.
Every message is recorded per sender in arrival order. ``GET
/conversations/<id>/tracker`` gives her messages and the replies as events;
``POST /conversations/<id>/tracker/events`` records bare events (``pause``,
``resume``) in ``events``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.standins.server import Recorder, catch_all

Reply = Callable[[str, str], list[dict[str, Any]]]


def echo(sender: str, text: str) -> list[dict[str, Any]]:
    """One message saying what she wrote; ``buttons`` in her text asks for two buttons."""
    message: dict[str, Any] = {"recipient_id": sender, "text": f"echo: {text}"}
    if "buttons" in text:
        message["buttons"] = [{"title": "Shelter", "payload": "/seek_shelter"},
                              {"title": "Legal aid", "payload": "/seek_legal_aid"}]
    return [message]


class RasaStandIn:
    """The stand-in's state; ``app`` is its ASGI application."""

    def __init__(self, reply: Reply = echo) -> None:
        self.reply = reply
        self.delay = 0.0
        self.up = True
        self.recorder = Recorder()
        self.erased: list[str] = []
        self._lock = threading.Lock()
        self.received: dict[str, list[str]] = {}
        self.events: list[tuple[str, str]] = []  # (sender, event) appended through the HTTP API
        self._tracker: dict[str, list[dict[str, Any]]] = {}
        self.app = catch_all(self._handle)

    def texts_of(self, sender: str) -> list[str]:
        with self._lock:
            return list(self.received.get(sender, []))

    @property
    def senders(self) -> list[str]:
        with self._lock:
            return list(self.received)

    async def _handle(self, request: Request, body: bytes) -> Response:
        self.recorder.record(request, body)
        path = request.url.path
        if path == "/status":
            return JSONResponse({"model_file": "stand-in.tar.gz"})
        if path.startswith("/conversations/") and request.method == "PUT":
            self.erased.append(path.split("/")[2])
            with self._lock:
                self._tracker.pop(path.split("/")[2], None)
            return JSONResponse({})
        if path.startswith("/conversations/") and path.endswith("/tracker/events") and request.method == "POST":
            with self._lock:
                self.events.extend((path.split("/")[2], event["event"]) for event in json.loads(body))
            return JSONResponse({})
        if path.startswith("/conversations/") and path.endswith("/tracker") and request.method == "GET":
            with self._lock:
                return JSONResponse({"events": list(self._tracker.get(path.split("/")[2], []))})
        if path != "/webhooks/rest/webhook":
            return Response(status_code=404)
        if not self.up:
            return Response(status_code=503)
        message = json.loads(body)
        await asyncio.sleep(self.delay)
        if not self.up:
            return Response(status_code=503)
        replies = self.reply(message["sender"], message["message"])
        with self._lock:
            self.received.setdefault(message["sender"], []).append(message["message"])
            tracker = self._tracker.setdefault(message["sender"], [])
            tracker.append({"event": "user", "text": message["message"]})
            tracker.extend({"event": "bot", "text": r.get("text")} for r in replies if r.get("text"))
        return JSONResponse(replies)
