"""The shared message path: answers whatever fails, erasure everywhere, the retention sweep.

Every test runs on the in-process live state and on real Redis.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from bot import emergency
from bot.app import create_app
from bot.assistant import BotMessage
from bot.conversation_store import LAST_SEEN_INDEX, ConversationStore
from bot.conversations import Conversations, sweeper_problem
from bot.directives import CONTEXT_DIRECTIVE, ERASE_DIRECTIVE, NUMBERS_DIRECTIVE
from bot.directory.migrate import upgrade
from bot.erasure import Erasure, RasaRedisStores
from bot.gateway.sealing import Sealer
from bot.safety_fallback import SafetyFallback
from bot.settings import Settings
from tests.doubles import BrokenLiveState, FrozenLiveState, ScriptedAssistant
from tests.helpers import text_of

DEADLINE = 0.3


@pytest.fixture(scope="module")
def fallback() -> SafetyFallback:
    return SafetyFallback.load(Settings())


def conversations_of(assistant, live, fallback, retention=3600.0) -> Conversations:
    erasure = Erasure([assistant])
    conversations = Conversations(assistant, live, erasure, fallback, retention, DEADLINE,
                                  sealer=Sealer([Fernet.generate_key()]))
    erasure.register(conversations.store)
    return conversations


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name + "_total", labels) or 0.0


async def test_erase_directive_erases_every_store_and_is_not_delivered(live, fallback):
    assistant = ScriptedAssistant([
        BotMessage(custom={CONTEXT_DIRECTIVE: {"language": "sr", "country": "RS"}}),
        BotMessage(text="Done"), BotMessage(custom={ERASE_DIRECTIVE: True}),
    ])
    conversations = conversations_of(assistant, live, fallback)
    replies = await conversations.handle("web-abc", "delete my data")
    assert [r.text for r in replies] == ["Done"]
    assert assistant.erased == ["web-abc"]
    assert await conversations.store.context("web-abc") == {}
    assert await live.index_below(LAST_SEEN_INDEX, float("inf"), 10) == []


@pytest.mark.parametrize(
    ("text", "language", "first_line"),
    [
        ("he has a knife and is coming for me", "en", "112"),
        ("muz me tuce, pomozite mi", "sr", "112"),
        ("hello, I need a lawyer", "en", None),
    ],
)
async def test_assistant_down_she_still_gets_the_numbers_in_her_language(
    live, fallback, text, language, first_line
):
    conversations = conversations_of(ScriptedAssistant(up=False), live, fallback)
    before = counter("helpline_safety_fallbacks", reason="unavailable")
    replies = await conversations.handle("web-down", text)
    numbers = emergency.load().numbers_for(None, language)
    assert numbers in replies[0].text
    if first_line:  # danger: the numbers are the first thing she reads, 112 first
        assert replies[0].text.splitlines()[0].endswith(first_line)
    else:
        assert replies[0].text == text_of("utter_assistant_unavailable", language, numbers=numbers)
    assert counter("helpline_safety_fallbacks", reason="unavailable") == before + 1


async def test_known_language_and_country_are_used_when_the_assistant_fails(live, fallback):
    assistant = ScriptedAssistant([
        BotMessage(custom={CONTEXT_DIRECTIVE: {"language": "mk", "country": "MK"}}),
        BotMessage(text="Здраво"),
    ])
    conversations = conversations_of(assistant, live, fallback)
    await conversations.handle("web-mk", "здраво")
    assistant.up = False
    replies = await conversations.handle("web-mk", "ok")  # too short to detect a language
    numbers = emergency.load().numbers_for("MK", "mk")
    assert replies[0].text == text_of("utter_assistant_unavailable", "mk", numbers=numbers)


async def test_self_harm_gets_the_crisis_reply_when_the_assistant_fails(live, fallback):
    conversations = conversations_of(ScriptedAssistant(up=False), live, fallback)
    replies = await conversations.handle("web-sh", "I want to kill myself")
    numbers = emergency.load().numbers_for(None, "en", self_harm=True)
    assert replies[0].text == text_of("utter_self_harm_support", "en", numbers=numbers)


async def test_a_slow_turn_is_answered_at_the_deadline_and_delivered_next_time(live, fallback):
    assistant = ScriptedAssistant([BotMessage(text="the real answer")], delay=DEADLINE * 3)
    conversations = conversations_of(assistant, live, fallback)
    started = time.monotonic()
    replies = await conversations.handle("web-slow", "he is hitting me")
    assert time.monotonic() - started < DEADLINE + 0.2
    assert replies[0].text.splitlines()[0].endswith("112")
    await asyncio.sleep(DEADLINE * 4)  # the turn finishes behind the deadline
    assistant.delay = 0
    assistant.replies = [BotMessage(text="next answer")]
    replies = await conversations.handle("web-slow", "thanks")
    assert [r.text for r in replies] == ["the real answer", "next answer"]


async def test_danger_without_the_numbers_gets_them_first(live, fallback):
    """The numbers action failed (action server gone) but Rasa went on to its next response."""
    offer = BotMessage(text="Would you like to talk to a counsellor?")
    conversations = conversations_of(ScriptedAssistant([offer]), live, fallback)
    replies = await conversations.handle("web-dead-actions", "he locked me in the flat")
    assert replies[0].text.splitlines()[0].endswith("112") and replies[1:] == [offer]
    given = ScriptedAssistant([BotMessage(text="the numbers"), BotMessage(custom={NUMBERS_DIRECTIVE: True})])
    replies = await conversations_of(given, live, fallback).handle("web-ok", "he locked me in the flat")
    assert [r.text for r in replies] == ["the numbers"]


async def test_a_turn_without_text_gets_the_fallback(live, fallback):
    conversations = conversations_of(ScriptedAssistant([]), live, fallback)
    replies = await conversations.handle("web-empty", "hello there friend")
    assert replies and replies[0].text


def test_the_apps_own_welcome_writes_the_retention_period_in_her_language():
    fallback = SafetyFallback.load(Settings(conversation_retention_hours=21))
    welcome = fallback.welcome("sr")
    assert welcome.text == text_of("utter_welcome", "sr", retention_period="21 sat")
    assert len(welcome.buttons) == 4
    assert " 1 hour " in SafetyFallback.load(Settings(conversation_retention_hours=1)).welcome("en").text


async def test_live_state_down_never_blocks_a_reply(fallback):
    assistant = ScriptedAssistant([BotMessage(text="hi")])
    before = counter("helpline_live_state_errors", operation="touch")
    conversations = conversations_of(assistant, BrokenLiveState(), fallback)
    assert [r.text for r in await conversations.handle("web-x", "hello")] == ["hi"]
    assistant.up = False
    replies = await conversations.handle("web-x", "he wants to kill me")
    assert replies[0].text.splitlines()[0].endswith("112")
    assert counter("helpline_live_state_errors", operation="touch") == before + 2


async def test_a_frozen_live_state_does_not_delay_the_numbers(fallback):
    conversations = conversations_of(ScriptedAssistant(up=False), FrozenLiveState(), fallback)
    started = time.monotonic()
    replies = await conversations.handle("web-frozen", "he is going to kill me")
    assert time.monotonic() - started < 1.5  # three live-state calls time out at 0.3 s each
    assert replies[0].text.splitlines()[0].endswith("112")


async def test_a_message_sent_while_erasing_is_handled_after_the_erasure(live, fallback):
    """Otherwise Rasa could write the erased conversation back when that turn saves."""
    assistant = ScriptedAssistant([BotMessage(text="Done"), BotMessage(custom={ERASE_DIRECTIVE: True})],
                                  delay=0.1)
    conversations = conversations_of(assistant, live, fallback)
    await asyncio.gather(conversations.handle("web-e", "yes"), conversations.handle("web-e", "hello"))
    assert assistant.log[:3] == ["send yes", "done yes", "erase"]


async def test_late_replies_come_after_the_numbers(live, fallback):
    assistant = ScriptedAssistant([BotMessage(text="old answer")], delay=DEADLINE * 2)
    conversations = conversations_of(assistant, live, fallback)
    await conversations.handle("web-late", "tell me about shelters")
    await asyncio.sleep(DEADLINE * 3)
    assistant.up = False
    replies = await conversations.handle("web-late", "he is beating me now")
    assert replies[0].text.splitlines()[0].endswith("112") and replies[-1].text == "old answer"


async def test_kept_replies_open_under_a_rotated_key_and_one_that_cannot_be_opened_is_dropped(live, caplog):
    old, new, retired = (Fernet.generate_key() for _ in range(3))
    await ConversationStore(live, 3600, Sealer([old])).keep_late_replies("web-k", [BotMessage(text="first")])
    await ConversationStore(live, 3600, Sealer([retired])).keep_late_replies("web-k", [BotMessage(text="lost")])
    await ConversationStore(live, 3600, Sealer([new])).keep_late_replies("web-k", [BotMessage(text="third")])
    rotated = ConversationStore(live, 3600, Sealer([new, old]))  # ADDRESS_KEY=new,old
    assert [reply.text for reply in await rotated.take_late_replies("web-k")] == ["first", "third"]
    assert "a kept reply could not be opened: dropped" in caplog.text
    assert await rotated.take_late_replies("web-k") == []


async def test_an_erasure_that_cannot_finish_says_so_and_is_retried(live, fallback):
    assistant = ScriptedAssistant(
        [BotMessage(text="Done"), BotMessage(custom={ERASE_DIRECTIVE: True})], erase_up=False
    )
    conversations = conversations_of(assistant, live, fallback)
    replies = await conversations.handle("web-retry", "yes")
    assert [r.text for r in replies] == [text_of("utter_erasure_postponed", "en")]
    assistant.erase_up = True
    assert await conversations.erase_expired() == 1  # marked as expired: the next sweep erases it
    assert assistant.erased == ["web-retry"]


async def test_conversations_are_erased_after_the_retention_period(live, fallback):
    assistant = ScriptedAssistant([BotMessage(text="hi")])
    conversations = conversations_of(assistant, live, fallback)
    await conversations.handle("web-old", "hello")
    await conversations.handle("web-new", "hello")
    await live.index_add(LAST_SEEN_INDEX, "web-old", 1_000.0)
    await live.index_add(LAST_SEEN_INDEX, "web-new", 10_000.0)
    assert await conversations.erase_expired(now=5_000.0 + 3600) == 1
    assert assistant.erased == ["web-old"]
    assert await conversations.erase_expired(now=5_000.0 + 3600) == 0


class BrokenRenewal:
    """A store whose renewal fails (its Redis is gone)."""

    name = "broken renewal"

    async def erase(self, sender_id: str) -> None:
        return None

    async def renew(self, sender_id: str) -> None:
        raise ConnectionError("down")


class LongerKept:
    """A store keeping something under its own, longer retention (as the handoff's transcript):
    records whether the conversation was erased or only expired there."""

    name = "longer kept"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def erase(self, sender_id: str) -> None:
        self.calls.append(("erase", sender_id))

    async def expire(self, sender_id: str) -> None:
        self.calls.append(("expire", sender_id))


def with_longer_kept(assistant, live, fallback) -> tuple[Conversations, LongerKept]:
    conversations, kept = conversations_of(assistant, live, fallback), LongerKept()
    conversations._erasure.register(kept)
    return conversations, kept


async def test_the_retention_only_expires_what_has_its_own_retention(live, fallback):
    assistant = ScriptedAssistant([BotMessage(text="hi")])
    conversations, kept = with_longer_kept(assistant, live, fallback)
    await conversations.handle("web-idle", "hello")
    assert await conversations.erase_expired(now=time.time() + 3601) == 1
    assert assistant.erased == ["web-idle"]  # the others erase as ever
    assert kept.calls == [("expire", "web-idle")]


async def test_her_request_erases_what_has_its_own_retention_too(live, fallback):
    assistant = ScriptedAssistant([BotMessage(text="Done"), BotMessage(custom={ERASE_DIRECTIVE: True})])
    conversations, kept = with_longer_kept(assistant, live, fallback)
    await conversations.handle("web-asks", "yes")
    assert kept.calls == [("erase", "web-asks")]


async def test_her_request_retried_by_the_sweep_still_erases_everything(live, fallback):
    assistant = ScriptedAssistant([BotMessage(text="Done"), BotMessage(custom={ERASE_DIRECTIVE: True})],
                                  erase_up=False)
    conversations, kept = with_longer_kept(assistant, live, fallback)
    await conversations.handle("web-again", "yes")  # postponed
    assert await conversations.erase_expired() == 0  # still down: marked again, as her request
    assistant.erase_up = True
    assert await conversations.erase_expired() == 1
    assert kept.calls == [("erase", "web-again")] * 3
    assistant.replies = [BotMessage(text="hi")]
    await conversations.handle("web-again", "hello")  # a new conversation: the retention as ever
    assert await conversations.erase_expired(now=time.time() + 3601) == 1
    assert kept.calls[-1] == ("expire", "web-again")


async def test_a_kept_conversation_outlives_its_retention_in_every_store(live, fallback):
    """``keep`` (a message she left for a counsellor): as if she had written, everywhere."""
    assistant = ScriptedAssistant([BotMessage(text="hi", custom={CONTEXT_DIRECTIVE: {"language": "sq"}})])
    conversations = conversations_of(assistant, live, fallback, retention=1.0)
    await conversations.handle("web-kept", "hello")
    await conversations.store.keep_late_replies("web-kept", [BotMessage(text="later")])
    await asyncio.sleep(0.6)
    assert await conversations.keep("web-kept", time.time())
    await asyncio.sleep(0.6)  # past the retention after her message, not after the keep
    assert await conversations.erase_expired() == 0
    assert await conversations.store.context("web-kept") == {"language": "sq"}
    assert [r.text for r in await conversations.store.take_late_replies("web-kept")] == ["later"]
    await asyncio.sleep(0.6)
    assert await conversations.erase_expired() == 1  # then the retention runs as ever
    assert assistant.erased == ["web-kept"]


async def test_a_store_that_cannot_renew_does_not_stop_the_others(live, fallback):
    assistant = ScriptedAssistant([BotMessage(text="hi", custom={CONTEXT_DIRECTIVE: {"language": "sr"}})])
    erasure = Erasure([BrokenRenewal(), assistant])
    conversations = Conversations(assistant, live, erasure, fallback, 1.0, DEADLINE,
                                  sealer=Sealer([Fernet.generate_key()]))
    erasure.register(conversations.store)
    await conversations.handle("web-half", "hello")
    await asyncio.sleep(0.6)
    assert not await conversations.keep("web-half", time.time())  # the caller tries again
    await asyncio.sleep(0.6)
    assert await conversations.store.context("web-half") == {"language": "sr"}


async def test_rasas_tracker_in_redis_is_renewed_with_the_conversation(redis_url):
    client = aioredis.Redis.from_url(redis_url)
    stores = RasaRedisStores(client, retention_seconds=3600)
    tracker, lock = stores.keys("web-rasa")
    await client.set(tracker, b"{}", px=1000)  # as Rasa saved it, a while ago
    await stores.renew("web-rasa")
    assert 3590 * 1000 < await client.pttl(tracker) <= 3600 * 1000
    await stores.renew("web-none")  # nothing saved: nothing is made
    assert not await client.exists(stores.keys("web-none")[0])
    await stores.erase("web-rasa")
    assert not await client.exists(tracker)
    await client.aclose()


async def test_a_message_during_the_sweep_keeps_its_index_entry(live, fallback):
    """She writes between the sweep's read of the index and its claim: she is not erased."""
    assistant = ScriptedAssistant([BotMessage(text="hi")])
    conversations = conversations_of(assistant, live, fallback, retention=10)
    await live.index_add(LAST_SEEN_INDEX, "web-busy", 0.0)
    real_below = live.index_below

    async def below_then_she_writes(*args):
        due = await real_below(*args)
        await conversations.handle("web-busy", "I am still here")
        return due

    live.index_below = below_then_she_writes
    assert await conversations.erase_expired() == 0
    assert assistant.erased == []
    live.index_below = real_below
    assert await live.index_below(LAST_SEEN_INDEX, float("inf"), 10) == ["web-busy"]


async def test_erasure_waits_when_a_store_is_down(live, fallback):
    conversations = conversations_of(ScriptedAssistant(erase_up=False), live, fallback, retention=1)
    await live.index_add(LAST_SEEN_INDEX, "web-x", 0.0)
    assert await conversations.erase_expired(now=100.0) == 0
    assert await live.index_below(LAST_SEEN_INDEX, 100.0, 10) == ["web-x"]


async def test_one_sweeper_at_a_time(live, fallback):
    first = conversations_of(ScriptedAssistant(), live, fallback, retention=1)
    second = conversations_of(ScriptedAssistant(), live, fallback, retention=1)
    assert await live.lock("retention-sweep", "another-instance", ttl_seconds=5)
    await live.index_add(LAST_SEEN_INDEX, "web-x", 0.0)
    assert await first.sweep_once(interval_seconds=1) == 0  # held elsewhere
    await live.unlock("retention-sweep", "another-instance")
    assert await second.sweep_once(interval_seconds=1) == 1


async def test_the_sweeper_survives_errors_and_health_sees_it(fallback):
    conversations = conversations_of(ScriptedAssistant(), BrokenLiveState(), fallback)
    before = counter("helpline_sweep_errors")
    task = asyncio.create_task(conversations.sweep_forever(interval_seconds=0.05))
    await asyncio.sleep(0.3)
    assert not task.done()
    assert counter("helpline_sweep_errors") >= before + 3
    assert sweeper_problem(conversations, task, interval=0.05) == "failing"
    task.cancel()
    await asyncio.sleep(0)
    assert sweeper_problem(conversations, task, interval=0.05) == "stopped"


def test_health_names_the_parts_that_are_not_ready_and_chat_still_answers(sqlite_url):
    upgrade(sqlite_url)  # as `helpline run` does: the gateway's queues live in this database
    settings = Settings(
        database_url=sqlite_url, pseudonym_pepper="p", rasa_url="http://127.0.0.1:9",
        action_server_url="http://127.0.0.1:9/webhook",
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/health")
        assert response.status_code == 503
        assert set(response.json()["failing"]) == {"assistant", "action_server"}
        assert client.get("/").status_code == 200
        chat = client.post("/api/chat", json={"session": "s" * 20, "text": "he is beating me"})
        assert chat.status_code == 200
        assert chat.json()[0]["text"].splitlines()[0].endswith("112")
        assert client.post("/api/chat", json={"session": "short", "text": "hi"}).status_code == 422
        assert "helpline_safety_fallbacks_total" in client.get("/metrics").text


def test_app_refuses_to_start_without_a_pepper():
    with pytest.raises(RuntimeError, match="PSEUDONYM_PEPPER"):
        create_app(Settings(pseudonym_pepper=None))


@pytest.mark.parametrize(
    "shared", [{"redis_url": "redis://127.0.0.1:6379/15"}, {"database_url": "postgresql+psycopg://x@h/db"}]
)
def test_shared_services_need_a_long_pepper(shared):
    with pytest.raises(RuntimeError, match="at least 32 characters"):
        create_app(Settings(pseudonym_pepper="short", **shared))
    assert Settings(pseudonym_pepper="x" * 32, **shared).pepper_problem() is None


async def test_a_store_registered_first_is_erased_before_the_others():
    """The handoff is registered ``first``: her chat ends before the stores a counsellor's words
    would go to are emptied."""
    erased: list[str] = []

    class Store:
        def __init__(self, name: str) -> None:
            self.name = name

        async def erase(self, sender_id: str) -> None:
            erased.append(self.name)

    erasure = Erasure([Store("assistant")])
    erasure.register(Store("conversation"))
    erasure.register(Store("handoff"), first=True)
    await erasure.erase("web-order", requested=True)
    assert erased == ["handoff", "assistant", "conversation"]
