"""The counsellors' console over the real handoff service, for the API and browser tests.

The service is the real one over a temporary SQLite directory (migrated as the app
migrates it) and in-process live state; only its edges are played by the tests: the
assistant (her chat before the handoff, and the pause/resume marks) and her channel
(what she is sent). She reaches the queue through the service's own entry points for her
side (``request``, then ``intercept`` for what she writes).

    console = build_console(tmp_path)
    anna = await console.add("Anna", "anna")
    handoff_id = await console.her_request(HER)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cryptography.fernet import Fernet
from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.assistant import BotMessage
from bot.console.router import ConsoleState, make_router
from bot.db import make_engine
from bot.directory.migrate import upgrade
from bot.gateway.sealing import Sealer
from bot.handoff.counsellors import CounsellorDirectory
from bot.handoff.records import Counsellor, HandoffAudit, Reason, Role
from bot.handoff.service import HandoffService
from bot.handoff.store import HandoffStore
from bot.identity import pseudonym
from bot.live import LiveState, MemoryLiveState
from bot.safety_fallback import SafetyFallback
from bot.settings import Settings

from tests.doubles import RecordingReach, always_open

T = TypeVar("T")

PEPPER = "console-test-pepper-" + "x" * 24
PASSWORD = "a long and secret passphrase"
TELEGRAM_USER_ID = "7405551234"  # her platform id: it must never reach the console
HER = pseudonym(PEPPER.encode(), "telegram", TELEGRAM_USER_ID)
HISTORY = [("her", "I need to talk to someone"), ("assistant", "I can connect you with a counsellor.")]


class HerAssistant:
    """The assistant as the handoff uses it: her chat so far, and the pause/resume marks."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    async def history(self, sender_id: str) -> list[tuple[str, str]]:
        return list(HISTORY)

    async def record(self, sender_id: str, event: str) -> None:
        self.events.append((sender_id, event))


class HerChannel(RecordingReach):
    """Everything she is sent: in her own turn (``deliver``) and outside it (``Reach.send``)."""

    def texts(self, sender_id: str = HER) -> list[str]:
        return self.to(sender_id)



@dataclass
class Console:
    settings: Settings
    engine: Engine
    live: LiveState
    service: HandoffService
    her: HerChannel
    assistant: HerAssistant
    app: FastAPI
    fallback: SafetyFallback
    loop: asyncio.AbstractEventLoop | None = None  # the server's, while served (browser tests)

    async def add(self, name: str, login: str, role: Role = Role.COUNSELLOR, max_chats: int = 3) -> Counsellor:
        return await self.service.counsellors.add(name, login=login, password=PASSWORD, role=role,
                                                  max_chats=max_chats)

    async def her_request(self, sender_id: str = HER, reason: Reason = Reason.DANGER, channel: str = "telegram",
                          language: str = "sq") -> str:
        """She goes to a person (danger: straight into the queue); the new chat's handoff id."""
        before = {waiting.handoff_id for waiting in await self.service.waiting()}
        await self.service.request(sender_id, reason, self.deliver(sender_id), channel=channel,
                                   language=language)
        new = [w.handoff_id for w in await self.service.waiting() if w.handoff_id not in before]
        assert len(new) == 1, new
        return new[0]

    async def she_says(self, text: str, sender_id: str = HER) -> bool:
        return await self.service.intercept(sender_id, text, self.deliver(sender_id))

    def deliver(self, sender_id: str) -> Callable[[list[BotMessage]], Awaitable[None]]:
        """What her own turn sends her (the service's ``deliver``), recorded with the rest."""
        async def deliver(messages: list[BotMessage]) -> None:
            await self.her.send(sender_id, "", messages)
        return deliver

    def told(self, response: str, language: str, **values: Any) -> str:
        """A text of the handoff's to her, as the service words it (with the numbers, if any)."""
        fallback = self.fallback
        numbers = fallback.numbers.numbers_for(fallback.default_country, language, self_harm=False)
        return fallback.say(response, language, numbers=numbers, **values).text or ""

    def audit(self) -> list[HandoffAudit]:
        with Session(self.engine) as session:
            return list(session.scalars(select(HandoffAudit).order_by(HandoffAudit.id)))

    def actions(self, actor_id: int | None = None) -> list[str]:
        return [row.action for row in self.audit() if actor_id is None or row.actor_id == actor_id]

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the serving loop (from a browser test's thread)."""
        assert self.loop is not None, "not served"
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(30)


def build_console(tmp_path: Path, live: LiveState | None = None, **overrides: Any) -> Console:
    """The console app (``/console`` only) over a fresh service; ``overrides`` go to Settings.

    ``live``: shared live state (Redis) instead of a fresh in-process one."""
    url = f"sqlite:///{tmp_path / 'helpline.db'}"
    settings = Settings(**({"database_url": url, "pseudonym_pepper": PEPPER} | overrides))
    upgrade(url)
    engine = make_engine(url)
    live, her, assistant = live or MemoryLiveState(), HerChannel(), HerAssistant()
    store = HandoffStore(engine, Sealer([Fernet.generate_key()]), transcript_days=30)
    fallback = SafetyFallback.load(settings)
    service = HandoffService(live, store, CounsellorDirectory(engine), assistant,  # type: ignore[arg-type]
                             fallback, her, always_open())
    holder: list[Console] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        holder[0].loop = asyncio.get_running_loop()
        yield

    app = console_app(service, live, settings, lifespan=lifespan)
    console = Console(settings, engine, live, service, her, assistant, app, fallback)
    holder.append(console)
    return console


def console_app(service: HandoffService, live: LiveState, settings: Settings, **options: Any) -> FastAPI:
    """An app serving the console over ``service`` (another instance: the same service, its own
    ``live``), as ``bot.app`` serves it."""
    app = FastAPI(**options)
    app.include_router(make_router())
    app.state.console = ConsoleState.open(service, live, settings)
    return app
