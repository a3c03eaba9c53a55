"""The failure drill: ``helpline run`` on PostgreSQL and Redis, its parts frozen and killed.

The real runner starts the real Rasa, action server and app. Through
``/api/chat`` she must get 112 first within 5 s whatever breaks behind the app;
"delete my data" must leave nothing of her in Redis; and afterwards no output of
any of the three processes (logged at DEBUG) may hold a message text, the Rasa
token or a raw session id.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
import redis.asyncio as aioredis
import yaml
from sqlalchemy import create_engine, text

from bot.assistant import AssistantClient
from bot.conversations import Conversations
from bot.erasure import Erasure, RasaRedisStores
from bot.gateway.addresses import ReplyAddresses
from bot.gateway.chats import PlatformChats
from bot.gateway.queues import RedisQueues
from bot.gateway.sealing import Sealer
from bot.identity import pseudonym
from bot.live import RedisLiveState
from bot.safety_fallback import SafetyFallback
from bot.settings import PROJECT_ROOT, Settings
from tests.helpers import text_of
from tests.stack import settings_environment, stack_settings
from tests.standins import telegram as tg
from tests.standins.server import Served

pytestmark = pytest.mark.rasa

PROMISED_SECONDS = 5.0
RUN_ID = uuid.uuid4().hex[:8]
CANARY = f"canary{RUN_ID}"  # in every message she writes here
TELEGRAM_CHAT = int("7" + str(int(RUN_ID, 16)).zfill(10)[:10])  # her Telegram id: in no output, no store
STARTUP_TIMEOUT = 300


@dataclass
class Helpline:
    settings: Settings
    runner: subprocess.Popen[bytes]
    output: Path
    redis_url: str
    sessions: list[str]

    def chat(self, text: str, session: str | None = None) -> tuple[float, list[dict]]:
        session = session or self.new_session()
        started = time.monotonic()
        response = httpx.post(
            f"http://127.0.0.1:{self.settings.app_port}/api/chat",
            json={"session": session, "text": text}, timeout=30,
        )
        assert response.status_code == 200, response.status_code
        return time.monotonic() - started, response.json()

    def new_session(self) -> str:
        session = f"session{RUN_ID}{uuid.uuid4().hex}"
        self.sessions.append(session)
        return session

    def fallbacks(self) -> float:
        """How many messages the app has answered itself, from ``/metrics``."""
        text = httpx.get(f"http://127.0.0.1:{self.settings.app_port}/metrics", timeout=10).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("helpline_safety_fallbacks_total"))

    def health(self) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.settings.app_port}/health", timeout=10)

    def pids(self, part: str) -> list[int]:
        """The process of one part (``rasa``, ``actions``) and its own children (Sanic workers)."""
        marker = {"rasa": "bot.rasa_launcher", "actions": "rasa_sdk"}[part]
        for pid in _children(self.runner.pid):
            if marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                return [pid, *_children(pid)]
        raise AssertionError(f"{part} is not running")

    def signal(self, part: str, signum: int) -> None:
        for pid in self.pids(part):
            os.kill(pid, signum)

    def wait_until_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.runner.poll() is not None:
                raise AssertionError("helpline run exited")
            try:
                if self.health().status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise AssertionError(f"not healthy within {timeout} s")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found += [int(child) for child in children]
    return found


@pytest.fixture(scope="module")
def telegram() -> Iterator[tg.TelegramStandIn]:
    standin = tg.TelegramStandIn()
    with Served(standin.app) as served:
        standin.url = served.url
        yield standin


@pytest.fixture(scope="module")
def helpline(tmp_path_factory, module_postgres_url, module_redis_url, telegram) -> Iterator[Helpline]:
    settings = stack_settings(
        database_url=module_postgres_url, redis_url=module_redis_url, log_level="DEBUG",
        telegram_bot_token=tg.TOKEN, telegram_webhook_secret=tg.SECRET, telegram_api_base=telegram.url,
    )
    folder = tmp_path_factory.mktemp("helpline-run")
    output = folder / "output.log"
    env = dict(os.environ) | settings_environment(settings) | {"PYTHONPATH": str(PROJECT_ROOT)}
    with output.open("wb") as sink:
        runner = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"], cwd=PROJECT_ROOT, env=env,
            stdout=sink, stderr=subprocess.STDOUT,
        )
    running = Helpline(settings, runner, output, module_redis_url, [])
    try:
        running.wait_until_healthy(STARTUP_TIMEOUT)
        yield running
    finally:
        runner.send_signal(signal.SIGINT)
        try:
            runner.wait(timeout=30)
        except subprocess.TimeoutExpired:
            runner.kill()


def assert_numbers_first(seconds: float, replies: list[dict]) -> None:
    assert seconds < PROMISED_SECONDS, seconds
    assert replies[0]["text"].splitlines()[0].endswith("112"), replies[0]["text"]


def test_the_normal_path_answers(helpline):
    seconds, replies = helpline.chat(f"hello, my name is {CANARY}, I need a free lawyer in Nis")
    assert replies and all(r["text"] or r["buttons"] for r in replies)


def test_delete_my_data_leaves_nothing_of_her_in_redis(helpline):
    session = helpline.new_session()
    secret = f"erased{CANARY}"
    helpline.chat(f"my husband {secret} follows me, I need a shelter in Tirana", session)
    helpline.chat("delete my data", session)
    _, replies = helpline.chat("/delete_my_data", session)  # the "Yes, erase it" button
    assert replies[0]["text"].startswith("Done")
    sender = pseudonym(helpline.settings.pseudonym_pepper.get_secret_value().encode(), "web", session)
    client = redis.Redis.from_url(helpline.redis_url)
    holding = []
    for key in client.scan_iter("*"):
        content = key + _dump(client, key)
        if secret.encode() in content or sender.encode() in content:
            holding.append(key)
    assert holding == []


def test_a_telegram_chat_erased_is_gone_from_her_phone_and_from_redis(helpline, telegram):
    """Her words through the platform path: queued, answered, erased, deleted on the platform."""

    def post(update: dict) -> None:
        response = httpx.post(f"http://127.0.0.1:{helpline.settings.app_port}/webhooks/telegram",
                              content=json.dumps(update).encode(), headers=tg.webhook_headers(), timeout=10)
        assert response.status_code == 200

    def sent() -> list[tg.ApiCall]:
        return [c for c in telegram.calls("sendMessage") if int(c.params["chat_id"]) == TELEGRAM_CHAT]

    def settled() -> int:
        """How many replies she has once none came for two seconds."""
        count, since = len(sent()), time.monotonic()
        while time.monotonic() - since < 2:
            time.sleep(0.05)
            if len(sent()) != count:
                count, since = len(sent()), time.monotonic()
        return count

    words = f"telegram{CANARY}"
    post(tg.text_update(1, TELEGRAM_CHAT, f"hello {words}, I need a shelter in Tirana", message_id=11))
    telegram.recorder.wait_for(lambda calls: len(sent()) >= 1, timeout=30)
    before = settled()
    post(tg.text_update(2, TELEGRAM_CHAT, "delete my data", message_id=12))
    telegram.recorder.wait_for(lambda calls: len(sent()) > before, timeout=30)
    question = sent()[before]
    assert question.params["text"] == text_of("utter_confirm_delete", "en")
    erase_button = question.params["reply_markup"]["inline_keyboard"][0][0]  # "Yes, erase it"
    answered_before = settled()
    post(tg.callback_update(3, TELEGRAM_CHAT, erase_button["callback_data"], message_id=1001))
    telegram.recorder.wait_for(lambda calls: len(sent()) > answered_before, timeout=30)
    assert sent()[-1].params["text"].startswith("Done")
    deleted = {int(i) for c in telegram.calls("deleteMessages") for i in c.params["message_ids"]}
    assert {11, 12} <= deleted  # hers
    assert any(i >= 1001 for i in deleted)  # and the bot's (the stand-in numbers them from 1001)
    sender = pseudonym(helpline.settings.pseudonym_pepper.get_secret_value().encode(), "telegram",
                       str(TELEGRAM_CHAT))
    client = redis.Redis.from_url(helpline.redis_url)
    holding = [key for key in client.scan_iter("*")
               if any(mark in key + _dump(client, key) for mark in
                      (words.encode(), sender.encode(), str(TELEGRAM_CHAT).encode()))]
    assert holding == []


def _dump(client: redis.Redis, key: bytes) -> bytes:
    kind = client.type(key)
    if kind == b"string":
        return client.get(key) or b""
    if kind == b"list":
        return b"".join(client.lrange(key, 0, -1))
    if kind == b"zset":
        return b"".join(client.zrange(key, 0, -1))
    if kind == b"hash":
        return b"".join(k + v for k, v in client.hgetall(key).items())
    if kind == b"set":
        return b"".join(client.smembers(key))
    raise AssertionError(f"unexpected key type {kind!r}")


def test_rasa_frozen_she_gets_112_within_5_seconds(helpline):
    helpline.signal("rasa", signal.SIGSTOP)
    try:
        assert_numbers_first(*helpline.chat(f"{CANARY} help, he is beating me right now"))
        assert "assistant" in helpline.health().json()["failing"]
    finally:
        helpline.signal("rasa", signal.SIGCONT)
    helpline.wait_until_healthy(60)


def test_action_server_frozen_she_gets_112_within_5_seconds(helpline):
    helpline.signal("actions", signal.SIGSTOP)
    try:
        assert_numbers_first(*helpline.chat(f"{CANARY} he has a knife and says he will kill me"))
    finally:
        helpline.signal("actions", signal.SIGCONT)
    helpline.wait_until_healthy(60)


def test_action_server_killed_she_gets_112_and_it_comes_back(helpline):
    helpline.signal("actions", signal.SIGKILL)
    time.sleep(0.2)
    assert_numbers_first(*helpline.chat(f"{CANARY} he locked me in and is choking me"))
    assert "action_server" in helpline.health().json()["failing"]
    helpline.wait_until_healthy(60)  # the runner restarted it
    _, replies = helpline.chat(f"{CANARY} he is hitting me right now")
    assert replies[0]["text"].splitlines()[0].endswith("112")


HOSTILE_VALUES = [
    f"x{CANARY}", (CANARY * 800)[:10_000], {"nested": [CANARY]}, [CANARY, 1], 42, None, True,
]


def shortcuts() -> list[str]:
    """Every intent of the domain as a ``/intent{...}`` shortcut with hostile entity values."""
    intents = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))["intents"]
    found = []
    for number, intent in enumerate(intents):
        value = HOSTILE_VALUES[number % len(HOSTILE_VALUES)]
        entities = {"service_category": value, "location": value, "language": value}
        if isinstance(value, str) and len(value) > 1000:  # 10 kB in one entity: within the 16 kB limit
            entities = {"location": value}
        found.append(f"/{intent}{json.dumps(entities)}")
    return found + ["/no_such_intent", '/seek_legal_aid{"service_category": ', "/" + CANARY]


def test_every_intent_as_a_hostile_shortcut_gets_a_reply_from_the_assistant(helpline):
    before = helpline.fallbacks()
    for shortcut in shortcuts():
        session = helpline.new_session()
        for text in (shortcut, "Niš"):
            _, replies = helpline.chat(text, session)
            assert any(r["text"] for r in replies), (shortcut[:80], text, replies)
    assert helpline.fallbacks() == before  # answered by the assistant, not by the app's fallback


def test_a_failing_action_call_logs_nothing_of_it(helpline):
    """A request the action server cannot handle: its error is logged, its content is not."""
    response = httpx.post(helpline.settings.action_server_url, timeout=10, json={
        "next_action": "action_find_services", "sender_id": f"web-{CANARY}",
        "tracker": {"sender_id": f"web-{CANARY}", "latest_message": {"text": CANARY}, "slots": CANARY},
        "domain": {"responses": CANARY}, "version": "3.6.21",
    })
    assert response.status_code >= 400


async def test_the_retention_sweep_erases_every_conversation_from_redis(helpline):
    """The app's own sweep path (bot.conversations) over what the real Rasa wrote in Redis."""
    live = RedisLiveState.from_url(helpline.redis_url)
    rasa_redis = RasaRedisStores.from_url(helpline.redis_url, 3600)
    erasure = Erasure([rasa_redis])
    sealer = Sealer.from_settings(helpline.settings)
    addresses = ReplyAddresses(live, sealer, 3600)
    erasure.register(PlatformChats(addresses, {}, RedisQueues(aioredis.Redis.from_url(helpline.redis_url), "outbox")))
    conversations = Conversations(
        AssistantClient(helpline.settings.rasa_url, None, 5), live, erasure,
        SafetyFallback.load(helpline.settings), retention_seconds=3600, first_reply_deadline=4,
        sealer=sealer,
    )
    erasure.register(conversations.store)
    client = redis.Redis.from_url(helpline.redis_url)
    assert any(b":tracker:" in key for key in client.scan_iter("*"))
    while await conversations.erase_expired(now=time.time() + 7200):
        pass
    leftovers = [key for key in client.scan_iter("*") if CANARY.encode() in key + _dump(client, key)]
    assert leftovers == [] and not any(b":tracker:" in key for key in client.scan_iter("*"))
    await live.close()
    await rasa_redis.close()


def test_no_table_holds_her_words_or_a_session(helpline):
    """The directory database (need events, audit, services) after every drill above."""
    engine = create_engine(helpline.settings.database_url)
    with engine.connect() as connection:
        tables = connection.execute(text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )).scalars().all()
        dump = "".join(
            str(row) for table in tables for row in connection.execute(text(f'SELECT * FROM "{table}"'))
        )
    engine.dispose()
    assert "directory_need_events" in tables and dump
    assert CANARY not in dump and not any(session in dump for session in helpline.sessions)


def test_no_output_holds_her_words_the_token_or_a_session(helpline):
    """Last: everything the three processes printed during the drills above."""
    output = helpline.output.read_bytes()
    assert CANARY.encode() not in output
    assert helpline.settings.rasa_token.get_secret_value().encode() not in output
    for session in helpline.sessions:
        assert session.encode() not in output
    assert str(TELEGRAM_CHAT).encode() not in output
    assert b"uvicorn.error" in output and b"rasa" in output  # every process's output was captured
