"""``/health`` (is every part ready?) and ``/metrics`` (counters, no content)."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.conversations import sweeper_problem
from bot.db import database_problem
from bot.live import LiveState

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """200 once every part is ready; 503 naming the parts that are not."""
    state = request.app.state
    problems = {
        "assistant": await state.assistant.problem(),
        "action_server": await _action_server_problem(state.settings.action_server_url),
        "database": await asyncio.to_thread(database_problem, state.engine),
        "live_state": await _live_problem(state.live),
        "gateway": await state.gateway.problem(),
        "retention_sweeper": sweeper_problem(
            state.conversations, state.sweeper, state.settings.sweep_interval_seconds
        ),
    }
    failing = {part: why for part, why in problems.items() if why}
    if failing:
        return JSONResponse({"status": "unavailable", "failing": failing}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _action_server_problem(webhook_url: str) -> str | None:
    health_url = webhook_url.rsplit("/", 1)[0] + "/health"
    try:
        async with httpx.AsyncClient(timeout=3) as http:
            response = await http.get(health_url)
    except httpx.HTTPError as error:
        return f"unreachable ({type(error).__name__})"
    return None if response.status_code == 200 else f"status {response.status_code}"


async def _live_problem(live: LiveState) -> str | None:
    try:
        await live.ping()
    except Exception as error:  # noqa: BLE001 - any failure means "not ready"
        return type(error).__name__
    return None
