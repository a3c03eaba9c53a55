"""The whole handoff loop through the running app, on real PostgreSQL and Redis, for every channel.

She writes through a platform webhook (really signed, real format) or the web chat's socket;
the request is posted to the counsellors' group at the local Telegram API stand-in (her bot
and the counsellors' bot share it, as they share ``TELEGRAM_API_BASE``); a registered
counsellor presses Take and writes as real-format Telegram updates to
``POST /webhooks/counsellor``; they talk both ways; ``/end`` gives her the closing message and
the assistant answers her again. Then nothing of her (her canary, her platform id) is in the
app's log, in Redis or in a table but the sealed transcript; and a stranger on the
counsellor bot reads nothing. Two app instances sharing the stores: two counsellors pressing
Take at the same moment on two instances, one gets it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis
import yaml
from sqlalchemy import inspect, text
from websockets.sync.client import connect

from bot.db import make_engine
from bot.directives import HANDOFF_DIRECTIVE
from bot.directory.migrate import upgrade
from bot.handoff.counsellors import CounsellorDirectory
from bot.log_safety import LOGGING_CONFIG, WithholdContent
from bot.handoff.telegram_texts import REFUSAL
from tests.gateway_harness import RunningApp, running_app
from tests.standins import telegram as tg
from tests.standins import viber as vb
from tests.standins import whatsapp as wa
from tests.standins.rasa import RasaStandIn, echo
from tests.standins.server import Served

COUNSELLOR_TOKEN = "987654321:AAF-counsellor-stand-in-token_0123456"
COUNSELLOR_SECRET = "counsellor-webhook-secret_0123456789"
GROUP = -1009876543210
MIRA, LENA, STRANGER = 5001, 5002, 6666
CANARY = "canary-2c9d she wrote this"
ASK = "I want to talk to a person"


def assistant(sender: str, message: str) -> list[dict[str, Any]]:
    """The Rasa stand-in: asking for a person sends the handoff directive (as
    ``action_request_human`` does), anything else is echoed."""
    if message == ASK:
        return [{"recipient_id": sender, "custom": {HANDOFF_DIRECTIVE: {"reason": "asked"}}}]
    return echo(sender, message)


def wait(found: Callable[[], list[Any]], count: int, timeout: float = 15.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    while len(items := found()) < count:
        assert time.monotonic() < deadline, f"{len(items)} of {count}: {items}"
        time.sleep(0.02)
    return items


@dataclass
class Stack:
    app: RunningApp
    telegram: tg.TelegramStandIn
    viber: vb.ViberStandIn
    graph: wa.GraphStandIn
    rasa: RasaStandIn
    database_url: str
    redis_url: str
    log: list[str]


@pytest.fixture(scope="module")
def stack(module_postgres_url, module_redis_url) -> Iterator[Stack]:
    telegram = tg.TelegramStandIn(also=(COUNSELLOR_TOKEN,))
    viber, graph, rasa = vb.ViberStandIn(), wa.GraphStandIn(), RasaStandIn(assistant)
    upgrade(module_postgres_url)
    records = LogRecords()
    with ExitStack() as stack:
        t, v, g, r = (stack.enter_context(Served(s.app)) for s in (telegram, viber, graph, rasa))
        app = stack.enter_context(running_app(
            r.url, database_url=module_postgres_url, redis_url=module_redis_url, log_level="DEBUG",
            telegram_bot_token=tg.TOKEN, telegram_webhook_secret=tg.SECRET, telegram_api_base=t.url,
            viber_auth_token=vb.TOKEN, viber_api_base=v.url,
            whatsapp_access_token=wa.ACCESS_TOKEN, whatsapp_app_secret=wa.APP_SECRET,
            whatsapp_verify_token=wa.VERIFY_TOKEN, whatsapp_phone_number_id=wa.PHONE_NUMBER_ID,
            whatsapp_api_base=graph.base(g.url),
            counsellor_bot_token=COUNSELLOR_TOKEN, counsellor_webhook_secret=COUNSELLOR_SECRET,
            counsellor_group_chat_id=GROUP,
        ))
        logging.getLogger().addHandler(records)  # after the app configured its logging
        register(module_postgres_url)
        yield Stack(app, telegram, viber, graph, rasa, module_postgres_url, module_redis_url, records.lines)
    logging.getLogger().removeHandler(records)


class LogRecords(logging.Handler):
    """Every line the app writes to its log (``bot/logging.yml``: what is withheld is withheld)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        config = yaml.safe_load(LOGGING_CONFIG.read_text(encoding="utf-8"))
        self.addFilter(WithholdContent(config["filters"]["withhold"]["allow"]))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def register(database_url: str) -> None:
    """Mira and Lena, as ``helpline counsellors add`` registers them."""
    engine = make_engine(database_url)
    directory = CounsellorDirectory(engine)
    for user, name in ((MIRA, "Mira"), (LENA, "Lena")):
        asyncio.run(directory.add(name, telegram_user_id=user))
    engine.dispose()


UPDATE_IDS = itertools.count(1)


class Counsellors:
    """The counsellors' side: their bot's calls at the stand-in, their updates to the app."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def post(self, update: dict[str, Any]) -> httpx.Response:
        return self.stack.app.post("/webhooks/counsellor", json.dumps(update).encode(),
                                   tg.webhook_headers(COUNSELLOR_SECRET))

    def calls(self, method: str = "sendMessage", **params: Any) -> list[tg.ApiCall]:
        return self.stack.telegram.calls(method, COUNSELLOR_TOKEN, **params)

    def to(self, chat: int) -> list[str]:
        return [c.params["text"] for c in self.calls() if int(c.params["chat_id"]) == chat]

    def take_button(self, count: int) -> tuple[str, int]:
        """The Take button of the ``count``-th request posted to the group, and its post's id."""
        posts = wait(lambda: [c for c in self.calls() if int(c.params["chat_id"]) == GROUP], count)
        buttons = posts[count - 1].params["reply_markup"]["inline_keyboard"]
        return buttons[0][0]["callback_data"], count

    def press(self, user: int, data: str, in_group: bool = True) -> None:
        update = tg.callback_update(next(UPDATE_IDS), user, data, query_id=f"q{next(UPDATE_IDS)}",
                                    chat=tg.group_chat(GROUP) if in_group else None)
        assert self.post(update).status_code == 200

    def write(self, user: int, words: str) -> None:
        """A message in the bot's private chat; a command carries its entity, as Telegram sends it."""
        command = words.split()[0] if words.startswith("/") else ""
        entities = [{"offset": 0, "length": len(command), "type": "bot_command"}] if command else []
        update = tg.text_update(next(UPDATE_IDS), user, words, **({"entities": entities} if entities else {}))
        assert self.post(update).status_code == 200


class Her:
    """One woman on one channel: what she sends, what she has been sent."""

    def __init__(self, stack: Stack, channel: str, number: int) -> None:
        self.stack, self.channel = stack, channel
        self.telegram_chat = 7_319_846_200 + number
        self.viber_user = f"viber-her-{number}="
        self.phone = f"38970{number:06d}"
        self.session = f"web-session-{number:08d}-tab"
        self.platform_id = {"telegram": str(self.telegram_chat), "viber": self.viber_user,
                            "whatsapp": self.phone, "web": self.session}[channel]
        self._socket = None
        self._frames: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        if channel == "web":
            url = stack.app.url.replace("http://", "ws://") + "/api/chat/socket"
            self._socket = connect(url)
            self._socket.send(json.dumps({"type": "hello", "session": self.session}))
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for raw in self._socket:
                self._frames.append(json.loads(raw))
        except Exception:  # noqa: BLE001 - closed at the end
            return

    def says(self, words: str) -> None:
        app, number = self.stack.app, next(self._ids)
        if self.channel == "telegram":
            update = tg.text_update(next(UPDATE_IDS), self.telegram_chat, words, message_id=number)
            assert app.post("/webhooks/telegram", json.dumps(update).encode(), tg.webhook_headers()).status_code == 200
        elif self.channel == "viber":
            body, headers = vb.signed(vb.text(words, user_id=self.viber_user))
            assert app.post("/webhooks/viber", body, headers).status_code == 200
        elif self.channel == "whatsapp":
            body = wa.encode(wa.update(wa.text(words, sender=self.phone)))
            assert app.post("/webhooks/whatsapp", body, wa.signed_headers(body)).status_code == 200
        else:
            self._socket.send(json.dumps({"type": "message", "id": f"m{number}", "text": words}))

    def presses(self, payload: str) -> None:
        if self.channel == "telegram":
            update = tg.callback_update(next(UPDATE_IDS), self.telegram_chat, payload, query_id=f"h{next(UPDATE_IDS)}")
            assert self.stack.app.post("/webhooks/telegram", json.dumps(update).encode(),
                                       tg.webhook_headers()).status_code == 200
        elif self.channel == "whatsapp":
            body = wa.encode(wa.update(wa.button_reply(payload, "Yes", sender=self.phone)))
            assert self.stack.app.post("/webhooks/whatsapp", body, wa.signed_headers(body)).status_code == 200
        else:  # Viber sends a button's ActionBody as her message; the web chat its payload
            self.says(payload)

    def received(self) -> list[str]:
        if self.channel == "telegram":
            return [c.params["text"] for c in self.stack.telegram.calls("sendMessage", tg.TOKEN)
                    if int(c.params["chat_id"]) == self.telegram_chat]
        if self.channel == "viber":
            return [b["text"] for b in self.stack.viber.sent() if b.get("receiver") == self.viber_user]
        if self.channel == "whatsapp":
            return [b["text"]["body"] if b["type"] == "text" else b["interactive"]["body"]["text"]
                    for b in self.stack.graph.sent() if b.get("to") == self.phone]
        return [f["text"] for f in list(self._frames) if f.get("type") == "reply"]

    def waits_for(self, words: str, timeout: float = 15.0) -> None:
        wait(lambda: [t for t in self.received() if words in t], 1, timeout)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()


def said(name: str, **values: Any) -> str:
    from bot.safety_fallback import SafetyFallback
    from bot.settings import Settings

    fallback = SafetyFallback.load(Settings())
    numbers = fallback.numbers.numbers_for(None, "en", self_harm=False)
    if name == "utter_handoff_consent":
        values.setdefault("transcript_period", "30 days")
    return fallback.say(name, "en", numbers=numbers, **values).text


@pytest.mark.parametrize("channel", ["telegram", "viber", "whatsapp", "web"])
def test_a_counsellor_takes_her_chat_they_talk_and_end_returns_her_to_the_assistant(stack, channel):
    number = ["telegram", "viber", "whatsapp", "web"].index(channel) + 1
    her, counsellors = Her(stack, channel, number), Counsellors(stack)
    try:
        her.says(ASK)
        her.waits_for(said("utter_handoff_consent"))
        her.presses("/handoff_yes")
        her.waits_for("A counsellor will join this chat.")
        take, _ = counsellors.take_button(number)
        post = [c for c in counsellors.calls() if int(c.params["chat_id"]) == GROUP][number - 1]
        assert channel in post.params["text"] and her.platform_id not in post.params["text"]

        counsellors.press(MIRA, take)
        her.waits_for(said("utter_handoff_joined", counsellor="Mira"))
        wait(lambda: counsellors.calls("editMessageText"), number)  # the group post says it was taken
        started = time.monotonic()
        her.says(CANARY)
        wait(lambda: [t for t in counsellors.to(MIRA) if CANARY in t], 1)
        her_to_counsellor = time.monotonic() - started
        started = time.monotonic()
        counsellors.write(MIRA, f"Hello, I am Mira ({channel})")
        her.waits_for(f"Hello, I am Mira ({channel})")
        counsellor_to_her = time.monotonic() - started
        assert her_to_counsellor < 1.0 and counsellor_to_her < 1.0, (her_to_counsellor, counsellor_to_her)
        assert not [t for s in stack.rasa.senders for t in stack.rasa.texts_of(s) if CANARY in t]

        counsellors.write(MIRA, "/end")
        her.waits_for(said("utter_handoff_closing"))
        her.presses("/handoff_feedback_yes")
        her.waits_for(said("utter_handoff_thanks"))
        her.says("hello assistant")
        her.waits_for("echo: hello assistant")
        assert any(event == "pause" for _, event in stack.rasa.events)
        assert any(event == "resume" for _, event in stack.rasa.events)

        counsellors.write(STRANGER, "/queue")
        counsellors.press(STRANGER, take)
        wait(lambda: counsellors.to(STRANGER), 1)
        assert set(counsellors.to(STRANGER)) == {REFUSAL}
    finally:
        her.close()
    assert_nothing_of_her(stack, her)


def assert_nothing_of_her(stack: Stack, her: Her) -> None:
    """Her canary and her platform id: not in a log line, a Redis key or value, nor any table
    (the transcript is sealed)."""
    assert stack.log, "the app's log was not captured"
    for line in stack.log:
        assert CANARY not in line and her.platform_id not in line, line
    client = redis.Redis.from_url(stack.redis_url)
    assert client.keys("helpline:handoff:*"), "nothing of the handoff in Redis: the scan would prove nothing"
    for key in client.keys("*"):
        assert her.platform_id.encode() not in key
        dumped = client.dump(key) or b""
        assert CANARY.encode() not in dumped and her.platform_id.encode() not in dumped, key
    client.close()
    engine = make_engine(stack.database_url)
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                assert CANARY not in str(row) and her.platform_id not in str(row), table
    engine.dispose()


def test_two_counsellors_pressing_take_on_two_instances_at_once_one_gets_it_and_a_stopped_instance_loses_nothing(
    stack,
):
    """A second instance on the same PostgreSQL and Redis: the same chat's Take pressed by Mira on
    one and by Lena on the other at the same moment; the chat goes on through the first when the
    second stops."""
    her, counsellors = Her(stack, "telegram", 11), Counsellors(stack)
    settings = stack.app.settings
    with running_app(settings.rasa_url, **{name: getattr(settings, name) for name in SHARED}) as second:
        other = Counsellors(Stack(second, *[getattr(stack, f) for f in FIELDS]))
        her.says(ASK)
        her.waits_for(said("utter_handoff_consent"))
        her.presses("/handoff_yes")
        her.waits_for("A counsellor will join this chat.")
        posts = wait(lambda: [c for c in counsellors.calls() if int(c.params["chat_id"]) == GROUP
                              and label_in(c, her)], 1)
        take = posts[-1].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        presses = [threading.Thread(target=counsellors.press, args=(MIRA, take)),
                   threading.Thread(target=other.press, args=(LENA, take))]
        for press in presses:
            press.start()
        for press in presses:
            press.join()
        her.waits_for("has joined this chat")
        time.sleep(1.0)
        joined = [t for t in her.received() if "has joined this chat" in t]
        assert len(joined) == 1, joined
        holder = MIRA if "Mira" in joined[0] else LENA
        # Her words and the counsellor's, through either instance: each once, in order.
        apps = (stack.app, second)
        for number in range(10):
            her.stack = Stack(apps[number % 2], *[getattr(stack, f) for f in FIELDS])
            her.says(f"hers {number}")
        mine = wait(lambda: [t for t in counsellors.to(holder) if "hers " in t], 10)
        assert [t.split("hers ")[1] for t in mine] == [str(n) for n in range(10)]
        for number in range(10):
            (counsellors if number % 2 else other).write(holder, f"theirs {number}")
        got = wait(lambda: [t for t in her.received() if t.startswith("theirs ")], 10)
        assert got == [f"theirs {n}" for n in range(10)]
        time.sleep(0.5)
        assert len([t for t in counsellors.to(holder) if "hers " in t]) == 10
        assert len([t for t in her.received() if t.startswith("theirs ")]) == 10
        her.stack = stack
    # The second instance is gone: the chat goes on through the first.
    her.says(CANARY + " after the stop")
    wait(lambda: [t for t in counsellors.to(holder) if CANARY + " after the stop" in t], 1)
    counsellors.write(holder, "Still here")
    her.waits_for("Still here")
    counsellors.write(holder, "/end")
    her.waits_for(said("utter_handoff_closing"))


FIELDS = ("telegram", "viber", "graph", "rasa", "database_url", "redis_url", "log")  # a Stack but its app
SHARED = ("database_url", "redis_url", "pseudonym_pepper", "address_key", "telegram_bot_token",
          "telegram_webhook_secret", "telegram_api_base", "counsellor_bot_token", "counsellor_webhook_secret",
          "counsellor_group_chat_id", "first_reply_deadline_seconds")


def label_in(call: tg.ApiCall, her: Her) -> bool:
    """Whether a group post is her request (its label is the start of her pseudonym's digest)."""
    from bot.handoff.service import label_of
    from bot.identity import pseudonym
    from tests.gateway_harness import PEPPER

    return label_of(pseudonym(PEPPER.encode(), "telegram", str(her.telegram_chat))) in call.params["text"]


@pytest.mark.parametrize("channel", ["whatsapp", "web"])
def test_a_counsellor_takes_her_chat_from_the_console_and_they_talk(stack, channel):
    """The same loop with the counsellor at the web console of the running app."""
    engine = make_engine(stack.database_url)
    login = f"ana-{channel}"
    asyncio.run(CounsellorDirectory(engine).add(f"Ana {channel}", login=login, password="a long passphrase"))
    engine.dispose()
    her = Her(stack, channel, 20 + ["whatsapp", "web"].index(channel))
    console = httpx.Client(base_url=stack.app.url + "/console/api", headers={"X-Console": "1"}, timeout=10)
    try:
        assert console.post("/login", json={"login": login, "password": "a long passphrase"}).status_code == 200
        her.says(ASK)
        her.waits_for(said("utter_handoff_consent"))
        her.presses("/handoff_yes")
        her.waits_for("A counsellor will join this chat.")
        queue = wait(lambda: [w for w in console.get("/queue").json() if w["channel"] == channel], 1)
        assert her.platform_id not in json.dumps(queue)
        handoff = queue[0]["handoff_id"]
        assert console.post("/take", json={"handoff_id": handoff}).status_code == 200
        her.waits_for(said("utter_handoff_joined", counsellor=f"Ana {channel}"))
        her.says(CANARY)
        wait(lambda: [l for l in console.get(f"/chats/{handoff}/lines").json() if l["text"] == CANARY], 1)
        lines = console.get(f"/chats/{handoff}/lines").json()
        assert lines[0] == {**lines[0], "author": "her", "text": ASK}  # the assistant's part first
        assert console.post("/reply", json={"handoff_id": handoff, "text": "Ana here, on the console"}).status_code == 200
        her.waits_for("Ana here, on the console")
        assert console.post("/end", json={"handoff_id": handoff}).status_code == 200
        her.waits_for(said("utter_handoff_closing"))
        her.says("hello again assistant")
        her.waits_for("echo: hello again assistant")
    finally:
        console.close()
        her.close()
    assert_nothing_of_her(stack, her)
