"""A stand-in of Rasa's REST channel and HTTP API, for tests of the app without a model.

``POST /webhooks/rest/webhook`` answers with ``reply(sender, text)`` (by default
one message echoing the text, with buttons when the text asks for them), after
``delay`` seconds; with ``up = False`` it answers 503 as a Rasa that is down.
Every message is recorded per sender in arrival order.
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
            return JSONResponse({})
        if path != "/webhooks/rest/webhook":
            return Response(status_code=404)
        if not self.up:
            return Response(status_code=503)
        message = json.loads(body)
        await asyncio.sleep(self.delay)
        if not self.up:
            return Response(status_code=503)
        with self._lock:
            self.received.setdefault(message["sender"], []).append(message["message"])
        return JSONResponse(self.reply(message["sender"], message["message"]))
