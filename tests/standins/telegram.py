"""A stand-in of the Telegram Bot API (``/bot<token>/<method>``), and updates as Telegram sends them.

``TelegramStandIn().app`` answers like Telegram: ``{"ok": true, "result": ...}``, a
``Message`` with increasing ``message_id`` for ``sendMessage`` (the edited one for
``editMessageText``), ``true`` for the
other methods; errors as ``{"ok": false, "error_code", "description",
"parameters"}``. Every request is recorded (``Recorder``) and its parameters
parsed as Telegram parses them (form fields or JSON; the JSON-typed fields such
as ``reply_markup`` decoded). Answers can be scripted per method
(``script("sendMessage", None, too_many_requests(3))``: the second call gets a 429), and message ids can be made
undeletable, as Telegram refuses messages older than 48 hours.

The update builders follow the Bot API's documented objects (``Update``,
``Message``, ``CallbackQuery``...), with the fields Telegram fills in.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.standins.server import Call, Recorder, catch_all

TOKEN = "123456789:AAE-stand-in-token_0123456789abcdefg"
SECRET = "stand-in-webhook-secret_0123456789"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "Helpline", "username": "helpline_test_bot"}
JSON_FIELDS = {"reply_markup", "reply_parameters", "allowed_updates", "message_ids", "entities",
               "link_preview_options"}


# ----------------------------------------------------------------- answers


def answer(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def error(code: int, description: str, **parameters: Any) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=code)


def too_many_requests(retry_after: int) -> JSONResponse:
    return error(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


def blocked() -> JSONResponse:
    return error(403, "Forbidden: bot was blocked by the user")


def chat_not_found() -> JSONResponse:
    return error(400, "Bad Request: chat not found")


def server_error() -> JSONResponse:
    return error(500, "Internal Server Error")


def not_found() -> JSONResponse:
    return error(404, "Not Found")


# ---------------------------------------------------------------- stand-in


@dataclass
class ApiCall:
    """One Bot API call: the method and its parameters as Telegram reads them."""

    method: str
    params: dict[str, Any]
    at: float
    token: str = TOKEN  # which bot called


class TelegramStandIn:
    """The Bot API of one bot (or several: ``also`` their tokens, as her bot and the counsellors'
    share one API base); ``app`` is its ASGI application (serve it with ``Served``)."""

    def __init__(self, token: str = TOKEN, also: tuple[str, ...] = ()) -> None:
        self.token = token
        self.tokens = (token, *also)
        self.recorder = Recorder()
        self.undeletable: set[int] = set()
        self._scripts: dict[str, deque[Response | None]] = defaultdict(deque)
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self.app = catch_all(self._handle)

    def script(self, method: str, *responses: Response | None) -> None:
        """Answer the next calls of ``method`` with ``responses`` (None: the usual answer), in order;
        then as usual again."""
        with self._lock:
            self._scripts[method].extend(responses)

    def reset(self) -> None:
        """Forget the calls, the scripts and the undeletable ids; message ids start again."""
        with self._lock, self.recorder.lock:
            self.recorder.calls.clear()
            self.recorder.respond = None
            self._scripts.clear()
            self.undeletable.clear()
            self._ids = itertools.count(1001)

    def calls(self, method: str | None = None, bot: str | None = None, **params: Any) -> list[ApiCall]:
        """The API calls so far, in arrival order: of ``method``, of the bot whose token is
        ``bot``, and with ``params``, if given."""
        with self.recorder.lock:
            recorded = list(self.recorder.calls)
        return [c for c in _matching(recorded, method, params) if bot in (None, c.token)]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0, bot: str | None = None,
                 **params: Any) -> list[ApiCall]:
        """Wait until ``method`` was called ``count`` times (by ``bot``, with ``params``); those calls."""
        self.recorder.wait_for(
            lambda calls: len([c for c in _matching(calls, method, params) if bot in (None, c.token)]) >= count,
            timeout)
        return self.calls(method, bot, **params)

    async def _handle(self, request: Request, body: bytes) -> Response:
        call = self.recorder.record(request, body)
        if (scripted := self.recorder.scripted(call)) is not None:
            return scripted
        prefix = next((f"/bot{token}/" for token in self.tokens if call.path.startswith(f"/bot{token}/")), None)
        if prefix is None:
            return error(401, "Unauthorized")
        method = call.path[len(prefix):]
        with self._lock:
            queued = self._scripts.get(method)
            scripted = queued.popleft() if queued else None
        return scripted if scripted is not None else self._default(method, _params(call))

    def _default(self, method: str, params: dict[str, Any]) -> Response:
        if method == "sendMessage":
            if not params.get("text"):
                return error(400, "Bad Request: message text is empty")
            if len(params["text"].encode("utf-16-le")) // 2 > 4096:
                return error(400, "Bad Request: message is too long")
            return answer(self._message(params))
        if method == "editMessageText":
            return answer(self._message(params, message_id=int(params["message_id"])))
        if method == "deleteMessage":
            if int(params["message_id"]) in self.undeletable:
                return error(400, "Bad Request: message can't be deleted for everyone")
            return answer(True)
        if method in {"deleteMessages", "answerCallbackQuery", "setWebhook", "deleteWebhook"}:
            return answer(True)  # deleteMessages skips what it cannot delete
        if method == "getMe":
            return answer(BOT_USER)
        return not_found()

    def _message(self, params: dict[str, Any], message_id: int | None = None) -> dict[str, Any]:
        """The bot's message as Telegram returns it: a new one, or the one ``message_id`` edited."""
        message: dict[str, Any] = {
            "message_id": message_id or next(self._ids), "from": BOT_USER, "date": int(time.time()),
            "chat": {"id": int(params["chat_id"]), "first_name": "Her", "type": "private"},
            "text": params["text"],
        }
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        return message


def _matching(calls: list[Call], method: str | None, params: dict[str, Any]) -> list[ApiCall]:
    parsed = [api_call(c) for c in calls]
    return [c for c in parsed if method in (None, c.method) and params.items() <= c.params.items()]


def api_call(call: Call) -> ApiCall:
    """A recorded request as the Bot API call it is (for observers hooked into the recorder)."""
    return ApiCall(_method(call.path), _params(call), call.at, _token(call.path))


def _method(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _token(path: str) -> str:
    return path.split("/")[1].removeprefix("bot")


def _params(call: Call) -> dict[str, Any]:
    """The call's parameters as Telegram reads them: JSON body, or form fields."""
    content_type = call.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        return call.json() or {}
    if content_type.startswith("multipart/"):
        raise AssertionError("the stand-in reads form and JSON calls only (no files are ever sent)")
    fields = dict(parse_qsl(call.body.decode(), keep_blank_values=True))
    return {k: json.loads(v) if k in JSON_FIELDS else v for k, v in fields.items()}


# ------------------------------------------------------------------ updates


def user(user_id: int, language_code: str | None = "en") -> dict[str, Any]:
    person: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": "Ana"}
    if language_code is not None:
        person["language_code"] = language_code
    return person


def private_chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "first_name": "Ana", "type": "private"}


def group_chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "title": "A group", "type": "group"}


def message_update(update_id: int, chat_id: int, *, message_id: int = 1, language_code: str | None = "en",
                   date: int | None = None, chat: dict[str, Any] | None = None,
                   **content: Any) -> dict[str, Any]:
    """An update with a message of hers; ``content`` is its text, voice, location..."""
    return {"update_id": update_id, "message": {
        "message_id": message_id, "from": user(chat_id, language_code),
        "chat": chat or private_chat(chat_id), "date": date or int(time.time()), **content,
    }}


def text_update(update_id: int, chat_id: int, text: str, **kwargs: Any) -> dict[str, Any]:
    return message_update(update_id, chat_id, text=text, **kwargs)


def start_update(update_id: int, chat_id: int, payload: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """``/start`` as Telegram sends it when she presses Start (or opens a ``?start=`` link)."""
    text = "/start" + (f" {payload}" if payload else "")
    entities = [{"offset": 0, "length": len("/start"), "type": "bot_command"}]
    return message_update(update_id, chat_id, text=text, entities=entities, **kwargs)


def voice_update(update_id: int, chat_id: int, **kwargs: Any) -> dict[str, Any]:
    voice = {"duration": 3, "mime_type": "audio/ogg", "file_id": "AwACAgIAAxkBAAIB", "file_unique_id": "AgADxx",
             "file_size": 7041}
    return message_update(update_id, chat_id, voice=voice, **kwargs)


def location_update(update_id: int, chat_id: int, latitude: float, longitude: float,
                    **kwargs: Any) -> dict[str, Any]:
    return message_update(update_id, chat_id, location={"latitude": latitude, "longitude": longitude}, **kwargs)


def callback_update(update_id: int, chat_id: int, data: str, *, message_id: int = 1001,
                    query_id: str = "4382bfdwdsb323b2d9", chat: dict[str, Any] | None = None) -> dict[str, Any]:
    """A press of an inline button under the bot's message ``message_id``."""
    return {"update_id": update_id, "callback_query": {
        "id": query_id, "from": user(chat_id),
        "message": {"message_id": message_id, "from": BOT_USER, "chat": chat or private_chat(chat_id),
                    "date": int(time.time()) - 5, "text": "Choose"},
        "chat_instance": "-8219412351227321451", "data": data,
    }}


def webhook_headers(secret: str = SECRET) -> dict[str, str]:
    """The headers of Telegram's webhook POST."""
    return {"Content-Type": "application/json", SECRET_HEADER: secret}
