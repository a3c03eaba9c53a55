"""The web chat's socket (``bot.chat_socket``) against the real app and a stand-in Rasa.

The app runs in Starlette's TestClient (its websocket client speaks the real
ASGI protocol); Rasa is the stand-in of its REST channel, over real HTTP.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from bot import chat_socket
from bot.app import create_app
from bot.assistant import BotMessage
from bot.chat_api import MAX_MESSAGE_CHARS
from bot.conversation_store import ConversationStore
from bot.directory.migrate import upgrade
from bot.gateway.sealing import Sealer
from bot.handoff.reach import ChatReach
from bot.identity import pseudonym
from bot.live import MemoryLiveState, RedisLiveState
from bot.settings import LANGUAGES
from tests.gateway_harness import PEPPER, app_settings
from tests.standins.rasa import RasaStandIn
from tests.standins.server import Served

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def rasa() -> Iterator[tuple[RasaStandIn, str]]:
    standin = RasaStandIn()
    with Served(standin.app) as served:
        yield standin, served.url


@pytest.fixture
def client(rasa) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings(rasa[1], first_reply_deadline_seconds=0.5))) as test_client:
        yield test_client


@pytest.fixture(params=["in-process", "redis"])
def stores(request, rasa) -> Iterator[TestClient]:
    """The app on each kind of live state: in-process, and real Redis (shared stores)."""
    shared = {"redis_url": request.getfixturevalue("redis_url")} if request.param == "redis" else {}
    settings = app_settings(rasa[1], first_reply_deadline_seconds=0.5, **shared)
    upgrade(settings.database_url)  # erasure reaches the handoff's tables and the outbox
    with TestClient(create_app(settings)) as test_client:
        yield test_client


CANARY = "canary-5e1d the flat above the bakery"


def new_session() -> str:
    return secrets.token_urlsafe(24)


def sender_of(session: str) -> str:
    return pseudonym(PEPPER.encode(), "web", session)


def hello(ws, session: str) -> None:
    ws.send_json({"type": "hello", "session": session})


def message(ws, message_id: str, text: str) -> None:
    ws.send_json({"type": "message", "id": message_id, "text": text})


def frames(ws, count: int) -> list[dict]:
    return [ws.receive_json() for _ in range(count)]


def echoed(text: str) -> dict:
    return {"type": "reply", "text": f"echo: {text}", "buttons": []}


def ack(message_id: str) -> dict:
    return {"type": "ack", "id": message_id}


class Gated:
    """One of the app's store methods, made to wait for the test: ``entered`` when it is
    called, it goes on once ``go`` is set (at once with ``go=True``); ``done`` when it did."""

    def __init__(self, method: Callable[..., Awaitable[Any]], go: bool = False) -> None:
        self.method = method
        self.entered, self.go, self.done = threading.Event(), threading.Event(), threading.Event()
        if go:
            self.go.set()

    async def __call__(self, *args: Any) -> Any:
        self.entered.set()
        while not self.go.is_set():
            await asyncio.sleep(0.01)
        try:
            return await self.method(*args)
        finally:
            self.done.set()


class FailingOnce:
    """One of the app's store methods, failing the first time (the store unreachable)."""

    def __init__(self, method: Callable[..., Awaitable[Any]]) -> None:
        self.method = method
        self.failed = False

    async def __call__(self, *args: Any) -> Any:
        if not self.failed:
            self.failed = True
            raise ConnectionError("the store is unreachable")
        return await self.method(*args)


def test_a_message_is_answered_then_acknowledged(client, rasa):
    session = new_session()
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "m1", "hello there")
        assert frames(ws, 2) == [echoed("hello there"), ack("m1")]
        message(ws, "m2", "show buttons")
        assert frames(ws, 2)[0]["buttons"] == [
            {"title": "Shelter", "payload": "/seek_shelter"},
            {"title": "Legal aid", "payload": "/seek_legal_aid"},
        ]
    assert rasa[0].texts_of(sender_of(session)) == ["hello there", "show buttons"]


def test_messages_are_answered_one_at_a_time_in_order(client, rasa):
    standin = rasa[0]
    standin.delay = 0.1
    session = new_session()
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        for n in range(5):
            message(ws, f"m{n}", f"number {n}")
        received = frames(ws, 10)
    assert [f["id"] for f in received if f["type"] == "ack"] == [f"m{n}" for n in range(5)]
    assert [f["text"] for f in received if f["type"] == "reply"] == [f"echo: number {n}" for n in range(5)]
    assert standin.texts_of(sender_of(session)) == [f"number {n}" for n in range(5)]
    calls = [c for c in standin.recorder.calls if c.path == "/webhooks/rest/webhook"]
    # One at a time: each turn started after the one before it was answered.
    assert all(later.at - earlier.at >= 0.09 for earlier, later in zip(calls, calls[1:]))


def test_a_resent_id_is_answered_once_even_after_a_reconnect(client, rasa):
    session = new_session()
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "same", "first")
        assert frames(ws, 2) == [echoed("first"), ack("same")]
        message(ws, "same", "first")
        assert ws.receive_json() == ack("same")  # answered already: acknowledged again
        message(ws, "next", "second")
        assert frames(ws, 2) == [echoed("second"), ack("next")]
    with client.websocket_connect("/api/chat/socket") as ws:  # the widget reconnects, resends
        hello(ws, session)
        message(ws, "next", "second")
        message(ws, "third", "third")
        assert frames(ws, 3) == [ack("next"), echoed("third"), ack("third")]
    assert rasa[0].texts_of(sender_of(session)) == ["first", "second", "third"]


def test_a_message_resent_while_it_waits_is_answered_once(client, rasa):
    rasa[0].delay = 1.0  # past the first-reply deadline (0.5 s)
    session = new_session()
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "w", "are you there")
        assert "112" in ws.receive_json()["text"]  # the numbers: not answered yet, not acknowledged
    with client.websocket_connect("/api/chat/socket") as ws:  # the widget reconnects, resends
        hello(ws, session)
        message(ws, "w", "are you there")
        assert frames(ws, 2) == [echoed("are you there"), ack("w")]
    assert rasa[0].texts_of(sender_of(session)) == ["are you there"]


def test_a_message_is_acknowledged_only_once_answered_so_a_restart_loses_nothing(rasa):
    standin = rasa[0]
    standin.up = False
    session = new_session()
    settings = app_settings(rasa[1], first_reply_deadline_seconds=0.5)
    with TestClient(create_app(settings)) as before, before.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "m", "please answer")
        assert "112" in ws.receive_json()["text"]  # the numbers at once; no ack: it waits in memory
    standin.up = True
    # The app restarted (its memory is gone); the widget resends what was not acknowledged.
    with TestClient(create_app(settings)) as after, after.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "m", "please answer")
        assert frames(ws, 2) == [echoed("please answer"), ack("m")]
    assert standin.texts_of(sender_of(session)) == ["please answer"]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json at all", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('{"type": "shout", "text": "x"}', "bad_frame"),
        ('{"id": "q"}', "bad_frame"),
        ('{"type": "message", "id": 7, "text": "x"}', "bad_frame"),
        ('{"type": "message", "id": "' + "i" * 65 + '", "text": "x"}', "bad_frame"),
        ('{"type": "message", "id": "e1", "text": ""}', "empty"),
        ('{"type": "message", "id": "l1", "text": "' + "a" * (MAX_MESSAGE_CHARS + 1) + '"}', "too_long"),
        ('{"type": "message", "id": "h1", "text": "' + "\\u0000" * (MAX_MESSAGE_CHARS * 2) + '"}', "too_long"),
        ('{"type": "hello", "session": "' + "s" * 20 + '"}', "hello_again"),
    ],
)
def test_a_bad_frame_gets_an_error_and_the_socket_goes_on(client, rasa, frame, code):
    session = new_session()
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        ws.send_text(frame)
        error = ws.receive_json()
        assert error["type"] == "error" and error["code"] == code
        sent = json.loads(frame) if code in ("empty", "too_long") and len(frame) < 10**5 else None
        if sent:
            assert error["id"] == sent["id"]
        message(ws, "ok", "still here")
        assert frames(ws, 2) == [echoed("still here"), ack("ok")]
    assert rasa[0].texts_of(sender_of(session)) == ["still here"]


def test_hello_comes_first_with_a_valid_session(client, rasa):
    with client.websocket_connect("/api/chat/socket") as ws:
        message(ws, "early", "before hello")
        assert ws.receive_json() == {"type": "error", "code": "hello_first", "id": "early"}
        ws.send_bytes(b"\x00\x01")
        assert ws.receive_json() == {"type": "error", "code": "bad_frame"}
        ws.send_json({"type": "hello", "session": "short"})
        assert ws.receive_json() == {"type": "error", "code": "bad_session"}
        ws.send_json({"type": "hello", "session": 12345678901234567890})
        assert ws.receive_json() == {"type": "error", "code": "bad_session"}
        hello(ws, new_session())
        message(ws, "now", "after hello")
        assert frames(ws, 2) == [echoed("after hello"), ack("now")]
    assert len(rasa[0].senders) == 1


def test_late_replies_reach_the_open_socket_after_the_numbers(client, rasa):
    rasa[0].delay = 1.5  # past the first-reply deadline (0.5 s)
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, new_session())
        message(ws, "slow", "are you there")
        fallback, late, acknowledged = frames(ws, 3)
    assert "112" in fallback["text"]
    assert late == echoed("are you there")
    assert acknowledged == ack("slow")


def test_replies_that_find_no_socket_come_at_the_next_hello(client, rasa):
    rasa[0].delay = 1.0
    session = new_session()
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "gone", "I have to go")
        assert "112" in ws.receive_json()["text"]  # at the deadline
    time.sleep(1.5)  # the late reply comes while the tab has no socket
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        assert ws.receive_json() == echoed("I have to go")
        message(ws, "gone", "I have to go")  # the widget resends it: answered already
        assert ws.receive_json() == ack("gone")
    assert rasa[0].texts_of(sender_of(session)) == ["I have to go"]


def test_a_reply_kept_just_as_she_reconnects_comes_at_the_hello(client, rasa, monkeypatch):
    rasa[0].delay = 1.0
    session = new_session()
    store = client.app.state.conversations.store
    keeping = Gated(store.keep_late_replies)
    monkeypatch.setattr(store, "keep_late_replies", keeping)
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "m", "are you there")
        assert "112" in ws.receive_json()["text"]
    assert keeping.entered.wait(5)  # the late reply found no socket: it is being kept
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        time.sleep(0.3)  # the hello comes while the reply is being written
        keeping.go.set()
        message(ws, "m", "are you there")  # the widget resends what is not acknowledged
        assert frames(ws, 2) == [echoed("are you there"), ack("m")]
    assert rasa[0].texts_of(sender_of(session)) == ["are you there"]


def test_kept_replies_come_before_newer_ones(client, rasa, monkeypatch):
    rasa[0].delay = 1.0
    session = new_session()
    store = client.app.state.conversations.store
    kept = Gated(store.keep_late_replies, go=True)
    monkeypatch.setattr(store, "keep_late_replies", kept)
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "one", "one")
        message(ws, "two", "two")
        assert "112" in ws.receive_json()["text"]  # for "one"; then she has no socket
    assert kept.done.wait(5)  # "echo: one" is kept; "two" goes to the assistant
    taking = Gated(store.take_late_replies)
    monkeypatch.setattr(store, "take_late_replies", taking)
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        assert taking.entered.wait(5)
        time.sleep(0.8)  # the numbers for "two" come while the kept reply is being read
        taking.go.set()
        kept_one, fallback_two, late_two, acknowledged = frames(ws, 4)
    assert kept_one == echoed("one")
    assert "112" in fallback_two["text"]
    assert (late_two, acknowledged) == (echoed("two"), ack("two"))


def test_replies_that_could_not_be_read_at_the_hello_come_with_the_next_delivery(client, rasa, monkeypatch):
    rasa[0].delay = 1.0
    session = new_session()
    store = client.app.state.conversations.store
    kept = Gated(store.keep_late_replies, go=True)
    monkeypatch.setattr(store, "keep_late_replies", kept)
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "m", "first")
        assert "112" in ws.receive_json()["text"]
    assert kept.done.wait(5)
    monkeypatch.setattr(store, "take_late_replies", FailingOnce(store.take_late_replies))
    rasa[0].delay = 0.0
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)  # the kept reply cannot be read now
        message(ws, "n", "second")
        assert frames(ws, 3) == [echoed("first"), echoed("second"), ack("n")]


def test_a_message_the_assistant_could_not_take_is_answered_when_it_is_back(client, rasa):
    standin = rasa[0]
    standin.up = False
    session = new_session()
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "down", "please answer")
        assert "112" in ws.receive_json()["text"]  # the numbers at once
        standin.up = True
        assert frames(ws, 2) == [echoed("please answer"), ack("down")]
        message(ws, "after", "and now")  # the numbers were not repeated for the retried message
        assert frames(ws, 2) == [echoed("and now"), ack("after")]
    assert standin.texts_of(sender_of(session)) == ["please answer", "and now"]


def test_the_socket_and_post_are_one_channel(client, rasa):
    session = new_session()
    assert client.post("/api/chat", json={"session": session, "text": "over http"}).json()[0]["text"] == (
        "echo: over http"
    )
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "s", "over the socket")
        assert frames(ws, 2) == [echoed("over the socket"), ack("s")]
    assert rasa[0].senders == [sender_of(session)]


def test_a_flood_of_unanswered_messages_closes_the_socket(client, rasa):
    rasa[0].delay = 5.0
    session = new_session()
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        for n in range(chat_socket.MAX_BACKLOG):
            message(ws, f"f{n}", "again")
        with client.websocket_connect("/api/chat/socket") as again:  # resending the waiting ones is no flood
            hello(again, session)
            for n in range(chat_socket.MAX_BACKLOG):
                message(again, f"f{n}", "again")
            again.send_text("[]")  # answered with an error: the socket is still open
            message(again, "one-more", "again")
            received = []
            with pytest.raises(Exception) as closed:
                while True:
                    received.append(again.receive_json())
            assert getattr(closed.value, "code", None) == 1008
    assert [f["code"] for f in received if f["type"] == "error"] == ["bad_frame"]
    assert "ack" not in {f["type"] for f in received}  # none of them is answered yet


def test_nothing_of_her_is_logged(client, rasa, caplog):
    session = new_session()
    secret_text = "my address is Rruga e Durrësit 42"
    rasa[0].delay = 0.8
    with caplog.at_level(logging.DEBUG), client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "private-id", secret_text)
        frames(ws, 3)  # the fallback, the late reply, the ack
        ws.send_text("{broken " + secret_text)
        ws.receive_json()
    logged = "\n".join(f"{r.getMessage()} {r.args}" for r in caplog.records)
    for private in (session, sender_of(session), secret_text, "Durrës", "private-id"):
        assert private not in logged


def test_tabs_are_forgotten_after_the_grace_period(monkeypatch):
    tabs = chat_socket.OpenTabs()
    first, second = chat_socket.Outlet(None), chat_socket.Outlet(None)
    tab = tabs.attach("web-a", conversations=None, outlet=first)
    assert tabs.attach("web-a", conversations=None, outlet=second) is tab  # a reconnect: the same tab
    tabs.detach(tab, first)  # the old socket closing late does not take the new one's place
    assert tab.outlet is second
    tabs.detach(tab, second)
    assert len(tabs) == 1  # kept for a reconnect
    monkeypatch.setattr(chat_socket, "TAB_GRACE_SECONDS", 0.0)
    tabs.attach("web-b", conversations=None, outlet=first)
    assert len(tabs) == 1  # web-a is gone


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_intro_says_it_is_not_an_emergency_service_with_the_numbers(client, language):
    intro = client.get("/api/chat/intro", params={"language": language}).json()
    texts = chat_socket.ui_texts()
    assert intro["language"] == language
    assert intro["texts"] == texts[language]
    assert intro["numbers"].splitlines()[0].endswith("112")
    assert [o["code"] for o in intro["languages"]] == list(LANGUAGES)
    assert intro["max_chars"] == MAX_MESSAGE_CHARS


def test_the_intro_takes_the_browsers_language_and_the_organisations_country(client):
    get = lambda **params: client.get("/api/chat/intro", params=params)  # noqa: E731
    assert get(language="sq-AL").json()["language"] == "sq"
    assert get(language="de-DE").json()["language"] == "en"  # the helpline's default
    assert get().json()["language"] == "en"
    serbia = get(language="sr", country="RS").json()["numbers"]
    assert "0800 100 007" in serbia and "Albanija" not in serbia
    assert get(country="serbia").status_code == 422


def test_every_ui_text_is_in_every_language():
    texts = chat_socket.ui_texts()
    assert set(texts) == set(LANGUAGES)
    keys = set(texts["en"])
    for language in LANGUAGES:
        assert set(texts[language]) == keys, language
        assert all(value.strip() for value in texts[language].values()), language


def test_other_sites_may_call_the_web_chat_and_nothing_else(client):
    origin = {"Origin": "https://organisation.example"}
    preflight = client.options(
        "/api/chat",
        headers=origin | {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    for path in ("/api/session", "/api/chat/intro"):
        assert client.get(path, headers=origin).headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-origin" not in client.get("/health", headers=origin).headers


def at_rest(client: TestClient) -> dict[str, str]:
    """Every key of the app's live state with its value as stored, read by type (a Redis DUMP
    may compress a value, which would hide a text kept in clear)."""
    live = client.app.state.live
    if isinstance(live, MemoryLiveState):
        return {key: repr(value) for key, value in live._values.items()}
    reader = redis.Redis.from_url(client.app.state.settings.redis_url, decode_responses=True)
    read = {"string": reader.get, "list": lambda k: reader.lrange(k, 0, -1), "hash": reader.hgetall,
            "set": reader.smembers, "zset": lambda k: reader.zrange(k, 0, -1, withscores=True)}
    try:
        return {key: repr(read[reader.type(key)](key)) for key in reader.keys("*")}
    finally:
        reader.close()


def kept_for(client: TestClient, sender_id: str, *texts: str) -> None:
    """A counsellor's replies to her on the web chat, outside her turns (``bot.handoff.reach``)."""
    state = client.app.state
    reach = ChatReach(state.gateway, state.conversations)
    assert client.portal.call(reach.send, sender_id, "web", [BotMessage(text=t) for t in texts])


def test_replies_kept_for_a_closed_tab_are_sealed_come_once_in_order_and_are_erased(stores, rasa):
    session = new_session()
    with stores.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "m", "hello")
        assert frames(ws, 2) == [echoed("hello"), ack("m")]
    kept_for(stores, sender_of(session), f"{CANARY} one", f"{CANARY} two")  # her tab is closed
    stored = at_rest(stores)
    assert any("late-replies" in key for key in stored), "nothing kept: the scan would prove nothing"
    for key, value in stored.items():
        assert CANARY not in key and CANARY not in value, key
    with stores.websocket_connect("/api/chat/socket") as ws:  # she comes back
        hello(ws, session)
        assert frames(ws, 2) == [
            {"type": "reply", "text": f"{CANARY} one", "buttons": []},
            {"type": "reply", "text": f"{CANARY} two", "buttons": []},
        ]
        time.sleep(1.5)  # past a poll for kept replies: nothing comes twice
        message(ws, "n", "thanks")
        assert frames(ws, 2) == [echoed("thanks"), ack("n")]
    kept_for(stores, sender_of(session), f"{CANARY} three")
    assert stores.portal.call(stores.app.state.conversations.erase, sender_of(session))
    assert not any("late-replies" in key or CANARY in value for key, value in at_rest(stores).items())
    with stores.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "after", "still there?")
        assert frames(ws, 2) == [echoed("still there?"), ack("after")]  # nothing kept came back


def test_a_counsellors_reply_kept_on_this_instance_reaches_the_open_socket_at_once(stores, rasa, monkeypatch):
    monkeypatch.setattr(chat_socket, "KEPT_POLL_SECONDS", 30.0)  # only the wake-up can bring it in time
    session = new_session()
    with stores.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "m", "hello")
        assert frames(ws, 2) == [echoed("hello"), ack("m")]
        for n in range(3):
            started = time.monotonic()
            kept_for(stores, sender_of(session), f"counsellor {n}")
            assert ws.receive_json() == {"type": "reply", "text": f"counsellor {n}", "buttons": []}
            assert time.monotonic() - started < 1.0


def test_a_counsellors_reply_kept_on_another_instance_reaches_the_open_socket_within_a_poll(rasa, redis_url):
    settings = app_settings(rasa[1], redis_url=redis_url)
    upgrade(settings.database_url)
    other_live = RedisLiveState.from_url(redis_url)  # another instance's view of the same Redis
    other = ConversationStore(other_live, 3600, Sealer.from_settings(settings))
    session = new_session()
    with TestClient(create_app(settings)) as client, client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "m", "hello")
        assert frames(ws, 2) == [echoed("hello"), ack("m")]
        started = time.monotonic()
        client.portal.call(other.keep_late_replies, sender_of(session), [BotMessage(text="from the console")])
        assert ws.receive_json() == {"type": "reply", "text": "from the console", "buttons": []}
        assert time.monotonic() - started < chat_socket.KEPT_POLL_SECONDS + 0.5
        client.portal.call(other_live.close)
