"""The web chat's socket (``bot.chat_socket``) against the real app and a stand-in Rasa.

The app runs in Starlette's TestClient (its websocket client speaks the real
ASGI protocol); Rasa is the stand-in of its REST channel, over real HTTP.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from bot import chat_socket
from bot.app import create_app
from bot.chat_api import MAX_MESSAGE_CHARS
from bot.identity import pseudonym
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


def test_a_message_is_acknowledged_then_answered(client, rasa):
    session = new_session()
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "m1", "hello there")
        assert frames(ws, 2) == [
            {"type": "ack", "id": "m1"},
            {"type": "reply", "text": "echo: hello there", "buttons": []},
        ]
        message(ws, "m2", "show buttons")
        assert frames(ws, 2)[1]["buttons"] == [
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
        assert frames(ws, 2)[1]["text"] == "echo: first"
        message(ws, "same", "first")
        assert ws.receive_json() == {"type": "ack", "id": "same"}
        message(ws, "next", "second")
        assert frames(ws, 2) == [
            {"type": "ack", "id": "next"},
            {"type": "reply", "text": "echo: second", "buttons": []},
        ]
    with client.websocket_connect("/api/chat/socket") as ws:  # the widget reconnects, resends
        hello(ws, session)
        message(ws, "next", "second")
        message(ws, "third", "third")
        assert frames(ws, 3) == [
            {"type": "ack", "id": "next"},
            {"type": "ack", "id": "third"},
            {"type": "reply", "text": "echo: third", "buttons": []},
        ]
    assert rasa[0].texts_of(sender_of(session)) == ["first", "second", "third"]


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
        assert frames(ws, 2)[1]["text"] == "echo: still here"
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
        assert frames(ws, 2)[1]["text"] == "echo: after hello"
    assert len(rasa[0].senders) == 1


def test_late_replies_reach_the_open_socket_after_the_numbers(client, rasa):
    rasa[0].delay = 1.5  # past the first-reply deadline (0.5 s)
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, new_session())
        message(ws, "slow", "are you there")
        ack, fallback, late = frames(ws, 3)
    assert ack == {"type": "ack", "id": "slow"}
    assert "112" in fallback["text"]
    assert late["text"] == "echo: are you there"


def test_replies_that_find_no_socket_come_at_the_next_hello(client, rasa):
    rasa[0].delay = 1.0
    session = new_session()
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "gone", "I have to go")
        assert ws.receive_json() == {"type": "ack", "id": "gone"}
        assert "112" in ws.receive_json()["text"]  # at the deadline
    time.sleep(1.5)  # the late reply comes while the tab has no socket
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        assert ws.receive_json() == {"type": "reply", "text": "echo: I have to go", "buttons": []}


def test_a_message_the_assistant_could_not_take_is_answered_when_it_is_back(client, rasa):
    standin = rasa[0]
    standin.up = False
    session = new_session()
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "down", "please answer")
        assert ws.receive_json() == {"type": "ack", "id": "down"}
        assert "112" in ws.receive_json()["text"]  # the numbers at once
        standin.up = True
        assert ws.receive_json() == {"type": "reply", "text": "echo: please answer", "buttons": []}
        message(ws, "after", "and now")  # the numbers were not repeated for the retried message
        assert frames(ws, 2) == [
            {"type": "ack", "id": "after"},
            {"type": "reply", "text": "echo: and now", "buttons": []},
        ]
    assert standin.texts_of(sender_of(session)) == ["please answer", "and now"]


def test_the_socket_and_post_are_one_channel(client, rasa):
    session = new_session()
    assert client.post("/api/chat", json={"session": session, "text": "over http"}).json()[0]["text"] == (
        "echo: over http"
    )
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "s", "over the socket")
        assert frames(ws, 2)[1]["text"] == "echo: over the socket"
    assert rasa[0].senders == [sender_of(session)]


def test_a_flood_of_unanswered_messages_closes_the_socket(client, rasa):
    rasa[0].delay = 5.0
    with client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, new_session())
        for n in range(chat_socket.MAX_BACKLOG + 1):
            message(ws, f"f{n}", "again")
        acks = frames(ws, chat_socket.MAX_BACKLOG)
        assert {f["type"] for f in acks} == {"ack"}
        with pytest.raises(Exception) as closed:
            ws.receive_json()
        assert getattr(closed.value, "code", None) == 1008


def test_nothing_of_her_is_logged(client, rasa, caplog):
    session = new_session()
    secret_text = "my address is Rruga e Durrësit 42"
    rasa[0].delay = 0.8
    with caplog.at_level(logging.DEBUG), client.websocket_connect("/api/chat/socket") as ws:
        hello(ws, session)
        message(ws, "private-id", secret_text)
        frames(ws, 3)  # the ack, the fallback, the late reply
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
