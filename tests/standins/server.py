"""A real HTTP server in a background thread, recording every request it gets.

Each stand-in is a Starlette app given to ``Served``; tests read ``calls`` (in
arrival order) and may set ``respond`` to script an answer per request.
"""

from __future__ import annotations


import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.stack import free_port


@dataclass
class Call:
    """One request the stand-in received."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


Responder = Callable[[Call], Response | None]


@dataclass
class Recorder:
    """Every request in order; ``respond`` may answer one (None: the stand-in's default)."""

    calls: list[Call] = field(default_factory=list)
    respond: Responder | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, request: Request, body: bytes) -> Call:
        call = Call(request.method, request.url.path, dict(request.headers), dict(request.query_params),
                    body, time.monotonic())
        with self.lock:
            self.calls.append(call)
        return call

    def scripted(self, call: Call) -> Response | None:
        return self.respond(call) if self.respond else None

    def wait_for(self, predicate: Callable[[list[Call]], bool], timeout: float = 10.0) -> list[Call]:
        """Wait until ``predicate(calls)`` holds; return the calls (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                calls = list(self.calls)
            if predicate(calls):
                return calls
            time.sleep(0.02)
        raise AssertionError(f"timed out; the stand-in got {len(self.calls)} calls")


def catch_all(handler: Callable[[Request, bytes], Any]) -> Starlette:
    """A Starlette app sending every request, whatever its path, to ``handler``."""

    async def endpoint(request: Request) -> Response:
        return await handler(request, await request.body())

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST", "PUT", "DELETE"])])


class Served:
    """Serve an ASGI app on a free loopback port in a thread; ``url`` is its base."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> Served:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


def json_response(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)



