"""``POST /webhooks/counsellor``: where Telegram delivers the counsellor bot's updates.

- 404: the counsellor bot is off (``COUNSELLOR_*`` not configured);
- 403: the ``X-Telegram-Bot-Api-Secret-Token`` is not the bot's secret (nothing is read);
- 413: a body larger than Telegram sends;
- 400: not JSON, or not an update;
- 503: the bot has not reached Telegram since the app started (Telegram delivers again);
- 200: handled (the answer comes once the update was processed, so Telegram sends the
  next update of a chat after this one), or delivered again and ignored (by ``update_id``).

The route must be included before the platforms' ``/webhooks/{platform}``, which would
otherwise take the path.
"""

from __future__ import annotations

import hmac
import json
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from bot.gateway.webhooks import read_capped_body
from bot.handoff.telegram_bot import CounsellorBot, NotReady

logger = logging.getLogger(__name__)
router = APIRouter()
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@router.post("/webhooks/counsellor", include_in_schema=False)
async def counsellor_webhook(request: Request) -> Response:
    bot: CounsellorBot | None = getattr(request.app.state, "counsellor_bot", None)
    if bot is None:
        return Response(status_code=404)
    if not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), bot.secret.encode()):
        logger.warning("a counsellor bot webhook was refused: wrong secret")
        return Response(status_code=403)
    body = await read_capped_body(request)
    if body is None:
        return Response(status_code=413)
    try:
        update = bot.parse(json.loads(body))
    except ValueError:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        logger.warning("a counsellor bot webhook was not an update")
        return Response(status_code=400)
    try:
        await bot.process(update)
    except NotReady:
        return Response(status_code=503)
    return JSONResponse({})
