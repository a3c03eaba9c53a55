"""The handoff service through the gateway: her side, the counsellors' side, timeouts and hours
(frozen clock), erasure, on the embedded default (in-process live state, SQLite) and on Redis
with PostgreSQL (two instances sharing them)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
import time
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis
from sqlalchemy import event, select, text

from bot.assistant import BotMessage
from bot.db import make_engine
from bot.directives import ERASE_DIRECTIVE, HANDOFF_DIRECTIVE
from bot.directory.migrate import upgrade
from bot.gateway.sealing import Sealer
from bot.handoff.counsellors import CounsellorDirectory
from bot.handoff.hours import Schedule
from bot.handoff.reach import ChatReach
from bot.handoff.records import HandoffAudit, HandoffRecord, Role
from bot.handoff.service import (ERASE, WINDOW_MARGIN_SECONDS, HandoffService, ReplyStatus, TakeStatus, Timing,
                                 label_of)
from bot.handoff.store import HandoffStore
from bot.identity import pseudonym
from bot.live import MemoryLiveState
from bot.responses import hours_text
from channels.whatsapp import WINDOW_SECONDS
from tests.doubles import ClockedLiveState, FrozenClock, LoopbackChannel, always_open
from tests.test_gateway import KEY, PEPPER, EchoAssistant, accept, build, fallback, redis_stores, until  # noqa: F401

CANARY = "canary-7f3a she said this"
HOURS = 3600.0
NEVER_OPEN = Schedule(ZoneInfo("Europe/Belgrade"), {}, frozenset())  # a long weekend, say


@pytest.fixture(autouse=True)
def nothing_of_her_is_logged(caplog):
    """Whatever a test drives (failures included), no log record carries what she wrote."""
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        assert CANARY not in record.getMessage(), record.name


def frozen_clock() -> FrozenClock:
    return FrozenClock(dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC).timestamp())  # a Wednesday


class Frontend:
    """A counsellors' frontend of the tests: records what the service tells it."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    async def requested(self, waiting):
        self.events.append(("requested", waiting.handoff_id, waiting.position, waiting.reason))

    async def taken(self, handoff_id, counsellor):
        self.events.append(("taken", handoff_id, counsellor.display_name))

    async def her_message(self, handoff_id, counsellor_id, text):
        self.events.append(("her", handoff_id, counsellor_id, text))

    async def ended(self, handoff_id, counsellor_id, why):
        self.events.append(("ended", handoff_id, why))

    async def released(self, handoff_id, counsellor_id, why):
        self.events.append(("released", handoff_id, why))

    async def closed(self, handoff_id, why):
        self.events.append(("closed", handoff_id, why))

    def of(self, kind: str) -> list[tuple]:
        return [event for event in self.events if event[0] == kind]


class AskingAssistant(EchoAssistant):
    """Echoes, asks for a person when she writes "a person please", and erases her data when she
    presses "delete my data" (the real assistant asks her to confirm first)."""

    async def send(self, sender_id, text):
        if text in ("a person please", "/request_human"):
            await super().send(sender_id, text)
            return [BotMessage(custom={HANDOFF_DIRECTIVE: {"reason": "asked", "need": "shelter"}})]
        if text == ERASE:
            await super().send(sender_id, text)
            return [BotMessage(text="erased", custom={ERASE_DIRECTIVE: True})]
        return await super().send(sender_id, text)


@pytest.fixture(params=["embedded", "shared"])
def world(request, tmp_path, fallback):
    """Factories of app instances (gateway + handoff) over one set of stores."""
    if request.param == "embedded":
        url = f"sqlite:///{tmp_path / 'helpline.db'}"
        upgrade(url)
        engine = make_engine(url)
        from bot.gateway.sql_queues import SqlQueues

        live, inbox, outbox = MemoryLiveState(), SqlQueues(engine, "inbox"), SqlQueues(engine, "outbox")
        stores = lambda: (live, inbox, outbox)  # noqa: E731 - one instance's view
    else:
        url = request.getfixturevalue("postgres_url")
        redis = request.getfixturevalue("redis_url")
        upgrade(url)
        engine = make_engine(url)
        with engine.begin() as connection:  # the session's database: start from no handoffs
            connection.execute(text("TRUNCATE handoff_counsellors, handoff_records, handoff_transcript, "
                                    "handoff_blocked_senders, handoff_audit CASCADE"))
        stores = lambda: redis_stores(redis)  # noqa: E731
    yield World(engine, stores, fallback, request.param)
    engine.dispose()


class World:
    """Instances over one set of stores, whose live state expires on the frozen clock."""

    def __init__(self, engine, stores, fallback, kind):
        self.engine, self.stores, self.fallback, self.kind = engine, stores, fallback, kind
        self.clock = frozen_clock()
        self.deadlines: dict[str, float] = {}
        self.counsellors = CounsellorDirectory(engine)
        self.instances = []

    def clocked_stores(self):
        live, inbox, outbox = self.stores()
        return ClockedLiveState(live, self.clock, self.deadlines), inbox, outbox

    def instance(self, schedule: Schedule | None = None, retention: float = HOURS, platform: str = "loopback",
                 reply_window_seconds: float | None = None, **timing):
        """An app instance; ``retention``: of her conversation (the handoff's live state too)."""
        channel = LoopbackChannel(platform, reply_window_seconds=reply_window_seconds)
        assistant, frontend = AskingAssistant(), Frontend()
        gateway = build(self.clocked_stores, self.fallback, assistant, channel, retention=retention)
        live = gateway._addresses._live  # the instance's live state (the gateway's own)
        store = HandoffStore(self.engine, Sealer([KEY]), transcript_days=30)
        service = HandoffService(live, store, self.counsellors, assistant, self.fallback,
                                 ChatReach(gateway, gateway._conversations),
                                 schedule or always_open("Europe/Belgrade"),
                                 Timing(clock=self.clock, retention_seconds=retention, **timing))
        gateway._conversations.attach_handoff(service)
        gateway._conversations._erasure.register(service)
        service.subscribe(frontend)
        gateway.start(4)
        self.instances.append(gateway)
        return Instance(gateway, channel, assistant, service, frontend, live)

    async def close(self):
        for gateway in self.instances:
            await gateway.close()


class Instance:
    def __init__(self, gateway, channel, assistant, service, frontend, live):
        self.gateway, self.channel, self.assistant = gateway, channel, assistant
        self.service, self.frontend, self.live = service, frontend, live
        self._ids = 0

    async def says(self, user: str, text: str, at: float | None = None) -> None:
        """Her message; ``at``: when the platform says she wrote (default: now, the real clock)."""
        self._ids += 1
        update = {"user": user, "id": f"{user}-{self._ids}-{id(self)}", "text": text}
        body = json.dumps(update | ({"at": at} if at is not None else {})).encode()
        await accept(self.gateway, self.channel, body)

    def texts(self, user: str) -> list[str]:
        return [t for chat, t, _ in self.channel.sent if chat == f"chat-{user}"]

    def buttons(self, user: str) -> list[tuple[str, ...]]:
        return [b for chat, _, b in self.channel.sent if chat == f"chat-{user}"]


def say(world: World, name: str, language: str = "en", **values) -> str:
    numbers = world.fallback.numbers.numbers_for(world.fallback.default_country, language, self_harm=False)
    return world.fallback.say(name, language, numbers=numbers, **values).text


def period(world: World, hours: int = 96, language: str = "en") -> str:
    """How long a message she leaves is kept, as she is told it (``HANDOFF_MESSAGE_HOURS``)."""
    return hours_text(world.fallback.responses, language, hours)


def sender(user: str, platform: str = "loopback") -> str:
    return pseudonym(PEPPER, platform, user)


async def counsellor(world: World, name: str = "Ana", **kwargs):
    return await world.counsellors.add(name, login=name.lower(), password="correct horse", **kwargs)


async def test_she_asks_consents_talks_to_a_counsellor_and_the_assistant_comes_back(world):
    one = world.instance()
    ana = await counsellor(world)
    try:
        await one.says("w", "a person please")
        await until(lambda: len(one.texts("w")) >= 1)
        assert one.texts("w") == [say(world, "utter_handoff_consent", transcript_period="30 days")]
        assert one.buttons("w")[0] == ("/handoff_yes", "/handoff_no")
        await one.says("w", "/handoff_yes")
        await until(lambda: len(one.texts("w")) >= 2)
        assert one.texts("w")[1] == say(world, "utter_handoff_queued", position=1, minutes=5)
        (waiting,) = await one.service.waiting()
        assert waiting.label == label_of(sender("w")) and waiting.need == "shelter"
        assert one.frontend.of("requested") == [("requested", waiting.handoff_id, 1, "asked")]

        taken = await one.service.take(ana.id, waiting.handoff_id)
        assert taken.status is TakeStatus.TAKEN
        await until(lambda: len(one.texts("w")) >= 3)
        assert one.texts("w")[2] == say(world, "utter_handoff_joined", counsellor="Ana")
        await one.says("w", CANARY)
        await until(lambda: one.frontend.of("her"))
        assert one.frontend.of("her") == [("her", waiting.handoff_id, ana.id, CANARY)]
        assert await one.service.reply(ana.id, waiting.handoff_id, "I am here with you") is ReplyStatus.SENT
        await until(lambda: len(one.texts("w")) >= 4)
        assert one.texts("w")[3] == "I am here with you"
        assert ("send " + CANARY) not in one.assistant.log  # the assistant never read it
        assert one.assistant.events == [(sender("w"), "pause")]  # from the moment a person has it

        assert await one.service.end(ana.id, waiting.handoff_id)
        await until(lambda: len(one.texts("w")) >= 5)
        assert one.texts("w")[4] == say(world, "utter_handoff_closing")
        assert one.assistant.events == [(sender("w"), "pause"), (sender("w"), "resume")]
        await one.says("w", "/handoff_feedback_yes")
        await until(lambda: len(one.texts("w")) >= 6)
        assert one.texts("w")[5] == say(world, "utter_handoff_thanks")
        await one.says("w", "hello again")
        await until(lambda: len(one.texts("w")) >= 7)
        assert one.texts("w")[6] == "echo: hello again"

        lines = await one.service.lines(ana, waiting.handoff_id)
        assert [(line.author, line.text) for line in lines][-2:] == [
            ("her", CANARY), ("counsellor", "I am here with you")]
        assert lines[0].author == "her" and lines[0].text == "a person please"  # the part before
        with world.engine.connect() as connection:
            record = connection.execute(select(HandoffRecord)).one()
            sealed = connection.execute(text("SELECT sealed FROM handoff_transcript")).scalars().all()
        assert record.outcome == "ended" and record.feedback == 1 and record.taken_at is not None
        assert sealed and not any(CANARY in row for row in sealed)  # sealed at rest
    finally:
        await world.close()


async def test_she_declines_and_the_assistant_answers(world):
    one = world.instance()
    await counsellor(world)
    try:
        await one.says("d", "a person please")
        await until(lambda: len(one.texts("d")) >= 1)
        await one.says("d", "/handoff_no")
        await until(lambda: len(one.texts("d")) >= 2)
        assert one.texts("d")[1] == say(world, "utter_handoff_declined")
        assert await one.service.waiting() == []
        await one.says("d", "where is a shelter")
        await until(lambda: len(one.texts("d")) >= 3)
        assert one.texts("d")[2] == "echo: where is a shelter"
    finally:
        await world.close()


async def test_danger_goes_to_the_front_after_the_numbers_without_consent(world):
    one = world.instance()
    await counsellor(world)
    try:
        await one.says("a", "a person please")
        await until(lambda: len(one.texts("a")) >= 1)
        await one.says("a", "/handoff_yes")
        await until(lambda: len(one.texts("a")) >= 2)
        world.clock.now += 60
        await one.says("b", "he is hitting me now")
        await until(lambda: len(one.texts("b")) >= 4)
        # The assistant's echo does not carry the numbers: the app puts them first.
        assert one.texts("b")[0] == world.fallback.replies("he is hitting me now")[0].text
        assert one.texts("b")[2] == say(world, "utter_handoff_queued", position=1, minutes=5)
        # Nobody asked her first: she is told here how long the chat is kept.
        assert one.texts("b")[3] == say(world, "utter_handoff_kept_days", transcript_period="30 days")
        assert say(world, "utter_handoff_kept_days", transcript_period="30 days") not in one.texts("a")
        first, second = await one.service.waiting()
        assert first.reason == "danger" and first.label == label_of(sender("b"))
        assert second.label == label_of(sender("a"))
        await one.service.sweep()  # "a" moved to number 2: she is not told a better place
        assert len(one.texts("a")) == 2
    finally:
        await world.close()


@pytest.mark.parametrize("world", ["shared"], indirect=True)  # the embedded default is one instance
async def test_two_counsellors_pressing_take_at_once_on_two_instances_claim_it_once(world):
    one, two = world.instance(), world.instance()
    ana, ben = await counsellor(world, "Ana"), await counsellor(world, "Ben")
    try:
        for round_ in range(10):
            user = f"r{round_}"
            await one.says(user, "he is hitting me now")
        await until_async(lambda: count_waiting(one), 10)
        results = []
        for waiting in await one.service.waiting():
            results.append(await asyncio.gather(one.service.take(ana.id, waiting.handoff_id),
                                                two.service.take(ben.id, waiting.handoff_id)))
        statuses = [sorted(r.status for r in pair) for pair in results]
        assert len(statuses) == 10
        assert all(pair == sorted([TakeStatus.TAKEN, TakeStatus.ALREADY_TAKEN]) for pair in statuses[:3]), statuses
        held = len(await one.service.chats_of(ana.id)) + len(await one.service.chats_of(ben.id))
        assert held == 6  # each holds at most 3 (their limit); the rest stay queued
        assert len(await one.service.waiting()) == 4
    finally:
        await world.close()


async def count_waiting(instance) -> int:
    return len(await instance.service.waiting())


async def until_async(probe, expected, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while await probe() != expected:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


async def test_a_counsellor_at_the_limit_cannot_take_more(world):
    one = world.instance()
    ana, ben = await counsellor(world, max_chats=1), await counsellor(world, "Ben")
    try:
        for user in ("l1", "l2"):
            await one.says(user, "I want to kill myself")
        await until_async(lambda: count_waiting(one), 2)
        first, second = await one.service.waiting()
        assert (await one.service.take(ana.id, first.handoff_id)).status is TakeStatus.TAKEN
        assert (await one.service.take(ana.id, second.handoff_id)).status is TakeStatus.AT_LIMIT
        assert (await one.service.take(ben.id, first.handoff_id)).status is TakeStatus.ALREADY_TAKEN
    finally:
        await world.close()


async def test_she_cancels_waiting_and_the_assistant_continues(world):
    one = world.instance()
    await counsellor(world)
    try:
        await one.says("c", "a person please")
        await one.says("c", "/handoff_yes")
        await until(lambda: len(one.texts("c")) >= 2)
        await one.says("c", "still there?")
        await until(lambda: len(one.texts("c")) >= 3)
        assert one.texts("c")[2] == say(world, "utter_handoff_kept")
        await one.says("c", "/handoff_cancel")
        await until(lambda: len(one.texts("c")) >= 4)
        assert one.texts("c")[3] == say(world, "utter_handoff_cancelled")
        assert await one.service.waiting() == []
        await one.says("c", "hello")
        await until(lambda: len(one.texts("c")) >= 5)
        assert one.texts("c")[4] == "echo: hello"
    finally:
        await world.close()


async def test_nobody_free_then_a_silent_counsellor_returns_the_chat_to_the_queue(world):
    one = world.instance(wait_seconds=600, counsellor_timeout_seconds=300)
    ana = await counsellor(world)
    try:
        await one.says("t", "a person please")
        await one.says("t", "/handoff_yes")
        await until(lambda: len(one.texts("t")) >= 2)
        world.clock.now += 599
        await one.service.sweep()
        assert len(one.texts("t")) == 2
        world.clock.now += 2
        await one.service.sweep()
        await until(lambda: len(one.texts("t")) >= 3)
        assert one.texts("t")[2] == say(world, "utter_handoff_unanswered", message_period=period(world))
        await until(lambda: len(one.texts("t")) >= 4)
        assert one.texts("t")[3] == say(world, "utter_handoff_services")
        assert one.buttons("t")[3][0] == "/seek_shelter"  # what she asked for first
        assert "/request_human" not in one.buttons("t")[3]
        await one.service.sweep()
        await asyncio.sleep(0.2)
        assert len(one.texts("t")) == 4  # told once
        await one.says("t", "/seek_shelter")  # a service button while she waits: the assistant answers
        await until(lambda: len(one.texts("t")) >= 5)
        assert one.texts("t")[4] == "echo: /seek_shelter"

        (waiting,) = await one.service.waiting()
        assert waiting.left_message
        await one.service.take(ana.id, waiting.handoff_id)
        await until(lambda: len(one.texts("t")) >= 6)
        await one.says("t", "are you there?")
        await until(lambda: one.frontend.of("her"))
        world.clock.now += 301
        await one.service.sweep()
        await until(lambda: len(one.texts("t")) >= 7)
        assert one.texts("t")[6] == say(world, "utter_handoff_returned", position=1)
        assert one.frontend.of("released") == [("released", waiting.handoff_id, "timeout")]
        assert await one.service.chats_of(ana.id) == []
        assert [w.handoff_id for w in await one.service.waiting()] == [waiting.handoff_id]
        assert await one.service.reply(ana.id, waiting.handoff_id, "too late") is ReplyStatus.NOT_YOURS
    finally:
        await world.close()


async def test_on_whatsapp_a_reply_after_her_24_hour_window_is_refused_at_once_and_never_queued(world):
    """Two women left a message on WhatsApp; they are taken the next day, 25 and 23 hours after
    they wrote: the counsellor's words to the first are refused (nothing goes to her, nothing is
    kept as said), those to the second go; the first's next message opens her window again."""
    one = world.instance(platform="whatsapp", reply_window_seconds=WINDOW_SECONDS, retention=48 * HOURS)
    ana = await counsellor(world)
    start = world.clock.now
    try:
        for user, wrote in (("late", start), ("early", start + 2 * 3600)):
            world.clock.now = wrote
            await one.says(user, "I want to kill myself", at=wrote)  # queued at once, after the numbers
            await until_async(lambda: count_waiting(one), {"late": 1, "early": 2}[user])
        late, early = await one.service.waiting()
        world.clock.now = start + 25 * 3600
        for chat in (late, early):
            assert (await one.service.take(ana.id, chat.handoff_id)).status is TakeStatus.TAKEN
        joined = say(world, "utter_handoff_joined", counsellor="Ana")
        await until(lambda: joined in one.texts("late") and joined in one.texts("early"))
        assert await one.service.window_left(late.handoff_id) == 0
        assert await one.service.window_left(early.handoff_id) == 3600 - WINDOW_MARGIN_SECONDS

        assert await one.service.reply(ana.id, late.handoff_id, "I am here") is ReplyStatus.WINDOW_CLOSED
        assert await one.service.reply(ana.id, early.handoff_id, "I am here too") is ReplyStatus.SENT
        await until(lambda: "I am here too" in one.texts("early"))
        await asyncio.sleep(0.2)
        assert "I am here" not in one.texts("late")
        assert await one.gateway._outbox.items(sender("late", "whatsapp")) == []
        said = [line.text for line in await one.service.lines(ana, late.handoff_id) if line.author == "counsellor"]
        assert said == []

        await one.says("late", "are you still there?", at=world.clock.now)  # her window opens again
        await until(lambda: len(one.frontend.of("her")) == 1)
        assert await one.service.window_left(late.handoff_id) == WINDOW_SECONDS - WINDOW_MARGIN_SECONDS
        assert await one.service.reply(ana.id, late.handoff_id, "I am here") is ReplyStatus.SENT
        await until(lambda: "I am here" in one.texts("late"))
    finally:
        await world.close()


async def test_outside_working_hours_she_is_told_and_may_leave_a_message(world, tmp_path):
    hours = tmp_path / "hours.yml"
    hours.write_text("timezone: Europe/Belgrade\nweek:\n  mon: ['08:00-16:00']\n  wed: ['08:00-16:00']\n"
                     "holidays: ['2026-12-09']\n")
    schedule = Schedule.load(hours)
    wednesday_noon = dt.datetime(2026, 12, 2, 11, 0, tzinfo=dt.UTC)  # 12:00 in Belgrade
    assert schedule.is_open(wednesday_noon)
    assert not schedule.is_open(wednesday_noon + dt.timedelta(hours=5))  # 17:00
    assert not schedule.is_open(wednesday_noon + dt.timedelta(days=1))  # Thursday
    assert not schedule.is_open(wednesday_noon + dt.timedelta(days=7))  # the holiday
    world.clock.now = (wednesday_noon + dt.timedelta(hours=5)).timestamp()
    one = world.instance(schedule)
    await counsellor(world)
    try:
        await one.says("h", "a person please")
        await one.says("h", "/handoff_yes")
        await until(lambda: len(one.texts("h")) >= 2)
        assert one.texts("h")[1] == say(world, "utter_handoff_closed", message_period=period(world))
        await until(lambda: len(one.texts("h")) >= 3)
        assert one.texts("h")[2] == say(world, "utter_handoff_services")
        await one.says("h", "please call me back tomorrow")
        await asyncio.sleep(0.3)
        (waiting,) = await one.service.waiting()
        assert waiting.left_message
    finally:
        await world.close()


async def leave_a_message(world: World, one: Instance, user: str, why: str) -> None:
    """She asks for a person, consents, is told that nobody can answer now (``why``: "closed",
    outside the hours, or "nobody free" in time) and for how long a message is kept, and leaves one."""
    await one.says(user, "a person please")
    await one.says(user, "/handoff_yes")
    await until(lambda: len(one.texts(user)) >= 2)
    if why == "nobody free":
        world.clock.now += 601
        await one.service.sweep()
    told = say(world, "utter_handoff_closed" if why == "closed" else "utter_handoff_unanswered",
               message_period=period(world))
    await until(lambda: told in one.texts(user))
    await one.says(user, CANARY)
    await until(lambda: say(world, "utter_handoff_kept") in one.texts(user))


async def days_pass(world: World, one: Instance, hours: int) -> None:
    """The clock moves ``hours``, an hour at a time, the retention sweep and the handoff sweep
    running as in production."""
    for _ in range(hours):
        world.clock.now += HOURS
        await one.gateway._conversations.erase_expired(now=world.clock.now)
        await one.service.sweep()


async def what_remains_of(world: World, one: Instance, user: str, handoff_id: str) -> list[str]:
    """Where something of her is still kept: live state (once what expired on the frozen clock is
    gone), the queues, the database (a record without her pseudonym keeps no text: not counted)."""
    her, found = sender(user), []
    await one.live.forget_expired()
    if world.kind == "shared":
        redis = aioredis.Redis.from_url(world_redis(one))
        for key in await redis.keys("*"):
            kept = key + (await redis.dump(key) or b"")
            found += [key.decode()] if her.encode() in kept or handoff_id.encode() in kept else []
        await redis.aclose()
    else:
        memory = one.live._inner
        found += [key for key, (_, value) in memory._values.items() if her in key + str(value)
                  or handoff_id in key + str(value)]
        found += [index for index, members in memory._indexes.items() if {her, handoff_id} & set(members)]
    with world.engine.connect() as connection:
        for table, column, value in (("handoff_records", "sender_id", her),
                                     ("handoff_transcript", "handoff_id", handoff_id),
                                     ("gateway_queue_keys", "key", her), ("gateway_queue_items", "key", her)):
            rows = connection.execute(text(f"SELECT count(*) FROM {table} WHERE {column} = :value"),
                                      {"value": value}).scalar()
            found += [table] if rows else []
    return found


@pytest.mark.parametrize("why", ["closed", "nobody free"])
async def test_a_message_left_before_the_weekend_is_answered_in_her_chat_after_it(world, why):
    """Friday evening to Monday morning: 60 hours, past the 24 hours of her conversation's
    retention; her chat is kept for the counsellor, and reaches her."""
    world.clock.now = time.time()  # her own messages are timed by the wall clock: start there
    one = world.instance(NEVER_OPEN if why == "closed" else None, retention=24 * HOURS)
    ana = await counsellor(world)
    try:
        await leave_a_message(world, one, "wk", why)
        await days_pass(world, one, hours=60)
        assert one.assistant.erased == []  # the retention sweep passed her by
        (waiting,) = await one.service.waiting()
        assert waiting.left_message
        assert (await one.service.take(ana.id, waiting.handoff_id)).status is TakeStatus.TAKEN
        lines = await one.service.lines(ana, waiting.handoff_id)
        assert ("her", CANARY) in [(line.author, line.text) for line in lines]
        assert await one.service.reply(ana.id, waiting.handoff_id, "Good morning, I read your message")
        await until(lambda: "Good morning, I read your message" in one.texts("wk"))  # her address works
        assert say(world, "utter_handoff_joined", counsellor="Ana") in one.texts("wk")
    finally:
        await world.close()


async def test_a_message_nobody_took_in_its_time_leaves_the_queue_then_nothing_of_her_remains(world):
    world.clock.now = time.time()
    one = world.instance(NEVER_OPEN, retention=24 * HOURS)
    await counsellor(world)
    try:
        await leave_a_message(world, one, "late", "closed")
        (waiting,) = await one.service.waiting()
        await days_pass(world, one, hours=96)
        assert [w.handoff_id for w in await one.service.waiting()] == [waiting.handoff_id]
        await days_pass(world, one, hours=1)  # HANDOFF_MESSAGE_HOURS have passed: it leaves the queue
        assert await one.service.waiting() == []
        assert one.frontend.of("closed") == [("closed", waiting.handoff_id, "expired")]  # the post closes
        with world.engine.connect() as connection:
            record = connection.execute(select(HandoffRecord)).one()
        assert record.outcome == "expired" and record.left_message
        assert await one.gateway._addresses.get(sender("late")) is not None  # then the retention, as ever
        await days_pass(world, one, hours=24)
        assert one.assistant.erased == [sender("late")]
        # The transcript has its own retention (TRANSCRIPT_RETENTION_DAYS), the pseudonym with it.
        assert await what_remains_of(world, one, "late", waiting.handoff_id) == [
            "handoff_records", "handoff_transcript"]
        assert await one.service._store.purge(world.clock.now + 30 * 24 * HOURS)
        assert await what_remains_of(world, one, "late", waiting.handoff_id) == []
        with world.engine.connect() as connection:
            record = connection.execute(select(HandoffRecord)).one()
        assert record.sender_id is None and record.outcome == "expired"  # statistics, without her
    finally:
        await world.close()


async def test_on_whatsapp_a_left_message_waits_only_as_long_as_she_can_be_answered(world):
    """WhatsApp takes answers for 24 hours after her last message: she is told her message waits
    that long, not HANDOFF_MESSAGE_HOURS, and it leaves the queue when the window closes."""
    world.clock.now = time.time()
    one = world.instance(NEVER_OPEN, retention=24 * HOURS, platform="whatsapp", reply_window_seconds=WINDOW_SECONDS)
    await counsellor(world)
    try:
        await one.says("wa", "a person please", at=world.clock.now)
        await one.says("wa", "/handoff_yes", at=world.clock.now)
        told = say(world, "utter_handoff_closed", message_period=period(world, hours=24))
        await until(lambda: told in one.texts("wa"))
        (waiting,) = await one.service.waiting()
        await days_pass(world, one, hours=23)
        assert [w.handoff_id for w in await one.service.waiting()] == [waiting.handoff_id]
        await days_pass(world, one, hours=2)
        assert await one.service.waiting() == []
        assert one.frontend.of("closed") == [("closed", waiting.handoff_id, "expired")]
    finally:
        await world.close()


async def test_delete_my_data_erases_a_left_message_at_once(world):
    world.clock.now = time.time()
    one = world.instance(NEVER_OPEN, retention=24 * HOURS)
    await counsellor(world)
    try:
        await leave_a_message(world, one, "del", "closed")
        (waiting,) = await one.service.waiting()
        await days_pass(world, one, hours=30)  # kept past the retention period...
        await one.says("del", ERASE)  # ... and erased the moment she asks
        await until(lambda: "erased" in one.texts("del"))
        assert one.assistant.erased == [sender("del")]
        assert await one.service.waiting() == []
        assert one.frontend.of("closed") == [("closed", waiting.handoff_id, "she asked to erase her data"),
                                             ("closed", waiting.handoff_id, "erased")]  # copies go too
        await asyncio.sleep(0.2)  # the confirmation's outbox entry is done with
        assert await what_remains_of(world, one, "del", waiting.handoff_id) == []
        await days_pass(world, one, hours=1)
        assert await what_remains_of(world, one, "del", waiting.handoff_id) == []  # not written back
    finally:
        await world.close()


async def test_erasure_ends_the_chat_and_leaves_no_transcript_nor_pseudonym(world):
    one = world.instance()
    ana = await counsellor(world)
    try:
        await one.says("e", "he is hitting me now")
        await until_async(lambda: count_waiting(one), 1)
        (waiting,) = await one.service.waiting()
        await one.service.take(ana.id, waiting.handoff_id)
        await one.says("e", CANARY)
        await until(lambda: one.frontend.of("her"))
        await one.gateway._conversations.erase(sender("e"))
        assert one.frontend.of("ended") == [("ended", waiting.handoff_id, "erased")]
        assert await one.service.chats_of(ana.id) == []
        with world.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM handoff_transcript")).scalar() == 0
            record = connection.execute(select(HandoffRecord)).one()
        assert record.sender_id is None and record.outcome == "erased"
        if world.kind == "shared":
            redis = aioredis.Redis.from_url(world_redis(one), decode_responses=True)
            for key in await redis.keys("*"):
                assert sender("e") not in key
                value = await redis.dump(key)
                assert value is None or (CANARY.encode() not in value and sender("e").encode() not in value)
            await redis.aclose()
    finally:
        await world.close()


@pytest.mark.parametrize("then", ["the purge", "delete my data"])
async def test_the_transcript_outlives_her_conversation_until_its_own_retention(world, then):
    """Her conversation goes 24 h after her last message; the transcript stays 30 days for the
    counsellor who handled it, then the purge takes it and the pseudonym; her request, at once."""
    world.clock.now = time.time()  # transcript lines are timed by the wall clock: start there
    one = world.instance(retention=24 * HOURS)
    ana = await counsellor(world)
    try:
        await one.says("t", "he is hitting me now")
        await until_async(lambda: count_waiting(one), 1)
        (waiting,) = await one.service.waiting()
        await one.service.take(ana.id, waiting.handoff_id)
        await one.says("t", CANARY)
        await until(lambda: one.frontend.of("her"))
        await until_async(lambda: her_lines(one, ana, waiting.handoff_id), 1)
        assert await one.service.end(ana.id, waiting.handoff_id)
        await until(lambda: say(world, "utter_handoff_closing") in one.texts("t"))  # her outbox is empty
        world.clock.now += 25 * HOURS
        await one.gateway._conversations.erase_expired(now=world.clock.now)
        assert one.assistant.erased == [sender("t")]  # her conversation is gone...
        assert await her_lines(one, ana, waiting.handoff_id) == 1  # ... not the transcript
        assert await what_remains_of(world, one, "t", waiting.handoff_id) == [
            "handoff_records", "handoff_transcript"]
        if then == "the purge":
            assert await one.service._store.purge(world.clock.now + 28 * 24 * HOURS) == 0  # not yet
            assert await her_lines(one, ana, waiting.handoff_id) == 1
            await one.service._store.purge(world.clock.now + 30 * 24 * HOURS)
        else:
            await one.gateway._conversations.erase(sender("t"))
        assert await her_lines(one, ana, waiting.handoff_id) == 0
        assert await what_remains_of(world, one, "t", waiting.handoff_id) == []
    finally:
        await world.close()


async def test_an_open_chat_whose_conversation_reaches_its_retention_ends_as_expired_not_erased(world):
    world.clock.now = time.time()
    one = world.instance(retention=24 * HOURS)
    ana = await counsellor(world)
    try:
        await one.says("r", "he is hitting me now")
        await until_async(lambda: count_waiting(one), 1)
        (waiting,) = await one.service.waiting()
        await one.service.take(ana.id, waiting.handoff_id)
        await one.service.expire(sender("r"))  # what the retention sweep calls (bot.erasure.Retaining)
        assert one.frontend.of("ended") == [("ended", waiting.handoff_id, "expired")]
        with world.engine.connect() as connection:
            record = connection.execute(select(HandoffRecord)).one()
        assert record.outcome == "expired"  # the statistics do not say she erased her data
    finally:
        await world.close()


async def her_lines(one: Instance, viewer, handoff_id: str) -> int:
    """How many lines of the transcript with her words (``CANARY``) the counsellor can read."""
    return len([line for line in await one.service.lines(viewer, handoff_id) or [] if line.text == CANARY])


def world_redis(instance) -> str:
    pool = instance.live._redis.connection_pool
    kwargs = pool.connection_kwargs
    return f"redis://{kwargs.get('host', '127.0.0.1')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


async def test_a_blocked_sender_gets_a_neutral_reply_and_never_reaches_a_counsellor(world):
    one = world.instance()
    admin = await counsellor(world, "Admin", role=Role.ADMIN)
    try:
        await one.says("x", "a person please")
        await one.says("x", "/handoff_yes")
        await until_async(lambda: count_waiting(one), 1)
        await until(lambda: len(one.texts("x")) >= 2)  # her turn's "you are in the queue" went out first
        (waiting,) = await one.service.waiting()
        assert await one.service.block(admin.id, waiting.handoff_id, "abusive messages", days=7)
        await until(lambda: len(one.texts("x")) >= 3)
        assert one.texts("x")[2] == say(world, "utter_handoff_blocked")
        assert await one.service.waiting() == []
        await one.says("x", "a person please")
        await until(lambda: len(one.texts("x")) >= 4)
        assert one.texts("x")[3] == say(world, "utter_handoff_blocked")
        assert await one.service.waiting() == []
        assert len(one.frontend.of("requested")) == 1
    finally:
        await world.close()


async def test_only_counsellors_who_handled_a_chat_and_administrators_read_it(world):
    one = world.instance()
    ana, ben = await counsellor(world, "Ana"), await counsellor(world, "Ben")
    admin = await counsellor(world, "Admin", role=Role.ADMIN)
    try:
        await one.says("p", "I want to kill myself")
        await until_async(lambda: count_waiting(one), 1)
        (waiting,) = await one.service.waiting()
        assert await one.service.lines(ana, waiting.handoff_id) is None
        await one.service.take(ana.id, waiting.handoff_id)
        assert await one.service.lines(ana, waiting.handoff_id) is not None
        assert await one.service.lines(ben, waiting.handoff_id) is None
        assert await one.service.lines(admin, waiting.handoff_id) is not None
        assert await one.service.transfer(ana.id, waiting.handoff_id, ben.id)
        await until(lambda: say(world, "utter_handoff_joined", counsellor="Ben") in one.texts("p"))
        assert await one.service.lines(ben, waiting.handoff_id) is not None
        assert await one.service.reply(ana.id, waiting.handoff_id, "not mine any more") is ReplyStatus.NOT_YOURS
        assert await one.service.note(ben.id, waiting.handoff_id, "she is in Tirana")
        assert (await one.service.lines(ben, waiting.handoff_id))[-1].author == "note"
        assert "she is in Tirana" not in one.texts("p")  # a note never goes to her
        with world.engine.connect() as connection:
            actions = connection.execute(select(HandoffAudit.action)).scalars().all()
        assert {"take", "assigned", "transfer", "note"} <= set(actions)
    finally:
        await world.close()


async def test_without_counsellors_she_is_told_honestly_with_the_numbers(world):
    one = world.instance()
    try:
        await one.says("n", "a person please")
        await until(lambda: len(one.texts("n")) >= 1)
        assert one.texts("n") == [say(world, "utter_human_unavailable")]
    finally:
        await world.close()


async def test_old_transcripts_are_purged(world):
    one = world.instance()
    ana = await counsellor(world)
    try:
        await one.says("o", "I want to kill myself")
        await until_async(lambda: count_waiting(one), 1)
        (waiting,) = await one.service.waiting()
        await one.service.take(ana.id, waiting.handoff_id)
        assert await one.service.reply(ana.id, waiting.handoff_id, "hello") is ReplyStatus.SENT
        store = one.service._store
        import time as real_time

        assert await store.purge(real_time.time()) == 0
        assert await store.purge(real_time.time() + 31 * 86400) > 0
        assert await store.lines(waiting.handoff_id) == []
    finally:
        await world.close()


async def test_a_broken_handoff_never_leaves_her_without_an_answer(world):
    """Live state gone under the handoff: her request gets the numbers, her words the assistant."""
    from tests.doubles import BrokenLiveState

    one = world.instance()
    await counsellor(world)
    one.service._live = BrokenLiveState()
    try:
        await one.says("z", "a person please")
        await until(lambda: len(one.texts("z")) >= 1)
        assert one.texts("z") == [world.fallback.replies("a person please", "en")[0].text]
        await one.says("z", CANARY)
        await until(lambda: len(one.texts("z")) >= 2)
        assert one.texts("z")[1] == f"echo: {CANARY}"
    finally:
        await world.close()


async def test_a_danger_message_while_waiting_brings_the_numbers_and_the_front_of_the_queue(world):
    one = world.instance()
    await counsellor(world)
    try:
        await one.says("q1", "a person please")
        await one.says("q1", "/handoff_yes")
        await until(lambda: len(one.texts("q1")) >= 2)
        world.clock.now += 30
        await one.says("q2", "a person please")
        await one.says("q2", "/handoff_yes")
        await until(lambda: len(one.texts("q2")) >= 2)
        assert [w.label for w in await one.service.waiting()] == [label_of(sender("q1")), label_of(sender("q2"))]
        await one.says("q2", "he is hitting me now")
        await until(lambda: len(one.texts("q2")) >= 3)
        assert one.texts("q2")[2] == world.fallback.replies("he is hitting me now", "en")[0].text

        async def first_label() -> str:
            return (await one.service.waiting())[0].label

        await until_async(first_label, label_of(sender("q2")))
        first, second = await one.service.waiting()
        assert first.label == label_of(sender("q2")) and first.reason == "danger"
        assert label_of(sender("q1")) != label_of(sender("q2"))
    finally:
        await world.close()


async def test_a_removed_counsellors_chats_return_to_the_queue(world):
    one = world.instance()
    ana = await counsellor(world)
    try:
        await one.says("rm", "I want to kill myself")
        await until_async(lambda: count_waiting(one), 1)
        (waiting,) = await one.service.waiting()
        await one.service.take(ana.id, waiting.handoff_id)
        assert await world.counsellors.remove(ana.id)  # helpline counsellors remove, meanwhile
        await one.service.sweep()
        await until(lambda: say(world, "utter_handoff_returned", position=1) in one.texts("rm"))
        assert [w.handoff_id for w in await one.service.waiting()] == [waiting.handoff_id]
    finally:
        await world.close()


async def test_an_end_racing_the_sweeps_release_does_not_put_the_chat_back(world):
    one = world.instance(counsellor_timeout_seconds=60)
    ana = await counsellor(world)
    try:
        await one.says("race", "I want to kill myself")
        await until_async(lambda: count_waiting(one), 1)
        (waiting,) = await one.service.waiting()
        await one.service.take(ana.id, waiting.handoff_id)
        world.clock.now += 61  # she waited for the counsellor's first words too long...
        await asyncio.gather(one.service.end(ana.id, waiting.handoff_id), one.service.sweep())
        await asyncio.sleep(0.3)
        texts = one.texts("race")
        # ... and exactly one of them won: ended (closing) or released (back in the queue).
        ended = say(world, "utter_handoff_closing") in texts
        returned = say(world, "utter_handoff_returned", position=1) in texts
        assert ended != returned, texts
        assert bool(await one.service.waiting()) == returned
    finally:
        await world.close()


async def test_typed_consent_the_old_button_while_waiting_and_leaving_the_counsellor(world):
    one = world.instance()
    ana = await counsellor(world)
    try:
        await one.says("y", "a person please")
        await until(lambda: len(one.texts("y")) >= 1)
        await one.says("y", "Po")  # Albanian "yes", typed
        await until(lambda: len(one.texts("y")) >= 2)
        assert one.texts("y")[1] == say(world, "utter_handoff_queued", position=1, minutes=5)
        await one.says("y", "/request_human")  # an older "talk to a person" button
        await until(lambda: len(one.texts("y")) >= 3)
        assert one.texts("y")[2] == say(world, "utter_handoff_queued", position=1, minutes=5)
        (waiting,) = await one.service.waiting()
        await one.service.take(ana.id, waiting.handoff_id)
        await until(lambda: len(one.texts("y")) >= 4)
        await one.says("y", "/handoff_cancel")  # "Stop waiting", pressed with a counsellor there
        await until(lambda: len(one.texts("y")) >= 5)
        assert one.texts("y")[4] == say(world, "utter_handoff_cancelled")
        assert one.frontend.of("ended") == [("ended", waiting.handoff_id, "she left the chat")]
        assert "/handoff_cancel" not in [e[3] for e in one.frontend.of("her")]
        await one.says("y", "hello")
        await until(lambda: len(one.texts("y")) >= 6)
        assert one.texts("y")[5] == "echo: hello"
    finally:
        await world.close()


async def test_delete_my_data_with_a_counsellor_goes_to_the_assistant(world):
    one = world.instance()
    ana = await counsellor(world)
    try:
        await one.says("del", "I want to kill myself")
        await until_async(lambda: count_waiting(one), 1)
        (waiting,) = await one.service.waiting()
        await one.service.take(ana.id, waiting.handoff_id)
        await one.says("del", "Please DELETE my data now")
        await until(lambda: "echo: Please DELETE my data now" in one.texts("del"))
        assert one.frontend.of("ended") == [("ended", waiting.handoff_id, "she asked to erase her data")]
        assert not [e for e in one.frontend.of("her") if "DELETE" in e[3]]  # not relayed
        assert one.assistant.events[-1] == (sender("del"), "resume")  # before the assistant's turn
    finally:
        await world.close()


async def test_the_assistant_is_resumed_before_her_next_turn_when_it_was_down_at_the_end(world):
    one = world.instance()
    ana = await counsellor(world)
    try:
        await one.says("rs", "I want to kill myself")
        await until_async(lambda: count_waiting(one), 1)
        (waiting,) = await one.service.waiting()
        await one.service.take(ana.id, waiting.handoff_id)
        one.assistant.up = False
        assert await one.service.end(ana.id, waiting.handoff_id)
        assert (sender("rs"), "resume") not in one.assistant.events
        one.assistant.up = True
        await one.says("rs", "hello")
        await until(lambda: "echo: hello" in one.texts("rs"))
        assert one.assistant.events[-1] == (sender("rs"), "resume")
    finally:
        await world.close()


async def test_erasure_with_a_counsellor_writes_nothing_back_to_the_assistant(world):
    one = world.instance()
    ana = await counsellor(world)
    try:
        await one.says("er", "I want to kill myself")
        await until_async(lambda: count_waiting(one), 1)
        (waiting,) = await one.service.waiting()
        await one.service.take(ana.id, waiting.handoff_id)
        events = len(one.assistant.events)
        await one.gateway._conversations.erase(sender("er"))
        assert one.assistant.events[events:] == []  # a resume would recreate her tracker
    finally:
        await world.close()


async def test_danger_reaches_the_queue_while_the_assistant_is_down(world):
    one = world.instance()
    await counsellor(world)
    one.assistant.up = False
    try:
        await one.says("down", "he is hitting me now")
        await until_async(lambda: count_waiting(one), 1)
        (waiting,) = await one.service.waiting()
        await one.says("down", CANARY)  # kept for the counsellor, the assistant still down

        async def kept() -> bool:
            return any(line.text == CANARY for line in await one.service._store.lines(waiting.handoff_id))

        await until_async(kept, True)
        assert one.texts("down")[0] == world.fallback.replies("he is hitting me now", "en")[0].text
    finally:
        await world.close()


async def test_a_counsellor_who_takes_and_says_nothing_returns_the_chat(world):
    one = world.instance(counsellor_timeout_seconds=300)
    ana = await counsellor(world)
    try:
        await one.says("sil", "I want to kill myself")
        await until_async(lambda: count_waiting(one), 1)
        (waiting,) = await one.service.waiting()
        await one.service.take(ana.id, waiting.handoff_id)
        world.clock.now += 301
        await one.service.sweep()
        assert [w.handoff_id for w in await one.service.waiting()] == [waiting.handoff_id]
    finally:
        await world.close()


async def test_a_queue_failure_on_her_yes_gives_her_the_numbers_and_leaves_nothing_half_done(world, monkeypatch):
    one = world.instance()
    await counsellor(world)
    try:
        await one.says("f", "a person please")
        await until(lambda: len(one.texts("f")) >= 1)

        async def broken(*args, **kwargs):
            raise ConnectionError("database down")

        monkeypatch.setattr(one.service._store, "requested", broken)
        await one.says("f", "/handoff_yes")
        await until(lambda: len(one.texts("f")) >= 2)
        assert one.texts("f")[1] == world.fallback.replies("/handoff_yes", "en")[0].text
        assert await one.service.waiting() == []
        await one.says("f", CANARY)
        await until(lambda: len(one.texts("f")) >= 3)
        assert one.texts("f")[2] == f"echo: {CANARY}"  # not cut off from the assistant
    finally:
        await world.close()


async def test_a_flood_of_strangers_costs_one_read_of_the_counsellors_at_a_time(world):
    """Unknown Telegram users each miss the snapshot; they share reads, so a real counsellor's
    lookup does not queue behind one read per stranger."""
    ana = await counsellor(world, telegram_user_id=4242)
    assert (await world.counsellors.by_telegram(4242)).id == ana.id  # the snapshot is read
    reads = []

    def count(conn, cursor, statement, *args):
        if "handoff_counsellors" in statement:
            reads.append(statement)

    event.listen(world.engine, "before_cursor_execute", count)
    try:
        found = await asyncio.gather(*(world.counsellors.by_telegram(9000 + n) for n in range(200)),
                                     world.counsellors.by_telegram(4242))
    finally:
        event.remove(world.engine, "before_cursor_execute", count)
    assert found[:-1] == [None] * 200 and found[-1].id == ana.id
    assert 1 <= len(reads) <= 3
    bea = await CounsellorDirectory(world.engine).add("Bea", telegram_user_id=4343)  # the CLI, meanwhile
    assert (await world.counsellors.by_telegram(4343)).id == bea.id  # let in at once


async def test_a_counsellor_removed_while_the_snapshot_is_read_is_gone_at_once(world):
    """A read that began before the removal ends after it: its snapshot is not trusted."""
    ana = await counsellor(world, telegram_user_id=4545)
    directory = world.counsellors
    read, go_on = threading.Event(), threading.Event()
    select_now = directory._select

    def read_then_wait(statement):
        rows = select_now(statement)
        read.set()
        go_on.wait(5)
        return rows

    directory._select = read_then_wait
    reading = asyncio.create_task(directory.by_telegram(4545))  # the snapshot is read, and held
    assert await asyncio.to_thread(read.wait, 5)
    directory._select = select_now
    assert await directory.remove(ana.id)
    go_on.set()
    assert (await reading).id == ana.id  # asked before she was removed
    assert await directory.by_id(ana.id) is None and await directory.by_telegram(4545) is None
