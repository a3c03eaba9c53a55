"""The counsellors' web console: one page, a JSON API and a live event stream, under ``/console``.

Mounted by ``bot.app``: ``app.include_router(make_router())``; the routes work with the
``ConsoleState`` its lifespan sets as ``app.state.console``.

- Sign-in: a login and password (argon2, checked by the service's counsellor directory)
  open a session (``bot.console.auth``): a random token in an HttpOnly, SameSite=Strict
  cookie limited to ``/console`` (Secure when ``PUBLIC_URL`` is https), known to every
  instance through live state. Failed logins are limited per login name.
- Every request that changes anything is a POST with a JSON body and the header
  ``X-Console: 1``, and not from another site (``Sec-Fetch-Site``): another site's page
  can send none of these without the browser asking us first, and we never agree.
- Roles: a counsellor sees the queue, their own chats and the chats they handled; an
  administrator also sees every open chat and the audit log, and may block any sender.
- The service records what counsellors do to chats (take, reply, note, end, transfer,
  block, away); the console adds sign-in, failed sign-in (never the password), sign-out
  and reading a chat.
- She is only ever the pseudonym label: no platform id, phone number or profile name
  reaches the console.
- The page loads nothing from elsewhere, under a strict Content-Security-Policy.
"""

import datetime as dt
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi import Path as PathParameter
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from bot.console.auth import FAILURE_WINDOW_SECONDS, SESSION_SECONDS, LoginLimiter, Sessions
from bot.console.events import EventStream
from bot.console.views import chats_for, is_admin, line_view, me_view, queue_of
from bot.handoff.records import Counsellor
from bot.handoff.service import HandoffService, ReplyStatus, TakeStatus
from bot.live import LiveState
from bot.settings import Language, Settings

STATIC_DIR = Path(__file__).parent / "static"
STATIC_FILES = {
    "console.js": "text/javascript", "console.css": "text/css", "texts.json": "application/json",
}
COOKIE = "helpline_console"
COOKIE_PATH = "/console"
HANDOFF_ID = r"^[0-9a-f]{32}$"
MAX_TEXT_CHARS = 4000
AUDIT_ROWS = 200
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}
REPLY_REFUSALS = {
    ReplyStatus.EMPTY: (422, "empty"),
    ReplyStatus.NOT_YOURS: (409, "not_yours"),
    ReplyStatus.UNREACHABLE: (409, "not_delivered"),
    ReplyStatus.WINDOW_CLOSED: (409, "window_closed"),  # WhatsApp's 24 hours since her last message
}

class _Hardened(APIRoute):
    """Every console answer carries the security headers (the page's CSP among them)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            response = await handler(request)
            response.headers.update(HEADERS)
            return response

        return run


class LoginIn(BaseModel):
    login: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=1024)


class ChatIn(BaseModel):
    handoff_id: str = Field(pattern=HANDOFF_ID)


class TextIn(ChatIn):
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)


class TransferIn(ChatIn):
    to: int | None = Field(default=None, description="A counsellor's id; null: back to the queue")


class BlockIn(ChatIn):
    reason: str = Field(min_length=1, max_length=200)
    days: int = Field(ge=1, le=365)


class AwayIn(BaseModel):
    away: bool


def refused(status: int, code: str) -> HTTPException:
    """An error the page understands: ``{"detail": code}``."""
    return HTTPException(status, code)


async def state_changing(request: Request) -> None:
    """CSRF: a JSON POST with our own header, from our own pages only."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    site = request.headers.get("sec-fetch-site", "same-origin")
    if request.headers.get("x-console") != "1" or content_type != "application/json" or \
            site not in ("same-origin", "none"):
        raise refused(403, "refused")


CHANGES = [Depends(state_changing)]


@dataclass(frozen=True)
class ConsoleState:
    """What the console's routes work with, one per app: set by its lifespan as
    ``app.state.console``, so that the routes exist (and are included) once, with the app."""

    service: HandoffService
    sessions: Sessions
    limiter: LoginLimiter
    secure_cookie: bool

    @classmethod
    def open(cls, service: HandoffService, live: LiveState, settings: Settings) -> "ConsoleState":
        """The console over the handoff service and the shared live state."""
        return cls(service, Sessions(live, service.counsellors), LoginLimiter(live),
                   (settings.public_url or "").lower().startswith("https://"))


def _console(request: Request) -> ConsoleState:
    return request.app.state.console


Served = Annotated[ConsoleState, Depends(_console)]


async def _viewer(request: Request, console: Served) -> Counsellor:
    counsellor = await console.sessions.counsellor_of(request.cookies.get(COOKIE))
    if counsellor is None:
        raise refused(401, "signed_out")
    return counsellor


Me = Annotated[Counsellor, Depends(_viewer)]


def make_router() -> APIRouter:
    """The console's routes, over the app's ``ConsoleState``."""
    router = APIRouter(prefix="/console", route_class=_Hardened, include_in_schema=False)
    _add_page(router)
    _add_sign_in(router)
    _add_reading(router)
    _add_acting(router)
    return router


def _add_page(router: APIRouter) -> None:
    @router.get("")
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "console.html", media_type="text/html")

    @router.get("/static/{name}")
    async def static(name: str) -> FileResponse:
        if name not in STATIC_FILES:
            raise refused(404, "not_found")
        return FileResponse(STATIC_DIR / name, media_type=STATIC_FILES[name])


def _add_sign_in(router: APIRouter) -> None:
    async def actor_of(service: HandoffService, login: str) -> int | None:
        """Whose login a failed attempt was at: the audit names them, never what was typed."""
        return next((c.id for c in await service.counsellors.all() if c.login == login), None)

    @router.post("/api/login", dependencies=CHANGES)
    async def login(body: LoginIn, response: Response, console: Served) -> dict[str, Any]:
        service = console.service
        attempt = await console.limiter.attempt(body.login)
        if attempt is None:
            await service.audit(await actor_of(service, body.login), "login_refused", detail="too many")
            raise HTTPException(429, "too_many_attempts",
                                headers={"Retry-After": str(FAILURE_WINDOW_SECONDS)})
        counsellor = await service.counsellors.check_login(body.login, body.password)
        if counsellor is None:
            await service.audit(await actor_of(service, body.login), "login_failed", detail="console")
            raise refused(401, "wrong_login")
        await console.limiter.succeeded(attempt)
        token = await console.sessions.open(counsellor)
        response.set_cookie(COOKIE, token, max_age=SESSION_SECONDS, path=COOKIE_PATH,
                            secure=console.secure_cookie, httponly=True, samesite="strict")
        await service.audit(counsellor.id, "login", detail="console")
        return me_view(counsellor, await service.is_away(counsellor.id))

    @router.post("/api/logout", dependencies=CHANGES)
    async def logout(request: Request, response: Response, me: Me, console: Served) -> dict[str, bool]:
        await console.sessions.close(request.cookies.get(COOKIE, ""))
        response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=console.secure_cookie, httponly=True,
                               samesite="strict")
        await console.service.audit(me.id, "logout", detail="console")
        return {"ok": True}

    @router.get("/api/me")
    async def whoami(me: Me, console: Served) -> dict[str, Any]:
        return me_view(me, await console.service.is_away(me.id))


def _add_reading(router: APIRouter) -> None:
    async def admin(me: Me) -> Counsellor:
        if not is_admin(me):
            raise refused(403, "admins_only")
        return me

    @router.get("/api/queue")
    async def queue(me: Me, console: Served) -> list[dict[str, Any]]:
        return await queue_of(console.service)

    @router.get("/api/chats")
    async def chats(me: Me, console: Served) -> list[dict[str, Any]]:
        return await chats_for(console.service, me)

    @router.get("/api/chats/{handoff_id}/lines")
    async def lines(me: Me, console: Served, handoff_id: Annotated[str, PathParameter(pattern=HANDOFF_ID)],
                    after: Annotated[int, Query(ge=0)] = 0) -> list[dict[str, Any]]:
        found = await console.service.lines(me, handoff_id, after)
        if after == 0:  # opening the chat, not a page catching up
            action = "view" if found is not None else "view_refused"
            await console.service.audit(me.id, action, handoff_id, "console")
        if found is None:
            raise refused(403, "not_allowed")
        return [line_view(line) for line in found]

    @router.get("/api/canned")
    async def canned(me: Me, language: Language, console: Served) -> list[dict[str, str]]:
        return [{"title": title, "text": text} for title, text in console.service.canned(language)]

    @router.get("/api/counsellors")
    async def counsellors(me: Me, console: Served) -> list[dict[str, Any]]:
        """Whom a chat can be transferred to (display names only)."""
        return [{"id": c.id, "name": c.display_name, "away": await console.service.is_away(c.id)}
                for c in await console.service.counsellors.all() if c.id != me.id]

    @router.get("/api/audit")
    async def audit(me: Annotated[Counsellor, Depends(admin)], console: Served) -> list[dict[str, Any]]:
        names = {c.id: c.display_name for c in await console.service.counsellors.all()}
        return [{"at": _iso(row.at), "actor": names.get(row.actor_id) if row.actor_id else None,
                 "action": row.action, "chat": row.handoff_id, "detail": row.detail}
                for row in await console.service.audit_log(AUDIT_ROWS)]

    @router.get("/api/events")
    async def events(request: Request, me: Me, console: Served,
                     chat: Annotated[str | None, Query(pattern=HANDOFF_ID)] = None,
                     after: Annotated[int, Query(ge=0)] = 0) -> StreamingResponse:
        resumed = request.headers.get("last-event-id", "")
        after = max(after, int(resumed)) if resumed.isdigit() else after
        stream = EventStream(console.service, console.sessions, request.cookies.get(COOKIE, ""), me, chat,
                             after, request.is_disconnected)
        return StreamingResponse(stream.chunks(), media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no"})


def _add_acting(router: APIRouter) -> None:
    @router.post("/api/take", dependencies=CHANGES)
    async def take(body: ChatIn, me: Me, console: Served) -> dict[str, Any]:
        """The status; once taken, how long her platform still takes replies
        (``window_left_seconds``: WhatsApp's window, 0 when closed; null: no such limit)."""
        taken = await console.service.take(me.id, body.handoff_id)
        answer: dict[str, Any] = {"status": taken.status.name.lower()}
        if taken.status is TakeStatus.TAKEN:
            left = await console.service.window_left(body.handoff_id)
            answer["window_left_seconds"] = math.ceil(left) if left is not None else None
        return answer

    @router.post("/api/reply", dependencies=CHANGES)
    async def reply(body: TextIn, me: Me, console: Served) -> dict[str, bool]:
        """409 ``not_yours``, ``not_delivered`` (she cannot be reached) or ``window_closed``
        (WhatsApp's window: she can be answered when she writes again)."""
        status = await console.service.reply(me.id, body.handoff_id, body.text)
        if status is not ReplyStatus.SENT:
            raise refused(*REPLY_REFUSALS[status])
        return {"ok": True}

    @router.post("/api/note", dependencies=CHANGES)
    async def note(body: TextIn, me: Me, console: Served) -> dict[str, bool]:
        return done(await console.service.note(me.id, body.handoff_id, body.text))

    @router.post("/api/end", dependencies=CHANGES)
    async def end(body: ChatIn, me: Me, console: Served) -> dict[str, bool]:
        return done(await console.service.end(me.id, body.handoff_id))

    @router.post("/api/transfer", dependencies=CHANGES)
    async def transfer(body: TransferIn, me: Me, console: Served) -> dict[str, bool]:
        return done(await console.service.transfer(me.id, body.handoff_id, body.to))

    @router.post("/api/block", dependencies=CHANGES)
    async def block(body: BlockIn, me: Me, console: Served) -> dict[str, bool]:
        return done(await console.service.block(me.id, body.handoff_id, body.reason, body.days))

    @router.post("/api/away", dependencies=CHANGES)
    async def away(body: AwayIn, me: Me, console: Served) -> dict[str, Any]:
        await console.service.set_away(me.id, body.away)
        return me_view(me, body.away)


def done(ok: bool) -> dict[str, bool]:
    """The answer to an action on a chat (the service's False: it is not theirs, or no more)."""
    if not ok:
        raise refused(409, "not_yours")
    return {"ok": True}


def _iso(at: dt.datetime) -> str:
    """A stored time in UTC ISO form (SQLite gives it back without its zone)."""
    return (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).isoformat()
