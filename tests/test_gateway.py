"""The gateway's shared path, on the in-process stores and on real Redis.

Exactly once, in order, nothing lost when the assistant is down, retries and
refusals of the platform, two instances sharing Redis, a worker that dies, and
erasure reaching the platform. The platform is ``tests.doubles.LoopbackChannel``;
the platforms' own modules are tested end to end in ``test_channel_*``.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import redis.asyncio as aioredis
from cryptography.fernet import Fernet

from bot.assistant import AssistantUnavailable, BotMessage
from bot.conversations import Conversations
from bot.db import make_engine
from bot.directives import ERASE_DIRECTIVE
from bot.directory.migrate import upgrade
from bot.erasure import Erasure
from bot.gateway import pipeline
from bot.gateway.addresses import ReplyAddresses
from bot.gateway.chats import PlatformChats
from bot.gateway.pipeline import Gateway
from bot.gateway.queues import RedisQueues
from bot.gateway.sealing import Sealer
from bot.gateway.sql_queues import SqlQueues
from bot.identity import pseudonym
from bot.live import MemoryLiveState, RedisLiveState
from bot.safety_fallback import SafetyFallback
from bot.settings import Settings
from channels.base import Delivery, DeliveryOutcome
from tests.doubles import LoopbackChannel, ScriptedAssistant

PEPPER = b"gateway-unit-pepper-" + b"z" * 20
KEY = Fernet.generate_key()


class EchoAssistant(ScriptedAssistant):
    """Answers each text with ``echo: <text>``; erases on ``erase me``."""

    async def send(self, sender_id: str, text: str) -> list[BotMessage]:
        await super().send(sender_id, text)
        if text == "erase me":
            return [BotMessage(text="erased", custom={ERASE_DIRECTIVE: True})]
        return [BotMessage(text=f"echo: {text}")]


@pytest.fixture(scope="module")
def fallback() -> SafetyFallback:
    return SafetyFallback.load(Settings())


@pytest.fixture(params=["embedded", "redis"])
def stores(request, tmp_path):
    """(live state, inbox, outbox) factories: each call gives one instance's view.

    Embedded: live state in-process, the queues in SQLite (the embedded default)."""
    if request.param == "embedded":
        url = f"sqlite:///{tmp_path / 'helpline.db'}"
        upgrade(url)
        engine = make_engine(url)
        live, inbox, outbox = MemoryLiveState(), SqlQueues(engine, "inbox"), SqlQueues(engine, "outbox")
        yield lambda: (live, inbox, outbox)
        engine.dispose()
        return
    url = request.getfixturevalue("redis_url")

    yield lambda: redis_stores(url)


def redis_stores(url: str):
    """One instance's view of the stores in Redis: live state, inbox, outbox."""
    def client():
        return aioredis.Redis.from_url(url, decode_responses=True)

    return RedisLiveState.from_url(url), RedisQueues(client(), "inbox"), RedisQueues(client(), "outbox")


def build(stores, fallback, assistant, channel, deadline=0.3, retention=3600.0) -> Gateway:
    live, inbox, outbox = stores()
    erasure = Erasure([assistant])
    sealer = Sealer([KEY])
    conversations = Conversations(assistant, live, erasure, fallback, retention, deadline, sealer=sealer)
    erasure.register(conversations.store)
    addresses = ReplyAddresses(live, sealer, retention)
    erasure.register(PlatformChats(addresses, {channel.name: channel}, outbox))
    return Gateway({channel.name: channel}, conversations, fallback, inbox, outbox, addresses,
                   sealer, PEPPER, retention)


def update(user: str, message_id: str, text: str, **extra) -> bytes:
    return json.dumps({"user": user, "id": message_id, "text": text, **extra}).encode()


async def accept(gateway: Gateway, channel: LoopbackChannel, body: bytes) -> int:
    return await gateway.accept(channel, channel.parse(body))


async def until(predicate, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)


async def test_messages_are_answered_once_each_and_in_order(stores, fallback):
    channel, assistant = LoopbackChannel(), EchoAssistant()
    gateway = build(stores, fallback, assistant, channel)
    gateway.start(4)
    try:
        for number in range(10):
            assert await accept(gateway, channel, update("u1", f"m{number}", f"text {number}")) == 1
        assert await accept(gateway, channel, update("u1", "m3", "text 3")) == 0  # a retried delivery
        await until(lambda: len(channel.sent) == 10)
        await asyncio.sleep(0.2)
    finally:
        await gateway.close()
    assert [text for _, text, _ in channel.sent] == [f"echo: text {n}" for n in range(10)]
    assert [text for _, text in assistant.sent] == [f"text {n}" for n in range(10)]


async def test_rasa_down_gives_the_numbers_once_and_answers_when_back(stores, fallback, monkeypatch):
    monkeypatch.setattr(pipeline, "_backoff", lambda attempts: 0.05)
    channel, assistant = LoopbackChannel(), EchoAssistant(up=False)
    gateway = build(stores, fallback, assistant, channel)
    gateway.start(2)
    try:
        await accept(gateway, channel, update("u2", "a", "he is hitting me now"))
        await until(lambda: len(channel.sent) == 1)
        assert "112" in channel.sent[0][1]
        await until(lambda: len(assistant.sent) >= 3)  # retried while down, numbers not sent again
        assert len(channel.sent) == 1
        assistant.up = True
        await until(lambda: len(channel.sent) == 2)
    finally:
        await gateway.close()
    assert channel.sent[1][1] == "echo: he is hitting me now"


async def test_sends_are_retried_as_the_platform_asks_and_stop_when_she_blocked(stores, fallback):
    channel, assistant = LoopbackChannel(), EchoAssistant()
    channel.outcomes = [Delivery(DeliveryOutcome.RETRY, retry_after=0.3), Delivery(DeliveryOutcome.RETRY, retry_after=0.1)]
    gateway = build(stores, fallback, assistant, channel)
    gateway.start(2)
    try:
        started = asyncio.get_running_loop().time()
        await accept(gateway, channel, update("u3", "1", "first"))
        await until(lambda: len(channel.sent) == 1)
        assert asyncio.get_running_loop().time() - started >= 0.4  # retry_after honoured
        channel.outcomes = [Delivery(DeliveryOutcome.GONE, reason="blocked")]
        await accept(gateway, channel, update("u3", "2", "second"))
        await until(lambda: len(assistant.sent) == 2)
        await asyncio.sleep(0.3)
        assert len(channel.sent) == 1  # refused: not sent, and not retried
        await accept(gateway, channel, update("u3", "3", "third"))  # she writes again: allowed again
        await until(lambda: len(channel.sent) == 2)
    finally:
        await gateway.close()
    assert channel.sent[1][1] == "echo: third"


async def test_two_instances_sharing_redis_answer_once_and_in_order(redis_url, fallback):
    def stores():
        return redis_stores(redis_url)

    channel, assistant = LoopbackChannel(), EchoAssistant(delay=0.02)
    # Her 20 messages queue behind each other, and each one's deadline counts from when it was
    # accepted: a deadline well above the whole backlog, so that only order and once are tested.
    first, second = (build(stores, fallback, assistant, channel, deadline=10),
                     build(stores, fallback, assistant, channel, deadline=10))
    first.start(3)
    second.start(3)
    try:
        for number in range(20):
            target = first if number % 2 else second
            for user in ("a", "b", "c"):
                await accept(target, channel, update(user, f"{user}{number}", f"{user} {number}"))
                await accept(first if target is second else second, channel,
                             update(user, f"{user}{number}", f"{user} {number}"))  # the retry hits the other
        await until(lambda: len(channel.sent) == 60, timeout=30)
        await asyncio.sleep(0.3)
    finally:
        await first.close()
        await second.close()
    for user in ("a", "b", "c"):
        assert [t for chat, t, _ in channel.sent if chat == f"chat-{user}"] == [f"echo: {user} {n}" for n in range(20)]


async def test_a_dead_worker_lets_another_take_the_conversation_up(redis_url, fallback, monkeypatch):
    monkeypatch.setattr(pipeline, "LEASE_SECONDS", 0.5)

    def stores():
        return redis_stores(redis_url)

    channel, assistant = LoopbackChannel(), EchoAssistant(delay=5)
    dying = build(stores, fallback, assistant, channel, deadline=10)
    dying.start(1)
    await accept(dying, channel, update("d", "1", "hello"))
    await until(lambda: len(assistant.sent) == 1)
    await dying.close()  # it dies mid-turn: nothing popped
    assistant.delay = 0
    survivor = build(stores, fallback, assistant, channel)
    survivor.start(1)
    try:
        await until(lambda: len(channel.sent) == 1)
    finally:
        await survivor.close()
    assert channel.sent == [("chat-d", "echo: hello", ())]


async def test_closing_stops_the_workers_even_just_after_a_message_was_queued(stores, fallback):
    """A claimer woken by new work in the same moment it is cancelled still stops (with
    Python 3.11's ``asyncio.wait_for`` it went on claiming, and ``close`` waited forever)."""
    channel, assistant = LoopbackChannel(), EchoAssistant()
    gateway = build(stores, fallback, assistant, channel)
    gateway.start(2)
    await asyncio.sleep(0.05)  # every claimer is idle, waiting to be woken
    await accept(gateway, channel, update("c", "1", "hello"))  # wakes them; nothing runs before close
    await asyncio.wait_for(gateway.close(), 5)


class ClaimThatLosesItsCancel:
    """The inbox, its claim ending as redis-py's may on Python 3.11: cancelled just as the
    answer comes, it returns the answer (``asyncio.wait_for``, CPython gh-86296)."""

    def __init__(self, queues) -> None:
        self._queues = queues

    def __getattr__(self, name: str):
        return getattr(self._queues, name)

    async def claim(self, owner: str, lease_seconds: float) -> str | None:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            pass
        return await self._queues.claim(owner, lease_seconds)


async def test_closing_stops_what_a_claim_started_as_it_was_cancelled(stores, fallback):
    """The work on a conversation claimed in the moment of closing is stopped too, not left
    running on closed stores; the message stays queued for the next start."""
    live, inbox, outbox = stores()
    channel, assistant = LoopbackChannel(), EchoAssistant(delay=0.5)
    gateway = build(lambda: (live, ClaimThatLosesItsCancel(inbox), outbox), fallback, assistant, channel)
    before = asyncio.all_tasks()
    gateway.start(2)
    await asyncio.sleep(0.1)
    await accept(gateway, channel, update("c", "1", "hello"))
    await asyncio.sleep(0.01)  # the claimers, woken, are claiming it
    await asyncio.wait_for(gateway.close(), 5)
    running = [task.get_coro().__qualname__ for task in asyncio.all_tasks() - before if not task.done()]
    assert [name for name in running if not name.startswith("Conversations.")] == []  # its slow turns: its close
    assert channel.sent == []


async def test_erasure_deletes_the_chat_on_the_platform_and_keeps_nothing(stores, fallback, redis_url):
    channel, assistant = LoopbackChannel(), EchoAssistant()
    gateway = build(stores, fallback, assistant, channel)
    gateway.start(1)
    try:
        await accept(gateway, channel, update("e", "1", "hello"))
        await until(lambda: len(channel.sent) == 1)
        await accept(gateway, channel, update("e", "2", "erase me"))
        await until(lambda: len(channel.sent) == 2)
    finally:
        await gateway.close()
    assert channel.sent[1][1] == "erased"  # the confirmation still reaches her
    chat, deleted = channel.deleted[0]
    assert chat == "chat-e" and set(deleted) == {"in-1", "out-1001", "in-2"}
    sender = pseudonym(PEPPER, "loopback", "e")
    live, _, _ = stores()
    addresses = ReplyAddresses(live, Sealer([KEY]), 3600)
    assert await addresses.get(sender) is None and await addresses.take_message_ids(sender) == []
    if isinstance(live, RedisLiveState):
        client = aioredis.Redis.from_url(redis_url, decode_responses=True)
        assert [k async for k in client.scan_iter(f"*{sender}*")] == []
        await client.aclose()


async def test_what_is_kept_is_sealed(redis_url, fallback):
    def stores():
        return redis_stores(redis_url)

    channel, assistant = LoopbackChannel(), EchoAssistant(up=False)
    gateway = build(stores, fallback, assistant, channel)  # not started: everything stays queued
    await accept(gateway, channel, update("canary-user-7731", "canary-id-7731", "canary text 7731"))
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    dump = []
    async for key in client.scan_iter("*"):
        kind = await client.type(key)
        value = {"string": client.get, "list": lambda k: client.lrange(k, 0, -1),
                 "zset": lambda k: client.zrange(k, 0, -1), "hash": client.hgetall}[kind](key)
        dump.append(f"{key} {await value}")
    await client.aclose()
    await gateway.close()
    assert dump and not any("7731" in line for line in dump)


async def test_what_is_not_text_gets_the_text_only_reply(stores, fallback):
    channel, assistant = LoopbackChannel(), EchoAssistant()
    gateway = build(stores, fallback, assistant, channel)
    gateway.start(1)
    try:
        await accept(gateway, channel, update("v", "1", "", kind="unsupported"))
        await until(lambda: len(channel.sent) == 1)
    finally:
        await gateway.close()
    assert channel.sent[0][1] == fallback.text_only("en", None).text
    assert "112" in channel.sent[0][1]
    assert assistant.sent == []


async def test_a_button_press_is_acknowledged(stores, fallback):
    channel, assistant = LoopbackChannel(), EchoAssistant()
    gateway = build(stores, fallback, assistant, channel)
    gateway.start(1)
    try:
        await accept(gateway, channel, update("b", "1", "/seek_shelter", kind="button", callback="cb-1"))
        await until(lambda: len(channel.sent) == 1)
    finally:
        await gateway.close()
    assert channel.acknowledged == ["cb-1"]


async def test_a_message_the_platform_refuses_is_dropped_and_the_next_goes(stores, fallback):
    channel, assistant = LoopbackChannel(), EchoAssistant()
    channel.outcomes = [Delivery(DeliveryOutcome.DROP, reason="rejected")]
    gateway = build(stores, fallback, assistant, channel)
    gateway.start(1)
    try:
        await accept(gateway, channel, update("r", "1", "first"))
        await accept(gateway, channel, update("r", "2", "second"))
        await until(lambda: len(channel.sent) == 1)
        await asyncio.sleep(0.2)
    finally:
        await gateway.close()
    assert channel.sent == [("chat-r", "echo: second", ())]


async def test_with_the_assistant_down_every_message_gets_its_own_fallback_at_once(stores, fallback, monkeypatch):
    monkeypatch.setattr(pipeline, "_backoff", lambda attempts: 30.0)  # the head waits a long backoff
    channel, assistant = LoopbackChannel(), EchoAssistant(up=False)
    gateway = build(stores, fallback, assistant, channel)
    gateway.start(2)
    try:
        await accept(gateway, channel, update("w", "1", "hello"))
        await accept(gateway, channel, update("w", "2", "he is hitting me now"))
        await until(lambda: len(channel.sent) == 2)
        await accept(gateway, channel, update("w", "3", "I want to kill myself"))  # during the backoff
        await until(lambda: len(channel.sent) == 3, timeout=10)  # not after the 30 s backoff
        await asyncio.sleep(0.3)
    finally:
        await gateway.close()
    texts = [text for _, text, _ in channel.sent]
    assert texts == [fallback.replies(t)[0].text for t in ("hello", "he is hitting me now", "I want to kill myself")]
    assert texts[2] != texts[1]  # self-harm gets the crisis reply, not the danger one


async def test_a_frozen_assistant_does_not_hold_the_workers(stores, fallback):
    channel, assistant = LoopbackChannel(), EchoAssistant(delay=3)
    gateway = build(stores, fallback, assistant, channel, deadline=0.2)
    gateway.start(1)  # one worker, three women
    try:
        for user in ("f1", "f2", "f3"):
            await accept(gateway, channel, update(user, f"{user}-1", "he is hitting me now"))
        await until(lambda: len(channel.sent) == 3, timeout=2.5)  # each has the numbers, not one per 3 s
        assert all("112" in text for _, text, _ in channel.sent)
        await until(lambda: len(channel.sent) == 6, timeout=10)  # and the assistant's replies later
    finally:
        await gateway.close()


async def test_a_message_whose_handling_keeps_failing_is_given_up_and_the_next_answered(stores, fallback, monkeypatch):
    monkeypatch.setattr(pipeline, "_backoff", lambda attempts: 0.05)
    real = pipeline._assistant_text

    def poisoned(queued):
        if queued.text == "poison":
            raise KeyError("a bug")
        return real(queued)

    monkeypatch.setattr(pipeline, "_assistant_text", poisoned)
    channel, assistant = LoopbackChannel(), EchoAssistant()
    gateway = build(stores, fallback, assistant, channel)
    gateway.start(1)
    try:
        await accept(gateway, channel, update("p", "1", "poison"))
        await accept(gateway, channel, update("p", "2", "after"))
        await until(lambda: len(channel.sent) == 1, timeout=15)  # after 3 failures, 1 + 2 s apart
    finally:
        await gateway.close()
    assert channel.sent == [("chat-p", "echo: after", ())]


async def test_a_message_the_assistant_may_have_taken_is_not_sent_again(stores, fallback):
    class TimingOut(EchoAssistant):
        async def send(self, sender_id, text):
            self.sent.append((sender_id, text))
            raise AssistantUnavailable("ReadTimeout", reached=True)

    channel, assistant = LoopbackChannel(), TimingOut()
    gateway = build(stores, fallback, assistant, channel)
    gateway.start(1)
    try:
        await accept(gateway, channel, update("t", "1", "yes, delete everything"))
        await until(lambda: len(channel.sent) == 1)
        await asyncio.sleep(1.5)
    finally:
        await gateway.close()
    assert len(assistant.sent) == 1 and "112" in channel.sent[0][1]


async def test_the_deadline_counts_from_when_her_message_was_taken(stores, fallback):
    channel, assistant = LoopbackChannel(), EchoAssistant(delay=1.5)
    gateway = build(stores, fallback, assistant, channel, deadline=2.0)
    gateway.start(1)  # one conversation at a time: the third waits 3 s for its turn
    try:
        started = asyncio.get_running_loop().time()
        for user in ("q1", "q2", "q3"):
            await accept(gateway, channel, update(user, f"{user}-1", "he is hitting me now"))
        await until(lambda: any(chat == "chat-q3" for chat, _, _ in channel.sent), timeout=10)
        waited = asyncio.get_running_loop().time() - started
    finally:
        await gateway.close()
    first = next(text for chat, text, _ in channel.sent if chat == "chat-q3")
    assert "112" in first and waited < 4.0  # the numbers as soon as it was taken up, not after its turn
