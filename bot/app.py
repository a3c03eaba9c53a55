"""The web application: health, the local web chat, the directory search API (later: webhooks).

Started by ``helpline run`` next to Rasa and the action server, or alone with
``uvicorn --factory bot.app:create_app``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from bot.assistant import AssistantClient, AssistantUnavailable
from bot.conversations import Conversations
from bot.db import database_problem, make_engine, make_session_factory
from bot.directory.api import router as directory_router
from bot.identity import pseudonym
from bot.live import open_live_state
from bot.observability import init_sentry, setup_logging
from bot.settings import Settings, get_settings

logger = logging.getLogger(__name__)
WEB_DIR = Path(__file__).parent / "web"


class ChatIn(BaseModel):
    session: str = Field(min_length=16, max_length=128, description="Random id of the open tab")
    text: str = Field(min_length=1, max_length=4000)


class ButtonOut(BaseModel):
    title: str
    payload: str


class MessageOut(BaseModel):
    text: str | None
    buttons: list[ButtonOut]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; every dependency comes from ``settings``."""
    settings = settings or get_settings()
    if settings.pseudonym_pepper is None:
        raise RuntimeError("PSEUDONYM_PEPPER is not set: refusing to start without pseudonyms")
    pepper = settings.pseudonym_pepper.get_secret_value().encode()
    token = settings.rasa_token.get_secret_value() if settings.rasa_token else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_logging(settings)
        init_sentry(settings, "app")
        app.state.engine = make_engine(settings.database_url)
        app.state.directory_sessions = make_session_factory(app.state.engine)
        app.state.live = open_live_state(settings.redis_url)
        app.state.assistant = AssistantClient(settings.rasa_url, token, settings.rasa_timeout_seconds)
        app.state.conversations = Conversations(
            app.state.assistant, app.state.live, settings.conversation_retention_hours * 3600
        )
        sweeper = asyncio.create_task(app.state.conversations.sweep_forever())
        yield
        sweeper.cancel()
        await app.state.assistant.close()
        await app.state.live.close()
        app.state.engine.dispose()

    app = FastAPI(title="Helpline", lifespan=lifespan)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    app.include_router(directory_router)

    @app.get("/", include_in_schema=False)
    async def web_chat() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html")

    @app.post("/api/chat", response_model=list[MessageOut])
    async def chat(message: ChatIn) -> list[MessageOut]:
        """One message of the local web chat; the tab's random session is pseudonymised."""
        sender_id = pseudonym(pepper, "web", message.session)
        try:
            replies = await app.state.conversations.handle(sender_id, message.text)
        except AssistantUnavailable as error:
            logger.error("assistant unavailable for %s: %s", sender_id, error)
            raise HTTPException(503, "assistant unavailable") from error
        return [
            MessageOut(text=r.text, buttons=[ButtonOut(title=b.title, payload=b.payload) for b in r.buttons])
            for r in replies
        ]

    @app.get("/api/session")
    async def new_session() -> dict[str, str]:
        """A fresh random session id for a new tab (kept only in the tab's memory)."""
        return {"session": secrets.token_urlsafe(24)}

    @app.get("/health")
    async def health() -> JSONResponse:
        """200 once every part is ready; 503 naming the parts that are not."""
        problems = {
            "assistant": await app.state.assistant.problem(),
            "action_server": await _action_server_problem(settings.action_server_url),
            "database": await asyncio.to_thread(database_problem, app.state.engine),
            "live_state": await _live_problem(app),
        }
        failing = {part: why for part, why in problems.items() if why}
        if failing:
            return JSONResponse({"status": "unavailable", "failing": failing}, status_code=503)
        return JSONResponse({"status": "ok"})

    return app


async def _action_server_problem(webhook_url: str) -> str | None:
    health_url = webhook_url.rsplit("/", 1)[0] + "/health"
    try:
        async with httpx.AsyncClient(timeout=3) as http:
            response = await http.get(health_url)
    except httpx.HTTPError as error:
        return f"unreachable ({type(error).__name__})"
    return None if response.status_code == 200 else f"status {response.status_code}"


async def _live_problem(app: FastAPI) -> str | None:
    try:
        await app.state.live.ping()
    except Exception as error:  # noqa: BLE001 - any failure means "not ready"
        return type(error).__name__
    return None
