"""The web application's composition root: every part is built here and nowhere else.

Started by ``helpline run`` next to Rasa and the action server, or alone with
``uvicorn --factory bot.app:create_app``. Routers: the web chat
(``bot.chat_api``), health and metrics (``bot.health``), the directory search
(``bot.directory.api``), the counsellor bot's webhook (``bot.handoff.webhook``), the
platforms' webhooks (``bot.gateway.webhooks``), and the counsellors' console
(``bot.console``, added once the handoff service is built).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from bot import chat_api, chat_socket, health
from bot.assistant import AssistantClient
from bot.cancellation import cancel_and_wait
from bot.console.router import ConsoleState
from bot.console.router import make_router as make_console_router
from bot.conversations import Conversations
from bot.db import make_engine, make_session_factory
from bot.directory.api import router as directory_router
from bot.erasure import Erasure, RasaRedisStores
from bot.gateway import webhooks
from bot.gateway.sealing import Sealer
from bot.gateway.wiring import open_gateway
from bot.handoff import webhook as counsellor_webhook
from bot.handoff.hours import Schedule
from bot.handoff.telegram_bot import CounsellorBot
from bot.handoff.wiring import open_handoff
from bot.live import open_live_state
from bot.log_safety import configure as configure_logging
from bot.observability import init_sentry
from bot.safety_fallback import SafetyFallback
from bot.settings import Settings, get_settings

WEB_DIR = Path(__file__).parent / "web"
HANDOFF_SWEEP_SECONDS = 1.0  # her place in the queue and the timeouts are looked at this often


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; every dependency comes from ``settings``."""
    settings = settings or get_settings()
    if settings.pseudonym_pepper is None:
        raise RuntimeError("PSEUDONYM_PEPPER is not set: refusing to start without pseudonyms")
    for problem in (settings.pepper_problem(), settings.address_key_problem()):
        if problem:
            raise RuntimeError(problem)
    token = settings.rasa_token.get_secret_value() if settings.rasa_token else None
    fallback = SafetyFallback.load(settings)  # read at build time: a broken domain fails at once
    schedule = Schedule.load(settings.handoff_hours_file)  # likewise a broken schedule

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level)
        init_sentry(settings, "app")
        state = app.state
        state.settings = settings
        state.pepper = settings.pseudonym_pepper.get_secret_value().encode()
        state.engine = make_engine(settings.database_url)
        state.directory_sessions = make_session_factory(state.engine)
        state.live = open_live_state(settings.redis_url)
        state.assistant = AssistantClient(settings.rasa_url, token, settings.rasa_timeout_seconds)
        retention = settings.conversation_retention_hours * 3600
        rasa_redis = RasaRedisStores.from_url(settings.redis_url, retention) if settings.redis_url else None
        erasure = Erasure([rasa_redis or state.assistant])
        sealer = Sealer.from_settings(settings)  # one for all she leaves at rest: ADDRESS_KEY
        state.conversations = Conversations(
            state.assistant, state.live, erasure, fallback,
            retention_seconds=retention,
            first_reply_deadline=settings.first_reply_deadline_seconds,
            sealer=sealer,
        )
        erasure.register(state.conversations.store)
        state.gateway = open_gateway(
            settings, state.conversations, state.live, fallback, erasure, state.pepper, state.engine,
            sealer,
        )
        state.handoff = open_handoff(
            settings, schedule, state.live, state.engine, state.assistant, fallback, state.gateway,
            state.conversations, erasure, sealer,
        )
        state.console = ConsoleState.open(state.handoff, state.live, settings)
        state.counsellor_bot = CounsellorBot.from_settings(settings, state.handoff, state.live)
        if state.counsellor_bot is not None:
            await state.counsellor_bot.start()
        state.gateway.start(settings.gateway_workers)
        state.sweeper = asyncio.create_task(
            state.conversations.sweep_forever(settings.sweep_interval_seconds)
        )
        state.handoff_sweeper = asyncio.create_task(state.handoff.sweep_forever(HANDOFF_SWEEP_SECONDS))
        yield
        await cancel_and_wait([state.handoff_sweeper, state.sweeper])
        if state.counsellor_bot is not None:
            await state.counsellor_bot.stop()
        await state.gateway.close()
        await state.conversations.close()
        await state.assistant.close()
        if rasa_redis:
            await rasa_redis.close()
        await state.live.close()
        state.engine.dispose()

    app = FastAPI(title="Helpline", lifespan=lifespan)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    app.include_router(chat_api.router)
    chat_socket.include(app)
    app.include_router(health.router)
    app.include_router(directory_router)
    app.include_router(make_console_router())
    app.include_router(counsellor_webhook.router)  # before the platforms' /webhooks/{platform}
    app.include_router(webhooks.router)

    @app.get("/", include_in_schema=False)
    async def web_chat() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html")

    return app
