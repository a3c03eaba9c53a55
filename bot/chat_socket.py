"""The web chat's live form: ``WebSocket /api/chat/socket``, and what the widget shows first.

The widget (``bot/web/widget.js``) talks to the app over one socket per open tab,
in JSON text frames::

    she    {"type": "hello", "session": <the tab's id from GET /api/session>}   once, first
           {"type": "message", "id": <her client's id>, "text": ...}
    we     {"type": "reply", "text": ..., "buttons": [{"title": ..., "payload": ...}]}
           {"type": "ack", "id": ...}        the message is answered (after its replies): the widget forgets it
           {"type": "error", "code": ..., "id": ...}   a frame we cannot take; the socket stays open

A message is acknowledged only once it has been answered (or given up, with
the assistant down for too long), never when it is merely taken: what this
process holds in memory is lost if it restarts, and the widget resends every
message not acknowledged, with the same id, after a reconnect. So each message
is answered at least once; a resent id is answered once per tab (acknowledged
again if it was answered already, answered in turn if it is still waiting).

Her sender id is the pseudonym that ``POST /api/chat`` uses for the same tab
id, so the socket and the plain HTTP form are one channel: the widget falls
back to HTTP when a socket cannot open, and the conversation goes on.

Why a socket at all: ``Conversations.answer`` delivers the safety fallback at
the first-reply deadline and the assistant's late replies when they come; a
socket puts them in front of her at once instead of with her next message.

Each tab has one ``Tab`` in this process, outliving its sockets by a grace
period: her messages are answered one at a time in arrival order; the ids it
answered (the last ``REMEMBERED_IDS``) and the ids waiting make a resent
message be answered once; and replies go to whichever socket the tab has open
when they come. With none open they are kept with the conversation
(``ConversationStore``'s late replies, sealed, erased with it) and delivered,
oldest first, at the next hello, or with her next ``POST /api/chat``. Replies
kept for her while a socket is open (a counsellor's) go to it at once when they
are kept in this process, within ``KEPT_POLL_SECONDS`` from another instance.
Reconnecting to another instance keeps the conversation but not this process's
memory of ids: deploy several instances with sticky sessions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from contextlib import suppress
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from bot import emergency
from bot.assistant import BotMessage
from bot.cancellation import cancel_and_wait, within
from bot.chat_api import MAX_MESSAGE_CHARS, ChatIn
from bot.conversations import RETRY_ATTEMPTS, Conversations, Outcome, retry_delay
from bot.identity import pseudonym
from bot.metrics import GATEWAY_MESSAGES
from bot.settings import LANGUAGES

logger = logging.getLogger(__name__)

TEXTS_FILE = Path(__file__).parent / "web" / "texts.json"
PLATFORM = "web"
REMEMBERED_IDS = 100
MAX_ID_CHARS = 64
# A tab whose socket dropped keeps its ids and its queue this long for the reconnect.
TAB_GRACE_SECONDS = 120.0
# More unanswered messages than any person types: the socket is closed (the widget reconnects).
MAX_BACKLOG = 20
# With the assistant down her message is retried while her tab is open, then given up.
KEEP_TIMEOUT_SECONDS = 2.0
# While a socket is open, replies kept for her outside her turns (a counsellor's:
# ``bot.handoff.reach``) come at once when kept in this process; those kept on another
# instance are looked for this often.
KEPT_POLL_SECONDS = 0.5  # a counsellor on another instance still reaches her tab in under 1 s
# The widget's paths that an organisation's site calls from its own origin.
WEB_CHAT_PATHS = frozenset({"/api/session", "/api/chat", "/api/chat/intro"})


class Hello(BaseModel):
    type: Literal["hello"]
    session: str = ChatIn.model_fields["session"]  # the same tab id as POST /api/chat


class Message(BaseModel):
    type: Literal["message"]
    id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    text: str = ChatIn.model_fields["text"]


FRAME = TypeAdapter(Annotated[Hello | Message, Field(discriminator="type")])


class BadFrame(Exception):
    """A frame the socket cannot take; ``code`` goes back to the widget."""

    def __init__(self, code: str, message_id: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message_id = message_id


def parse_frame(raw: str | None) -> Hello | Message:
    """The frame in ``raw``, or ``BadFrame`` saying what is wrong with it (never its content)."""
    if raw is None:
        raise BadFrame("bad_frame")  # a binary frame
    if len(raw) > 6 * MAX_MESSAGE_CHARS + 512:  # every character escaped: still too long
        raise BadFrame("too_long")
    try:
        data = json.loads(raw)
    except ValueError:
        raise BadFrame("bad_json") from None
    message_id = data.get("id") if isinstance(data, dict) else None
    message_id = message_id if isinstance(message_id, str) and len(message_id) <= MAX_ID_CHARS else None
    try:
        return FRAME.validate_python(data)
    except ValidationError as error:
        raise BadFrame(_code_of(error), message_id) from None


def _code_of(error: ValidationError) -> str:
    first = error.errors()[0]
    if first["loc"][-1:] == ("text",) and first["type"] in ("string_too_long", "string_too_short"):
        return "too_long" if first["type"] == "string_too_long" else "empty"
    if first["loc"][-1:] == ("session",):
        return "bad_session"
    return "bad_frame"


def reply_frame(reply: BotMessage) -> dict[str, Any]:
    return {
        "type": "reply",
        "text": reply.text,
        "buttons": [{"title": b.title, "payload": b.payload} for b in reply.buttons],
    }


class Outlet:
    """One open socket; frames go out one at a time (acks and replies are sent from two tasks)."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self._lock = asyncio.Lock()
        self.closed = False  # a send failed: nothing more goes to this socket

    async def send(self, frame: dict[str, Any]) -> bool:
        """Send ``frame``; False when the socket is gone."""
        async with self._lock:
            if self.closed:
                return False
            try:
                await self.websocket.send_json(frame)
            except Exception:  # noqa: BLE001 - closed under us, whichever way: the tab reconnects
                self.closed = True
                return False
        return True


@dataclass
class Tab:
    """The server side of one open tab: the ids it sent, its queue, the socket its replies go to.

    Everything that goes to the socket (replies and acks) goes under one lock,
    ``_delivering``, so that what was kept while no socket was open is taken and
    sent before anything newer, and an ack never overtakes its message's replies.
    """

    sender_id: str
    conversations: Conversations
    outlet: Outlet | None = None
    left_at: float = 0.0
    answered: deque[str] = field(default_factory=lambda: deque(maxlen=REMEMBERED_IDS))
    queue: deque[tuple[str, str]] = field(default_factory=deque)  # (id, text), the head being answered
    worker: asyncio.Task[None] | None = None
    # The store may hold replies of hers not delivered yet (kept while no socket was open).
    unread: bool = True
    _delivering: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    async def take(self, message_id: str, text: str) -> bool:
        """Queue a new message; a resent one is answered once. False when the backlog is full."""
        if message_id in self.answered:
            await self.acknowledge(message_id)  # its ack was lost with a socket
            return True
        if any(waiting == message_id for waiting, _ in self.queue):
            return True  # its ack comes when it is answered
        if len(self.queue) >= MAX_BACKLOG:
            return False
        self.queue.append((message_id, text))
        if self.worker is None:
            self.worker = asyncio.create_task(self._work())
        return True

    def gone(self, now: float) -> bool:
        """Whether the tab seems closed: no socket for longer than the grace period."""
        return self.outlet is None and now - self.left_at > TAB_GRACE_SECONDS

    @property
    def idle(self) -> bool:
        return self.worker is None and not self.queue

    async def deliver(self, replies: list[BotMessage], then: dict[str, Any] | None = None) -> None:
        """Replies to the socket open now, after any kept ones, then the frame ``then`` if they
        went; what cannot go there is kept for the next socket."""
        async with self._delivering:
            if self.unread and self.outlet is not None:
                replies = await self._take_kept() + replies
            for sent, reply in enumerate(replies):
                if not await self._send(reply_frame(reply)):
                    await self._keep(replies[sent:])
                    return
            if then is not None:
                await self._send(then)

    async def acknowledge(self, message_id: str) -> None:
        """Tell the widget that the message is answered (with no socket open, it resends it)."""
        await self.deliver([], then={"type": "ack", "id": message_id})

    async def _send(self, frame: dict[str, Any]) -> bool:
        outlet = self.outlet
        return outlet is not None and await outlet.send(frame)

    async def _take_kept(self) -> list[BotMessage]:
        """What was kept while no socket was open (or came late to ``POST /api/chat``)."""
        try:
            kept = await within(KEEP_TIMEOUT_SECONDS, self.conversations.store.take_late_replies(self.sender_id))
        except Exception as error:  # noqa: BLE001 - they stay: taken again with the next delivery
            logger.error("web chat could not read kept replies: %s", type(error).__name__)
            return []
        self.unread = False
        return kept

    async def _keep(self, replies: list[BotMessage]) -> None:
        self.unread = True
        try:
            await within(KEEP_TIMEOUT_SECONDS, self.conversations.store.keep_late_replies(self.sender_id, replies))
        except Exception as error:  # noqa: BLE001 - nowhere left to put them
            GATEWAY_MESSAGES.labels(PLATFORM, "reply lost").inc()
            logger.error("web chat replies could not be kept: %s", type(error).__name__)

    async def _work(self) -> None:
        """Answer the queue head first, one message at a time, until it is empty; ack each."""
        try:
            while self.queue:
                message_id, text = self.queue[0]
                await self._answer(text)
                self.queue.popleft()
                self.answered.append(message_id)
                await self.acknowledge(message_id)
        finally:
            self.worker = None

    async def _answer(self, text: str) -> None:
        fallback_given = False
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                outcome = await self.conversations.answer(
                    self.sender_id, text, self.deliver, fallback_given=fallback_given
                )
            except Exception as error:  # noqa: BLE001 - it never raises; if it did, go on
                logger.error("web chat answer failed: %s", type(error).__name__)
                return
            if outcome is Outcome.DONE:
                GATEWAY_MESSAGES.labels(PLATFORM, "answered").inc()
                return
            if self.gone(time.monotonic()):
                break
            fallback_given = True  # she has the numbers for this message
            await asyncio.sleep(retry_delay(attempt))
        GATEWAY_MESSAGES.labels(PLATFORM, "given up").inc()
        logger.warning("a web chat message was given up: the assistant stayed unavailable")


class OpenTabs:
    """The tabs of this app with a socket open, or closed within the grace period."""

    def __init__(self) -> None:
        self._tabs: dict[str, Tab] = {}

    def attach(self, sender_id: str, conversations: Conversations, outlet: Outlet) -> Tab:
        """The tab of ``sender_id`` (kept from its last socket, or new), now sending to ``outlet``."""
        self._prune()
        tab = self._tabs.get(sender_id) or Tab(sender_id, conversations)
        self._tabs[sender_id] = tab
        tab.outlet = outlet
        tab.unread = True  # kept while it had no socket: its next delivery takes them first
        return tab

    def detach(self, tab: Tab, outlet: Outlet) -> None:
        if tab.outlet is outlet:  # a newer socket of the tab may have taken over already
            tab.outlet = None
            tab.left_at = time.monotonic()
        self._prune()

    def __len__(self) -> int:
        return len(self._tabs)

    def _prune(self) -> None:
        now = time.monotonic()
        for sender_id in [s for s, tab in self._tabs.items() if tab.idle and tab.gone(now)]:
            del self._tabs[sender_id]


class WebChatCORS:
    """Let the widget on an organisation's site call the web chat's HTTP paths, and only those.

    The web chat involves no credentials (its paths set and read no cookies; only the
    counsellors' console, same-origin under ``/console``, has one), so any origin may
    embed the widget; the rest of the app stays same-origin only.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._cors = CORSMiddleware(
            app, allow_origins=["*"], allow_methods=["GET", "POST"], allow_headers=["Content-Type"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in WEB_CHAT_PATHS:
            await self._cors(scope, receive, send)
        else:
            await self._app(scope, receive, send)


class LanguageOption(BaseModel):
    code: str
    name: str


class Intro(BaseModel):
    """What the widget shows before she writes, in her language."""

    language: str
    languages: list[LanguageOption]
    texts: dict[str, str]
    numbers: str = Field(description="The emergency numbers, one a line, 112 first")
    max_chars: int


@lru_cache
def ui_texts(path: Path = TEXTS_FILE) -> dict[str, dict[str, str]]:
    """The widget's texts, per language (``bot/web/texts.json``)."""
    return json.loads(path.read_text(encoding="utf-8"))


def make_router() -> APIRouter:
    """The socket and the intro; one registry of open tabs per app."""
    tabs = OpenTabs()
    router = APIRouter()

    @router.get("/api/chat/intro", response_model=Intro)
    async def intro(
        request: Request,
        language: Annotated[str | None, Query(max_length=16)] = None,
        country: Annotated[str | None, Query(pattern="^[A-Z]{2}$")] = None,
    ) -> Intro:
        """The first screen: not an emergency service, the numbers; the texts and languages.

        ``language`` may be the browser's (``sq-AL``); one the helpline does not
        speak gives its default. ``country`` is the organisation's, if it set one.
        """
        settings = request.app.state.settings
        code = (language or "")[:2].lower()
        code = code if code in LANGUAGES else settings.default_language
        texts = ui_texts()
        numbers = emergency.load().numbers_for(country or settings.default_country, code)
        return Intro(
            language=code,
            languages=[LanguageOption(code=c, name=texts[c]["language_name"]) for c in LANGUAGES],
            texts=texts[code],
            numbers=numbers,
            max_chars=MAX_MESSAGE_CHARS,
        )

    @router.websocket("/api/chat/socket")
    async def socket(websocket: WebSocket) -> None:
        """One socket of a tab; see the module's docstring for the protocol."""
        await websocket.accept()
        await SocketSession(websocket, tabs).run()

    return router


class SocketSession:
    """One open socket: its frames in, errors out; its tab (replies, acks) from the hello on."""

    def __init__(self, websocket: WebSocket, tabs: OpenTabs) -> None:
        self._websocket = websocket
        self._outlet = Outlet(websocket)
        self._tabs = tabs
        self._tab: Tab | None = None
        self._kept: asyncio.Event | None = None  # set when a reply is kept for her in this process
        self._collector: asyncio.Task[None] | None = None

    async def run(self) -> None:
        try:
            while True:
                received = await self._websocket.receive()
                if received["type"] == "websocket.disconnect":
                    return
                try:
                    await self._take(parse_frame(received.get("text")))
                except BadFrame as bad:
                    await self._outlet.send(_error_frame(bad))
        except WebSocketDisconnect:
            return
        finally:
            try:
                if self._collector is not None:
                    await cancel_and_wait([self._collector])
            finally:  # also when the socket's own task is cancelled during that wait
                if self._tab is not None:
                    if self._kept is not None:
                        self._tab.conversations.store.unwatch(self._tab.sender_id, self._kept)
                    self._tabs.detach(self._tab, self._outlet)

    async def _collect_kept(self, tab: Tab, kept: asyncio.Event) -> None:
        """Deliver what is kept for her while the socket is open (a counsellor's replies): when
        ``kept`` says it was kept here, else every ``KEPT_POLL_SECONDS`` (another instance's)."""
        while not self._outlet.closed:
            with suppress(TimeoutError):
                await within(KEPT_POLL_SECONDS, kept.wait())
            kept.clear()  # before the take: what is kept during it sets it again
            if tab.outlet is self._outlet:
                tab.unread = True
                await tab.deliver([])

    async def _take(self, frame: Hello | Message) -> None:
        if isinstance(frame, Hello):
            await self._hello(frame)
            return
        if self._tab is None:
            raise BadFrame("hello_first", frame.id)
        if not await self._tab.take(frame.id, frame.text):
            await self._websocket.close(code=1008)
            raise WebSocketDisconnect(1008)

    async def _hello(self, hello: Hello) -> None:
        if self._tab is not None:
            raise BadFrame("hello_again")
        state = self._websocket.app.state
        sender_id = pseudonym(state.pepper, PLATFORM, hello.session)
        self._tab = self._tabs.attach(sender_id, state.conversations, self._outlet)
        self._kept = state.conversations.store.watch(sender_id)  # before the take: none is missed
        await self._tab.deliver([])  # what was kept for her meanwhile
        self._collector = asyncio.create_task(self._collect_kept(self._tab, self._kept))


def _error_frame(bad: BadFrame) -> dict[str, str]:
    error = {"type": "error", "code": bad.code}
    if bad.message_id is not None:
        error["id"] = bad.message_id
    return error


def include(app: FastAPI) -> None:
    """Add the socket and the intro to ``app``, and let other sites' pages call the web chat."""
    app.add_middleware(WebChatCORS)
    app.include_router(make_router())
