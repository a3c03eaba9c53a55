"""``/webhooks/<platform>``: where the platforms deliver her messages.

A webhook is answered quickly (the platforms retry slow ones) and only after
her messages are persisted (``Gateway.accept``); the answering goes on behind.

- 404: no such platform, or it is off (its credentials are not configured);
- 403: the request does not prove it comes from the platform (nothing is read);
- 413: a body larger than any platform sends;
- 400: not an update of the platform;
- 503: the stores cannot be reached: nothing was taken, the platform retries;
- 200: taken (or ignored, for what needs no answer: statuses, unknown updates).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from bot.gateway.pipeline import Gateway
from channels.base import Channel, MalformedUpdate

logger = logging.getLogger(__name__)
router = APIRouter()
MAX_BODY_BYTES = 1_000_000


def _channel(request: Request, platform: str) -> tuple[Gateway, Channel | None]:
    gateway: Gateway = request.app.state.gateway
    return gateway, gateway.channels.get(platform)


@router.post("/webhooks/{platform}", include_in_schema=False)
async def webhook(platform: str, request: Request) -> Response:
    gateway, channel = _channel(request, platform)
    if channel is None:
        return Response(status_code=404)
    body = await read_capped_body(request)
    if body is None:
        return Response(status_code=413)
    if not channel.verify(request.headers, body):
        logger.warning("a %s webhook was refused: it does not prove its origin", channel.name)
        return Response(status_code=403)
    try:
        messages = channel.parse(body)
    except MalformedUpdate:
        logger.warning("a %s webhook was not an update", channel.name)
        return Response(status_code=400)
    starts = [m for m in messages if m.kind == "start"]
    if starts and (answer := channel.start_answer(gateway.welcome(starts[0].language_hint))) is not None:
        return JSONResponse(answer)  # the platform shows it; nothing to queue
    try:
        await gateway.accept(channel, messages)
    except Exception as error:  # noqa: BLE001 - not taken: the platform delivers again
        logger.error("a %s webhook could not be persisted: %s", channel.name, type(error).__name__)
        return Response(status_code=503)
    return JSONResponse({})


async def read_capped_body(request: Request) -> bytes | None:
    """The body, or None when it is larger than any platform sends (never read past that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


@router.get("/webhooks/{platform}", include_in_schema=False)
async def handshake(platform: str, request: Request) -> Response:
    """The platform's check that this is its webhook (WhatsApp's verify token)."""
    _, channel = _channel(request, platform)
    if channel is None:
        return Response(status_code=404)
    challenge = channel.handshake(request.query_params)
    if challenge is None:
        return Response(status_code=403)
    return PlainTextResponse(challenge)
