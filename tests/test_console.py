"""The counsellors' web console's API (``bot.console``) over the real handoff service.

Requests go through httpx's ASGI transport to the console's router; the service is the
real one over a temporary SQLite directory and in-process live state
(``tests.console_harness``). Sign-in and its cookie, the CSRF rules, roles, the queue
and every action on a chat, the live event stream, and the audit rows they leave.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie

import httpx
import pytest
from fastapi import FastAPI

from bot.console.auth import MAX_FAILURES
from bot.console.router import COOKIE
from bot.handoff.records import Reason, Role
from bot.handoff.service import WINDOW_MARGIN_SECONDS, ReplyStatus, label_of
from bot.identity import pseudonym
from bot.live import RedisLiveState
from tests.console_harness import (
    HER,
    HISTORY,
    PASSWORD,
    PEPPER,
    TELEGRAM_USER_ID,
    Console,
    build_console,
    console_app,
)
from tests.helpers import text_of

CONSOLE = {"X-Console": "1"}
LATE_PHONE, EARLY_PHONE = "38970123456", "38971654321"  # her WhatsApp numbers: never in the console
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def console(tmp_path) -> Console:
    built = build_console(tmp_path)
    yield built
    built.engine.dispose()


def client_of(app: FastAPI, base_url: str = "http://helpline.test") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=base_url)


@pytest.fixture
async def clients(console) -> AsyncIterator:
    """Signed-in clients: ``await clients("anna")``; all closed after the test."""
    opened: list[httpx.AsyncClient] = []

    async def signed_in(login: str) -> httpx.AsyncClient:
        client = client_of(console.app)
        opened.append(client)
        response = await client.post("/console/api/login", json={"login": login, "password": PASSWORD},
                                     headers=CONSOLE)
        assert response.status_code == 200, response.text
        return client

    yield signed_in
    for client in opened:
        await client.aclose()


async def post(client: httpx.AsyncClient, path: str, **body) -> httpx.Response:
    return await client.post(f"/console/api/{path}", json=body, headers=CONSOLE)


def cookie_of(response: httpx.Response) -> SimpleCookie:
    cookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    return cookie


# ------------------------------------------------------------------ sign-in


async def test_a_good_login_opens_a_strict_session_any_instance_knows(console):
    anna = await console.add("Anna", "anna")
    async with client_of(console.app) as client:
        response = await post(client, "login", login="anna", password=PASSWORD)
        assert response.status_code == 200
        assert response.json() == {"id": anna.id, "name": "Anna", "role": "counsellor", "admin": False,
                                   "away": False}
        morsel = cookie_of(response)[COOKIE]
        assert (morsel["httponly"], morsel["samesite"], morsel["path"], morsel["max-age"]) == (
            True, "strict", "/console", "43200")
        assert not morsel["secure"]  # PUBLIC_URL is not https here
        token = morsel.value
        assert len(token) >= 43  # 32 random bytes
        # Live state keeps the token's hash, never the token.
        key = f"console:session:{hashlib.sha256(token.encode()).hexdigest()}"
        assert (await console.live.value_get(key)).startswith(f"{anna.id}:")
        assert await console.live.value_get(f"console:session:{token}") is None
        assert (await client.get("/console/api/me")).json()["name"] == "Anna"

    other_instance = console_app(console.service, console.live, console.settings)
    async with client_of(other_instance) as elsewhere:
        elsewhere.cookies.set(COOKIE, token, domain="helpline.test", path="/console")
        assert (await elsewhere.get("/console/api/me")).json()["id"] == anna.id
    assert console.actions(anna.id) == ["login"]


async def test_behind_https_the_cookie_is_secure(tmp_path):
    console = build_console(tmp_path, public_url="https://helpline.example.org")
    await console.add("Anna", "anna")
    async with client_of(console.app, "https://helpline.example.org") as client:
        response = await post(client, "login", login="anna", password=PASSWORD)
        assert cookie_of(response)[COOKIE]["secure"]
        assert (await client.get("/console/api/me")).status_code == 200
    console.engine.dispose()


async def test_a_bad_login_is_refused_and_audited_without_the_password(console):
    anna = await console.add("Anna", "anna")
    async with client_of(console.app) as client:
        wrong = await post(client, "login", login="anna", password="guessed-password-1")
        unknown = await post(client, "login", login="nobody", password="guessed-password-2")
        assert (wrong.status_code, wrong.json()) == (401, {"detail": "wrong_login"})
        assert (unknown.status_code, unknown.json()) == (401, {"detail": "wrong_login"})
        assert "set-cookie" not in wrong.headers
        assert (await client.get("/console/api/me")).status_code == 401
    rows = [(row.actor_id, row.action) for row in console.audit()]
    assert rows == [(anna.id, "login_failed"), (None, "login_failed")]
    kept = json.dumps([[str(value) for value in vars(row).values()] for row in console.audit()])
    assert "guessed-password" not in kept and "nobody" not in kept


async def test_failed_logins_are_limited_per_login_name(console):
    anna = await console.add("Anna", "anna")
    await console.add("Bora", "bora")
    async with client_of(console.app) as client:
        for attempt in range(MAX_FAILURES):
            assert (await post(client, "login", login="anna", password=f"wrong {attempt}")).status_code == 401
        refused = await post(client, "login", login="anna", password=PASSWORD)  # even the right one, for now
        assert refused.status_code == 429
        assert refused.json() == {"detail": "too_many_attempts"}
        assert int(refused.headers["retry-after"]) > 0
        assert (await post(client, "login", login="Anna ", password=PASSWORD)).status_code == 429  # same name
        assert (await post(client, "login", login="bora", password=PASSWORD)).status_code == 200  # others not
    assert console.actions(anna.id) == ["login_failed"] * MAX_FAILURES + ["login_refused"]
    assert console.actions(None)[-2] == "login_refused"  # "Anna " is not her login, but counts with it


async def test_a_right_password_does_not_count_against_the_limit(console):
    await console.add("Anna", "anna")
    async with client_of(console.app) as client:
        for _ in range(MAX_FAILURES + 2):
            assert (await post(client, "login", login="anna", password=PASSWORD)).status_code == 200


async def test_on_redis_every_instance_knows_the_sessions_and_counts_the_failures(tmp_path, redis_url):
    """Two app instances, each with its own Redis connection: what one opens, the other knows."""
    first = build_console(tmp_path, RedisLiveState.from_url(redis_url))
    anna = await first.add("Anna", "anna")
    second_live = RedisLiveState.from_url(redis_url)
    second = console_app(first.service, second_live, first.settings)
    async with client_of(first.app) as here, client_of(second) as there:
        for attempt in range(MAX_FAILURES - 1):
            await post(here if attempt % 2 else there, "login", login="anna", password="wrong")
        assert (await post(there, "login", login="anna", password=PASSWORD)).status_code == 200
        await post(here, "login", login="anna", password="wrong")
        assert (await post(there, "login", login="anna", password="wrong")).status_code == 429
        here.cookies.set(COOKIE, there.cookies[COOKIE], domain="helpline.test", path="/console")
        assert (await here.get("/console/api/me")).json()["id"] == anna.id
        await post(there, "logout")
        assert (await here.get("/console/api/me")).status_code == 401
    await first.live.close()
    await second_live.close()
    first.engine.dispose()


async def test_logout_ends_the_session_for_every_instance(console, clients):
    anna = await console.add("Anna", "anna")
    client = await clients("anna")
    token = client.cookies[COOKIE]
    response = await post(client, "logout")
    assert response.status_code == 200
    assert cookie_of(response)[COOKIE]["max-age"] == "0"
    client.cookies.set(COOKIE, token, domain="helpline.test", path="/console")  # a copy of the old cookie
    assert (await client.get("/console/api/me")).status_code == 401
    assert console.actions(anna.id) == ["login", "logout"]


async def test_signed_out_requests_are_refused(console):
    await console.add("Anna", "anna")
    handoff_id = await console.her_request()
    async with client_of(console.app) as client:
        for path in ("me", "queue", "chats", "events", f"chats/{handoff_id}/lines", "canned?language=en"):
            assert (await client.get(f"/console/api/{path}")).status_code == 401, path
        client.cookies.set(COOKIE, "forged-token", domain="helpline.test", path="/console")
        assert (await post(client, "take", handoff_id=handoff_id)).status_code == 401
    assert len(await console.service.waiting()) == 1


async def test_state_changes_need_a_json_post_with_the_console_header(console, clients):
    await console.add("Anna", "anna")
    handoff_id = await console.her_request()
    client = await clients("anna")
    body = json.dumps({"handoff_id": handoff_id})
    forged = [
        {"headers": {"Content-Type": "application/json"}},  # no X-Console: any site's form or fetch
        {"headers": {"Content-Type": "text/plain", "X-Console": "1"}},
        {"headers": {"Content-Type": "application/x-www-form-urlencoded", "X-Console": "1"}},
        {"headers": {"Content-Type": "application/json", "X-Console": "1", "Sec-Fetch-Site": "cross-site"}},
        {"headers": {"Content-Type": "application/json", "X-Console": "1", "Sec-Fetch-Site": "same-site"}},
    ]
    for attempt in forged:
        response = await client.post("/console/api/take", content=body, **attempt)
        assert (response.status_code, response.json()) == (403, {"detail": "refused"}), attempt
    assert (await client.get("/console/api/take", params={"handoff_id": handoff_id})).status_code == 405
    assert (await client.post("/console/api/login", json={"login": "anna", "password": PASSWORD})).status_code == 403
    assert len(await console.service.waiting()) == 1  # nothing was taken
    ok = await client.post("/console/api/take", content=body, headers={
        "Content-Type": "application/json", "X-Console": "1", "Sec-Fetch-Site": "same-origin"})
    assert ok.json() == {"status": "taken", "window_left_seconds": None}  # Telegram: no reply window


async def test_the_page_is_self_contained_under_a_strict_policy(console):
    async with client_of(console.app) as client:
        page = await client.get("/console")
        policy = page.headers["content-security-policy"]
        for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
                          "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"):
            assert directive in policy
        assert "unsafe" not in policy
        assert page.headers["content-type"].startswith("text/html")
        assert (page.headers["x-frame-options"], page.headers["x-content-type-options"]) == ("DENY", "nosniff")
        for name, kind in (("console.js", "text/javascript"), ("console.css", "text/css"),
                           ("texts.json", "application/json")):
            served = await client.get(f"/console/static/{name}")
            assert served.headers["content-type"].startswith(kind), name
            assert "content-security-policy" in served.headers
        assert (await client.get("/console/static/router.py")).status_code == 404
        assert (await client.get("/console/static/..%2Frouter.py")).status_code == 404
        everything = page.text + "".join([(await client.get(f"/console/static/{n}")).text
                                          for n in ("console.js", "console.css")])
        assert "http://" not in everything and "https://" not in everything and "//" + "cdn" not in everything
        assert "<script>" not in page.text and "style=" not in page.text  # nothing inline the policy would block
        assert not re.search(r"\son\w+=", page.text)
        texts = (await client.get("/console/static/texts.json")).json()
        assert set(re.findall(r'data-(?:text|aria-label)="(\w+)"', page.text)) <= set(texts)


# -------------------------------------------------------------- the queue, a chat


async def test_the_queue_shows_only_the_label(console, clients):
    await console.add("Anna", "anna")
    handoff_id = await console.her_request(language="sq", channel="telegram", reason=Reason.SELF_HARM)
    client = await clients("anna")
    queue = (await client.get("/console/api/queue")).json()
    assert [(w["handoff_id"], w["label"], w["channel"], w["language"], w["reason"], w["position"])
            for w in queue] == [(handoff_id, label_of(HER), "telegram", "sq", "self_harm", 1)]
    assert queue[0]["waited_seconds"] >= 0
    await post(client, "take", handoff_id=handoff_id)
    paths = ("queue", "chats", f"chats/{handoff_id}/lines", "me")
    seen = "".join([(await client.get(f"/console/api/{path}")).text for path in paths])
    assert TELEGRAM_USER_ID not in seen
    assert HER not in seen  # her whole pseudonym neither: the label is all the console has


async def test_take_reply_note_end(console, clients):
    anna = await console.add("Anna", "anna")
    bora = await console.add("Bora", "bora")
    handoff_id = await console.her_request(language="sq")
    client, other = await clients("anna"), await clients("bora")

    assert (await post(client, "take", handoff_id=handoff_id)).json() == {"status": "taken",
                                                                          "window_left_seconds": None}
    assert (await post(other, "take", handoff_id=handoff_id)).json() == {"status": "already_taken"}
    assert (await client.get("/console/api/queue")).json() == []
    chats = (await client.get("/console/api/chats")).json()
    assert [(c["handoff_id"], c["label"], c["counsellor"], c["mine"]) for c in chats] == [
        (handoff_id, label_of(HER), "Anna", True)]
    assert (await other.get("/console/api/chats")).json() == []
    assert console.her.texts()[-1] == console.told("utter_handoff_joined", "sq", counsellor="Anna")

    assert (await post(client, "reply", handoff_id=handoff_id, text="I am here. Are you safe now?")).json() == {
        "ok": True}
    assert console.her.texts()[-1] == "I am here. Are you safe now?"
    assert await console.she_says("Yes, for now")
    assert (await post(client, "note", handoff_id=handoff_id, text="Mentions a neighbour")).json() == {"ok": True}
    assert "Mentions a neighbour" not in console.her.texts()  # a note is never sent to her

    lines = (await client.get(f"/console/api/chats/{handoff_id}/lines")).json()
    assert [(line["author"], line["text"], line["counsellor"]) for line in lines] == [
        *((author, text, None) for author, text in HISTORY),  # the assistant's part before the handoff
        ("counsellor", "I am here. Are you safe now?", "Anna"),
        ("her", "Yes, for now", None),
        ("note", "Mentions a neighbour", "Anna"),
    ]
    later = (await client.get(f"/console/api/chats/{handoff_id}/lines", params={"after": lines[2]["id"]})).json()
    assert [line["text"] for line in later] == ["Yes, for now", "Mentions a neighbour"]

    assert (await post(other, "end", handoff_id=handoff_id)).status_code == 409
    assert (await post(client, "end", handoff_id=handoff_id)).json() == {"ok": True}
    assert console.her.texts()[-1] == console.told("utter_handoff_closing", "sq")
    assert (await client.get("/console/api/chats")).json() == []
    refused = await post(client, "reply", handoff_id=handoff_id, text="still there?")
    assert (refused.status_code, refused.json()) == (409, {"detail": "not_yours"})
    assert (await client.get(f"/console/api/chats/{handoff_id}/lines")).status_code == 200  # she handled it

    assert console.actions(anna.id) == ["login", "assigned", "take", "reply", "note", "view", "end", "view"]
    assert console.actions(bora.id) == ["login"]
    assert {row.handoff_id for row in console.audit() if row.action != "login"} == {handoff_id}


async def test_a_reply_that_could_not_reach_her_is_said_not_delivered(console, clients, monkeypatch):
    await console.add("Anna", "anna")
    handoff_id = await console.her_request()
    client = await clients("anna")
    await post(client, "take", handoff_id=handoff_id)

    async def unreachable(counsellor_id: int, handoff_id: str, text: str) -> ReplyStatus:
        return ReplyStatus.UNREACHABLE  # her address is gone: the chat is still Anna's

    monkeypatch.setattr(console.service, "reply", unreachable)
    response = await post(client, "reply", handoff_id=handoff_id, text="Are you safe?")
    assert (response.status_code, response.json()) == (409, {"detail": "not_delivered"})
    script = (await client.get("/console/static/texts.json")).json()
    assert script["not_delivered"].startswith("Your message was not delivered")


async def test_a_whatsapp_chat_taken_after_her_24_hours_refuses_the_reply_and_says_why(console, clients):
    """She left a message on WhatsApp; Anna takes it 25 hours after she wrote: the take says the
    window has closed, the reply is refused (nothing goes to her, nothing is kept as said) until
    she writes again. Another woman, taken 23 hours after she wrote, can be answered."""
    await console.add("Anna", "anna")
    late, early = (pseudonym(PEPPER.encode(), "whatsapp", phone) for phone in (LATE_PHONE, EARLY_PHONE))
    console.her.she_wrote(late, time.time() - 25 * 3600)
    console.her.she_wrote(early, time.time() - 23 * 3600)
    late_id = await console.her_request(late, channel="whatsapp")
    early_id = await console.her_request(early, channel="whatsapp")
    client = await clients("anna")
    answers = []

    answers.append(await post(client, "take", handoff_id=late_id))
    assert answers[-1].json() == {"status": "taken", "window_left_seconds": 0}
    answers.append(await post(client, "reply", handoff_id=late_id, text="Are you safe?"))
    assert (answers[-1].status_code, answers[-1].json()) == (409, {"detail": "window_closed"})
    assert "Are you safe?" not in console.her.texts(late)
    answers.append(await client.get(f"/console/api/chats/{late_id}/lines"))
    assert [line for line in answers[-1].json() if line["author"] == "counsellor"] == []

    answers.append(await post(client, "take", handoff_id=early_id))
    assert 3600 - 70 < answers[-1].json()["window_left_seconds"] <= 3600 - WINDOW_MARGIN_SECONDS
    answers.append(await post(client, "reply", handoff_id=early_id, text="I am here for you"))
    assert answers[-1].json() == {"ok": True} and console.her.texts(early)[-1] == "I am here for you"

    console.her.she_wrote(late, time.time())  # she writes again: her window opens
    answers.append(await post(client, "reply", handoff_id=late_id, text="Are you safe?"))
    assert answers[-1].json() == {"ok": True} and console.her.texts(late)[-1] == "Are you safe?"

    script = (await client.get("/console/static/texts.json")).json()
    for key in ("window_closed", "window_over"):
        assert "WhatsApp allows answers only until 24 hours after her last message" in script[key]
        assert script[key].endswith("You can answer her when she writes again.")
    assert script["window_left"].endswith("{left} left.")
    for answer in answers:  # her number never reaches the console
        assert LATE_PHONE not in answer.text and EARLY_PHONE not in answer.text


async def test_a_counsellor_cannot_read_a_chat_they_never_handled(console, clients):
    await console.add("Anna", "anna")
    bora = await console.add("Bora", "bora")
    await console.add("Cleo", "cleo", role=Role.ADMIN)
    handoff_id = await console.her_request()
    waiting = await clients("bora")
    refused = await waiting.get(f"/console/api/chats/{handoff_id}/lines")  # in the queue: not yet
    assert (refused.status_code, refused.json()) == (403, {"detail": "not_allowed"})

    client = await clients("anna")
    await post(client, "take", handoff_id=handoff_id)
    await post(client, "reply", handoff_id=handoff_id, text="Hello")
    assert (await waiting.get(f"/console/api/chats/{handoff_id}/lines")).status_code == 403
    for action, body in (("reply", {"text": "hi"}), ("note", {"text": "x"}), ("end", {}),
                         ("transfer", {"to": None}), ("block", {"reason": "abuse", "days": 3})):
        assert (await post(waiting, action, handoff_id=handoff_id, **body)).status_code == 409, action
    assert (await waiting.get("/console/api/chats")).json() == []
    assert console.actions(bora.id) == ["login", "view_refused", "view_refused"]

    admin = await clients("cleo")
    assert [line["text"] for line in (await admin.get(f"/console/api/chats/{handoff_id}/lines")).json()][-1] == "Hello"
    everyone = (await admin.get("/console/api/chats")).json()
    assert [(c["handoff_id"], c["counsellor"], c["mine"]) for c in everyone] == [(handoff_id, "Anna", False)]
    assert (await post(admin, "note", handoff_id=handoff_id, text="Seen by the administrator")).status_code == 200
    assert (await post(admin, "reply", handoff_id=handoff_id, text="hi")).status_code == 409  # Anna's chat


async def test_transfer_to_a_counsellor_then_back_to_the_queue(console, clients):
    anna = await console.add("Anna", "anna")
    bora = await console.add("Bora", "bora")
    handoff_id = await console.her_request()
    client, other = await clients("anna"), await clients("bora")
    await post(client, "take", handoff_id=handoff_id)
    targets = (await client.get("/console/api/counsellors")).json()
    assert targets == [{"id": bora.id, "name": "Bora", "away": False}]

    assert (await post(client, "transfer", handoff_id=handoff_id, to=bora.id)).json() == {"ok": True}
    assert (await client.get("/console/api/chats")).json() == []
    assert [c["handoff_id"] for c in (await other.get("/console/api/chats")).json()] == [handoff_id]
    assert console.her.texts()[-1] == console.told("utter_handoff_joined", "sq", counsellor="Bora")
    assert (await other.get(f"/console/api/chats/{handoff_id}/lines")).status_code == 200

    assert (await post(other, "transfer", handoff_id=handoff_id, to=None)).json() == {"ok": True}
    assert [w["handoff_id"] for w in (await client.get("/console/api/queue")).json()] == [handoff_id]
    assert (await other.get("/console/api/chats")).json() == []
    assert [r.detail for r in console.audit() if r.action == "transfer"] == [f"to {bora.id}", "to the queue"]
    assert "transfer" in console.actions(anna.id) and "transfer" in console.actions(bora.id)


async def test_block_the_sender(console, clients):
    anna = await console.add("Anna", "anna")
    handoff_id = await console.her_request()
    client = await clients("anna")
    await post(client, "take", handoff_id=handoff_id)
    for days in (0, 400):
        assert (await post(client, "block", handoff_id=handoff_id, reason="abuse", days=days)).status_code == 422
    assert (await post(client, "block", handoff_id=handoff_id, reason="", days=3)).status_code == 422
    assert (await post(client, "block", handoff_id=handoff_id, reason="Abusive messages", days=7)).json() == {
        "ok": True}
    assert console.her.texts()[-1] == console.told("utter_handoff_blocked", "sq")
    assert (await client.get("/console/api/chats")).json() == []
    assert [(r.action, r.detail) for r in console.audit() if r.actor_id == anna.id][-1] == ("block", "7 days")

    # Blocked: her next request gets the neutral reply and never reaches the queue.
    await console.service.request(HER, Reason.ASKED, console.deliver(HER), channel="telegram", language="sq")
    assert console.her.texts()[-1] == console.told("utter_handoff_blocked", "sq")
    assert (await client.get("/console/api/queue")).json() == []


async def test_only_an_administrator_reads_the_audit_log(console, clients):
    await console.add("Anna", "anna")
    await console.add("Cleo", "cleo", role=Role.ADMIN)
    handoff_id = await console.her_request()
    client = await clients("anna")
    await post(client, "take", handoff_id=handoff_id)
    assert (await client.get("/console/api/audit")).status_code == 403
    async with client_of(console.app) as stranger:
        await post(stranger, "login", login="anna", password="not-her-password")
    admin = await clients("cleo")
    me = (await admin.get("/console/api/me")).json()
    assert (me["role"], me["admin"]) == ("admin", True)
    log = (await admin.get("/console/api/audit")).json()
    assert [(row["actor"], row["action"]) for row in log][:4] == [
        ("Cleo", "login"), ("Anna", "login_failed"), ("Anna", "take"), ("Anna", "assigned")]
    assert log[2]["chat"] == handoff_id
    assert "not-her-password" not in json.dumps(log)


async def test_away_and_back(console, clients):
    anna = await console.add("Anna", "anna")
    client = await clients("anna")
    assert (await post(client, "away", away=True)).json()["away"] is True
    assert await console.service.is_away(anna.id)
    assert (await client.get("/console/api/me")).json()["away"] is True
    assert (await post(client, "away", away=False)).json()["away"] is False
    assert not await console.service.is_away(anna.id)
    assert console.actions(anna.id) == ["login", "away", "back"]


async def test_canned_replies_in_her_language(console, clients):
    await console.add("Anna", "anna")
    client = await clients("anna")
    canned = (await client.get("/console/api/canned", params={"language": "mk"})).json()
    assert [c["title"] for c in canned] == ["greeting", "safe", "services", "emergency", "goodbye"]
    assert canned[0]["text"] == text_of("utter_canned_greeting", "mk")
    assert (await client.get("/console/api/canned", params={"language": "de"})).status_code == 422


async def test_ids_are_checked_before_they_reach_the_service(console, clients):
    await console.add("Anna", "anna")
    client = await clients("anna")
    assert (await post(client, "take", handoff_id="../../etc")).status_code == 422
    assert (await client.get("/console/api/chats/not-an-id/lines")).status_code == 422
    assert (await post(client, "reply", handoff_id="a" * 32, text="x" * 4001)).status_code == 422


# ------------------------------------------------------------ live updates


def events_of(body: str) -> list[tuple[str, dict | list, str | None]]:
    found = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if "event" in fields:
            found.append((fields["event"], json.loads(fields["data"]), fields.get("id")))
    return found


class Polls:
    """Counts the event streams' polls of the queue, so that a test acts between two of them."""

    def __init__(self, monkeypatch, service) -> None:
        self.count, original = 0, service.waiting

        async def waiting():
            self.count += 1
            return await original()

        monkeypatch.setattr(service, "waiting", waiting)

    async def next(self, polls: int = 1) -> None:
        target = self.count + polls
        async with asyncio.timeout(10):
            while self.count < target:
                await asyncio.sleep(0.01)


async def test_the_event_stream_pushes_the_queue_chats_and_new_lines_until_signed_out(
        console, clients, monkeypatch):
    await console.add("Anna", "anna")
    first = await console.her_request()
    client = await clients("anna")
    await post(client, "take", handoff_id=first)
    after = (await client.get(f"/console/api/chats/{first}/lines")).json()[-1]["id"]
    polls = Polls(monkeypatch, console.service)
    stream = asyncio.create_task(client.get("/console/api/events", params={"chat": first, "after": after}))
    await polls.next()
    await console.she_says("Are you still there?")
    second = await console.her_request(pseudonym(PEPPER.encode(), "viber", "someone else"), channel="viber")
    await polls.next(8)  # her waiting time grows meanwhile (by more than a second)
    await post(client, "logout")
    response = await asyncio.wait_for(stream, 5)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = events_of(response.text)
    names = [name for name, _, _ in events]
    assert names[:3] == ["queue", "chats", "me"] and names[-1] == "signed_out"
    queues = [data for name, data, _ in events if name == "queue"]
    assert queues[0] == [] and [w["handoff_id"] for w in queues[-1]] == [second]
    assert names.count("queue") == 2  # a waiting time that grows is not pushed
    lines = [(data, event_id) for name, data, event_id in events if name == "lines"]
    assert [line["text"] for data, _ in lines for line in data["lines"]] == ["Are you still there?"]
    assert lines[0][1] == str(lines[0][0]["lines"][-1]["id"])  # the id a reconnecting page resumes after


async def test_a_removed_counsellor_is_signed_out_of_an_open_stream_and_of_every_request(
        console, clients, monkeypatch):
    anna = await console.add("Anna", "anna")
    await console.her_request()
    client = await clients("anna")
    polls = Polls(monkeypatch, console.service)
    stream = asyncio.create_task(client.get("/console/api/events"))
    await polls.next()
    await console.service.counsellors.remove(anna.id)  # by an administrator, while her page is open
    events = events_of((await asyncio.wait_for(stream, 5)).text)
    assert [name for name, _, _ in events][-1] == "signed_out"
    assert (await client.get("/console/api/queue")).status_code == 401

    cleo = await console.add("Cleo", "cleo", role=Role.ADMIN)  # on SQLite she may get Anna's old id
    for path in ("me", "queue", "audit", "events"):
        assert (await client.get(f"/console/api/{path}")).status_code == 401, path
    assert (await (await clients("cleo")).get("/console/api/me")).json()["id"] == cleo.id


async def test_the_event_stream_refuses_a_chat_the_viewer_never_handled(console, clients, monkeypatch):
    await console.add("Anna", "anna")
    await console.add("Bora", "bora")
    handoff_id = await console.her_request()
    owner, other = await clients("anna"), await clients("bora")
    await post(owner, "take", handoff_id=handoff_id)
    polls = Polls(monkeypatch, console.service)
    stream = asyncio.create_task(other.get("/console/api/events", params={"chat": handoff_id}))
    await polls.next()
    await console.she_says("This is private")
    await polls.next(2)
    await post(other, "logout")
    body = (await asyncio.wait_for(stream, 5)).text
    assert [name for name, _, _ in events_of(body)] == ["queue", "chats", "me", "refused", "signed_out"]
    assert "This is private" not in body and HISTORY[0][1] not in body
