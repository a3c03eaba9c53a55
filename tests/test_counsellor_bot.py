"""The counsellors' Telegram bot: real-format updates to ``POST /webhooks/counsellor``, the Bot API
a local stand-in over real HTTP, the real handoff service over a migrated SQLite database and
in-process live state.

Each test reads what counsellors and strangers were shown (the stand-in's calls) and what she
was sent (the service's reach).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI

from bot.assistant import BotMessage
from bot.cli import main
from bot.db import make_engine
from bot.directory.migrate import upgrade
from bot.gateway.sealing import Sealer
from bot.handoff import cli as counsellors_cli
from bot.handoff import webhook
from bot.handoff.counsellors import CounsellorDirectory
from bot.handoff.records import Reason
from bot.handoff.service import CANCEL, ERASE, HandoffService, ReplyStatus, Timing, label_of
from bot.handoff.store import HandoffStore
from bot.handoff.telegram_bot import CounsellorBot, Credentials
from bot.handoff.telegram_texts import REFUSAL
from bot.identity import pseudonym
from bot.live import MemoryLiveState
from bot.safety_fallback import SafetyFallback
from bot.settings import Settings, get_settings
from tests.doubles import ClockedLiveState, FrozenClock, RecordingReach, ScriptedAssistant, always_open
from tests.standins import telegram as tg
from tests.standins.server import Served
from tests.standins.telegram import BOT_USER, SECRET, SECRET_HEADER, TOKEN, TelegramStandIn

GROUP = -1001234567890
FIRST_MESSAGE_ID = 1001  # the stand-in numbers the bot's messages from here, in sending order
MIRA, JONA, STRANGER = 5001, 5002, 6666  # Telegram user ids: two counsellors, someone unregistered
PEPPER = b"counsellor-bot-test-pepper-" + b"x" * 16
ALWAYS_OPEN = always_open()


class Woman:
    """A woman whose chat went to the counsellors: her pseudonym, her label, her handoff."""

    def __init__(self, desk: Desk, user_id: int, channel: str) -> None:
        self.desk = desk
        self.sender_id = pseudonym(PEPPER, channel, str(user_id))
        self.label = label_of(self.sender_id)
        self.channel = channel
        self.handoff_id = ""
        self.told: list[str] = []

    async def deliver(self, messages: list[BotMessage]) -> None:
        self.told.extend(message.text or "" for message in messages)

    async def says(self, text: str) -> None:
        assert await self.desk.service.intercept(self.sender_id, text, self.deliver)

    @property
    def sent(self) -> list[str]:
        """What counsellors sent her."""
        return self.desk.reach.to(self.sender_id)


@dataclass
class Parts:
    """The real handoff service over a migrated SQLite database, and what it was given."""

    service: HandoffService
    live: ClockedLiveState  # in-process, expiring on the frozen clock
    reach: RecordingReach
    clock: FrozenClock
    assistant: ScriptedAssistant


class Desk:
    """One test's world: the service, the bot behind its webhook, the stand-in, and updates."""

    def __init__(self, parts: Parts, client: httpx.AsyncClient, standin: TelegramStandIn,
                 bot: CounsellorBot) -> None:
        self.service, self.client, self.standin, self.bot = parts.service, client, standin, bot
        self.reach, self.clock, self.assistant, self.live = parts.reach, parts.clock, parts.assistant, parts.live
        self._ids = itertools.count(1)
        self._women = itertools.count(900001)

    async def counsellor(self, name: str, telegram_user_id: int | None, **options: Any) -> int:
        return (await self.service.counsellors.add(name, telegram_user_id=telegram_user_id, **options)).id

    async def woman(self, channel: str = "telegram", reason: Reason = Reason.DANGER, language: str = "sq",
                    before: tuple[str, ...] = ()) -> Woman:
        """She asks for a person (danger: straight to the queue) after telling the assistant ``before``."""
        her = Woman(self, next(self._women), channel)
        self.assistant.sent.extend((her.sender_id, text) for text in before)
        await self.service.request(her.sender_id, reason, her.deliver, channel=channel, language=language,
                                   need="shelter", place="Tirana")
        post = self.calls("sendMessage", chat_id=str(GROUP))[-1]
        her.handoff_id = post.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"].removeprefix("take:")
        return her

    async def post(self, update: dict[str, Any], secret: str | None = SECRET) -> httpx.Response:
        headers = {"Content-Type": "application/json"} | ({SECRET_HEADER: secret} if secret is not None else {})
        return await self.client.post("/webhooks/counsellor", content=json.dumps(update), headers=headers)

    async def command(self, user: int, text: str) -> None:
        """``text`` (``/command args``) in the user's private chat with the bot."""
        entity = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
        await self._ok(tg.text_update(next(self._ids), user, text, message_id=next(self._ids), entities=entity))

    async def write(self, user: int, text: str, reply_to: tg.ApiCall | None = None) -> int:
        """Text in the user's private chat (replying to a message of the bot's); its message id."""
        message_id = next(self._ids)
        extra = {"reply_to_message": _bot_message(user, reply_to)} if reply_to else {}
        await self._ok(tg.text_update(next(self._ids), user, text, message_id=message_id, **extra))
        return message_id

    async def press(self, user: int, data: str, *, in_group: bool = False, message_id: int = 1001,
                    replying_to: dict[str, Any] | None = None) -> str:
        """A press of a button under the bot's message ``message_id``; the query's id."""
        query_id = f"query-{next(self._ids)}"
        update = tg.callback_update(next(self._ids), user, data, message_id=message_id, query_id=query_id,
                                    chat=tg.group_chat(GROUP) if in_group else None)
        if replying_to is not None:
            update["callback_query"]["message"]["reply_to_message"] = replying_to
        await self._ok(update)
        return query_id

    async def _ok(self, update: dict[str, Any]) -> None:
        response = await self.post(update)
        assert response.status_code == 200, response.text

    def calls(self, method: str | None = None, **params: Any) -> list[tg.ApiCall]:
        return self.standin.calls(method, **params)

    def texts_to(self, user: int) -> list[str]:
        return [call.params["text"] for call in self.calls("sendMessage", chat_id=str(user))]

    def answer_to(self, query_id: str) -> str | None:
        [answer] = self.calls("answerCallbackQuery", callback_query_id=query_id)
        return answer.params.get("text")

    def message_ids_to(self, user: int) -> list[int]:
        """The ids the stand-in gave the bot's messages in the user's private chat."""
        return [FIRST_MESSAGE_ID + index for index, call in enumerate(self.calls("sendMessage"))
                if call.params["chat_id"] == str(user)]

    async def post_of(self, her: Woman) -> str | None:
        """What live state keeps of her request's group post."""
        return await self.live.value_get(f"handoff:post:{her.handoff_id}")


def _bot_message(user: int, sent: tg.ApiCall) -> dict[str, Any]:
    """A message the bot sent, as Telegram puts it in the reply to it."""
    return {"message_id": 1, "from": BOT_USER, "chat": tg.private_chat(user), "date": int(time.time()),
            "text": sent.params["text"]}


@pytest.fixture(scope="module")
def standin() -> TelegramStandIn:
    return TelegramStandIn()


@pytest.fixture(scope="module")
def api(standin: TelegramStandIn):
    with Served(standin.app) as served:
        yield served.url


@pytest.fixture(scope="module")
def fallback() -> SafetyFallback:
    return SafetyFallback.load(Settings())


@pytest.fixture
def parts(tmp_path, fallback) -> Iterator[Parts]:
    url = f"sqlite:///{tmp_path / 'helpline.db'}"
    upgrade(url)
    engine = make_engine(url)
    reach, clock, assistant = RecordingReach(), FrozenClock(), ScriptedAssistant()
    live = ClockedLiveState(MemoryLiveState(), clock, {})
    service = HandoffService(live, HandoffStore(engine, Sealer([Fernet.generate_key()]), transcript_days=30),
                             CounsellorDirectory(engine), assistant, fallback, reach, ALWAYS_OPEN,
                             Timing(clock=clock))
    yield Parts(service, live, reach, clock, assistant)
    engine.dispose()


@asynccontextmanager
async def webhook_client(bot: CounsellorBot | None) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with the counsellor webhook and ``bot`` (None: the bot is off)."""
    app = FastAPI()
    app.include_router(webhook.router)
    app.state.counsellor_bot = bot
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://app") as client:
        yield client


@pytest.fixture
async def desk(parts, standin, api) -> AsyncIterator[Desk]:
    standin.reset()
    bot = CounsellorBot(Credentials(TOKEN, SECRET, GROUP, api), parts.service, parts.live)
    await bot.start()
    async with webhook_client(bot) as client:
        yield Desk(parts, client, standin, bot)
    await bot.stop()


# ------------------------------------------------------------- the group post and Take


async def test_a_request_is_posted_to_the_group_and_taken_with_its_button(desk: Desk) -> None:
    await desk.counsellor("Mira", MIRA)
    her = await desk.woman(before=("he is outside the door",))
    await her.says("I am still here")

    [post] = desk.calls("sendMessage", chat_id=str(GROUP))
    summary = post.params["text"]
    assert f"[{her.label}]" in summary and "immediate danger" in summary and "telegram" in summary
    assert "sq" in summary and "shelter" in summary and "Tirana" in summary and "Waiting:" in summary
    assert her.sender_id not in summary  # the label only, never the whole pseudonym
    [[take]] = post.params["reply_markup"]["inline_keyboard"]
    assert take == {"text": f"Take [{her.label}]", "callback_data": f"take:{her.handoff_id}"}

    query = await desk.press(MIRA, take["callback_data"], in_group=True)

    assert desk.answer_to(query) == "Taken"
    [edit] = desk.calls("editMessageText")
    assert edit.params["chat_id"] == str(GROUP) and edit.params["message_id"] == "1001"
    assert "taken by Mira" in edit.params["text"] and "reply_markup" not in edit.params
    [history] = desk.texts_to(MIRA)
    assert history.startswith(f"[{her.label}] Yours now (telegram · sq)")
    assert "her: he is outside the door" in history and "her: I am still here" in history
    assert any("Mira" in text for text in her.sent)  # she is told who joined


async def test_take_answers_every_press_and_refuses_what_cannot_be_taken(desk: Desk) -> None:
    await desk.counsellor("Mira", MIRA, max_chats=1)
    await desk.counsellor("Jona", JONA)
    first, second, third = await desk.woman(), await desk.woman(), await desk.woman()

    assert desk.answer_to(await desk.press(MIRA, f"take:{first.handoff_id}", in_group=True)) == "Taken"
    assert desk.answer_to(await desk.press(JONA, f"take:{first.handoff_id}", in_group=True)) == \
        "Someone else took it"
    assert desk.answer_to(await desk.press(MIRA, f"take:{second.handoff_id}", in_group=True)) == \
        "You are at your limit"
    await third.says(CANCEL)
    assert desk.answer_to(await desk.press(JONA, f"take:{third.handoff_id}", in_group=True, message_id=1003)) == \
        "She is no longer waiting"
    edits = desk.calls("editMessageText")
    assert [e.params["message_id"] for e in edits] == ["1001", "1003"]
    assert edits[1].params["text"] == f"[{third.label}]: no longer waiting."
    assert [w.handoff_id for w in await desk.service.waiting()] == [second.handoff_id]


@pytest.mark.parametrize("why", ["cancelled", "blocked"])
async def test_a_request_that_left_the_queue_loses_its_take_button(desk: Desk, why: str) -> None:
    await desk.counsellor("Mira", MIRA)
    her = await desk.woman()
    await desk.bot.closed(her.handoff_id, why)  # the service's event: nobody took it, nobody will
    [edit] = desk.calls("editMessageText")
    assert edit.params["message_id"] == "1001" and "reply_markup" not in edit.params
    assert edit.params["text"] == f"[{her.label}]: no longer waiting."
    assert await desk.post_of(her) is None  # live state forgets the post


async def test_a_message_nobody_took_in_its_time_closes_its_post_days_later(desk: Desk) -> None:
    """Nobody is free, she leaves a message, and nobody takes it in HANDOFF_MESSAGE_HOURS (96):
    days later, its post loses the Take button like any closed request (it outlived a day)."""
    await desk.counsellor("Mira", MIRA)
    her = await desk.woman()
    for _ in range(97):
        desk.clock.now += 3600  # an hour at a time, the sweep running
        await desk.service.sweep()
        assert desk.calls("editMessageText") == []  # still waiting to be taken
    desk.clock.now += 3600
    await desk.service.sweep()
    [edit] = desk.calls("editMessageText")
    assert edit.params["message_id"] == "1001" and "reply_markup" not in edit.params
    assert edit.params["text"] == f"[{her.label}]: no longer waiting."
    assert await desk.post_of(her) is None
    assert await desk.service.waiting() == []
    assert {sender for sender, _ in desk.reach.kept} == {her.sender_id}  # her chat was kept meanwhile


async def test_an_erased_request_leaves_nothing_of_her_in_the_group(desk: Desk) -> None:
    await desk.counsellor("Mira", MIRA)
    her = await desk.woman()
    await desk.bot.closed(her.handoff_id, "erased")
    [edit] = desk.calls("editMessageText")
    assert edit.params["message_id"] == "1001" and "reply_markup" not in edit.params
    assert edit.params["text"] == "This request is closed."
    assert await desk.post_of(her) is None


async def test_her_erasure_deletes_the_bots_copies_of_her_chat_in_every_counsellors_chat(desk: Desk) -> None:
    await desk.counsellor("Mira", MIRA)
    jona = await desk.counsellor("Jona", JONA)
    her = await desk.woman(before=("he is outside the door",))
    await desk.press(MIRA, f"take:{her.handoff_id}", in_group=True)
    await her.says("he took my phone")
    await desk.command(MIRA, f"/transfer {jona}")
    await her.says("I am at my sister's")
    copies_of_mira, copies_of_jona = desk.message_ids_to(MIRA), desk.message_ids_to(JONA)

    await desk.service.erase(her.sender_id)

    deleted = {call.params["chat_id"]: call.params["message_ids"] for call in desk.calls("deleteMessages")}
    assert deleted == {str(MIRA): copies_of_mira, str(JONA): copies_of_jona}
    assert desk.texts_to(JONA)[-1] == f"[{her.label}] She erased her data; the chat has ended."
    assert desk.calls("editMessageText")[-1].params["text"] == "This request is closed."
    assert await desk.post_of(her) is None


@pytest.mark.parametrize("ended_by", ["/end", "her delete my data"])
async def test_her_erasure_after_the_chat_ended_still_deletes_the_copies(desk: Desk, ended_by: str) -> None:
    """"delete my data" to a counsellor ends the chat before she confirms; a chat may have ended
    earlier too: her erasure finds no open chat, and the copies still go."""
    await desk.counsellor("Mira", MIRA)
    her = await desk.woman(before=("he is outside the door",))
    await desk.press(MIRA, f"take:{her.handoff_id}", in_group=True)
    await her.says("he took my phone")
    if ended_by == "/end":
        await desk.command(MIRA, f"/end {her.label}")
        await her.says("/handoff_feedback_yes")  # the chat is over for good
    else:
        assert not await desk.service.intercept(her.sender_id, ERASE, her.deliver)  # the assistant asks
    copies = desk.message_ids_to(MIRA)
    assert desk.calls("deleteMessages") == []

    await desk.service.erase(her.sender_id)  # she confirmed

    deleted = {call.params["chat_id"]: call.params["message_ids"] for call in desk.calls("deleteMessages")}
    assert deleted == {str(MIRA): copies}  # the chat so far, her words, the end notice
    assert await desk.post_of(her) is None


async def test_take_from_the_queue_command(desk: Desk) -> None:
    await desk.counsellor("Mira", MIRA)
    her = await desk.woman()
    await desk.command(MIRA, "/queue")
    [listing] = desk.calls("sendMessage", chat_id=str(MIRA))
    assert listing.params["text"].startswith(f"1. [{her.label}] immediate danger · telegram · sq")
    [[take]] = listing.params["reply_markup"]["inline_keyboard"]

    assert desk.answer_to(await desk.press(MIRA, take["callback_data"])) == "Taken"
    assert "taken by Mira" in desk.calls("editMessageText")[0].params["text"]  # the group post too
    await desk.command(MIRA, "/queue")
    assert desk.texts_to(MIRA)[-1] == "Nobody is waiting."


# -------------------------------------------------------------------- strangers


async def test_someone_unregistered_is_refused_and_shown_nothing(desk: Desk) -> None:
    await desk.counsellor("Mira", MIRA)
    her = await desk.woman()
    await her.says("my words")
    before = len(desk.calls())

    await desk.command(STRANGER, "/start")
    await desk.command(STRANGER, "/queue")
    await desk.command(STRANGER, "/chats")
    await desk.write(STRANGER, "hello, who is waiting?")
    query = await desk.press(STRANGER, f"take:{her.handoff_id}", in_group=True)
    await desk.press(STRANGER, f"canned:{her.handoff_id}:0")

    seen = desk.calls()[before:]
    assert [(c.method, c.params.get("text")) for c in seen] == [("sendMessage", REFUSAL)] * 4 + \
        [("answerCallbackQuery", REFUSAL)] * 2
    assert all(c.params.get("chat_id") in (None, str(STRANGER)) for c in seen)
    assert desk.answer_to(query) == REFUSAL
    assert [w.handoff_id for w in await desk.service.waiting()] == [her.handoff_id]  # not taken
    assert her.sent == [] and not any(her.label in json.dumps(c.params) for c in seen)


async def test_talk_in_the_group_is_ignored(desk: Desk) -> None:
    await desk.counsellor("Mira", MIRA)
    await desk.woman()
    before = len(desk.calls())
    group_message = tg.text_update(77, MIRA, "/queue", chat=tg.group_chat(GROUP),
                                   entities=[{"offset": 0, "length": 6, "type": "bot_command"}])
    assert (await desk.post(group_message)).status_code == 200
    assert (await desk.post(tg.text_update(78, STRANGER, "hi all", chat=tg.group_chat(GROUP)))).status_code == 200
    assert desk.calls()[before:] == []


# ------------------------------------------------------------------------ relay


async def test_several_chats_each_labelled_and_words_to_the_chosen_one(desk: Desk) -> None:
    await desk.counsellor("Mira", MIRA)
    ana, besa, cleo = await desk.woman("telegram"), await desk.woman("whatsapp", language="en"), await desk.woman()
    for her in (ana, besa, cleo):
        await desk.press(MIRA, f"take:{her.handoff_id}", in_group=True)
    await ana.says("from ana")
    await besa.says("from besa")
    assert desk.texts_to(MIRA)[-2:] == [f"[{ana.label}] from ana", f"[{besa.label}] from besa"]
    await desk.command(MIRA, f"/end {cleo.label}")  # the chat taken last, so the one chosen, ends

    # several and no choice: she is asked which, each chat a button; a press sends the words there
    words_id = await desk.write(MIRA, "hello")
    question = desk.calls("sendMessage", chat_id=str(MIRA))[-1]
    assert question.params["text"] == "You hold several chats: which one is this for?"
    assert question.params["reply_parameters"]["message_id"] == words_id
    buttons = [row[0]["callback_data"] for row in question.params["reply_markup"]["inline_keyboard"]]
    assert buttons == [f"send:{ana.handoff_id}", f"send:{besa.handoff_id}"]
    assert ana.sent[-1] != "hello" and besa.sent[-1] != "hello"
    replied = {"message_id": words_id, "from": tg.user(MIRA), "chat": tg.private_chat(MIRA),
               "date": int(time.time()), "text": "hello"}
    query = await desk.press(MIRA, buttons[1], message_id=1234, replying_to=replied)
    assert desk.answer_to(query) == f"Sent to [{besa.label}]."
    assert besa.sent[-1] == "hello"
    again = await desk.press(MIRA, buttons[1], message_id=1234, replying_to=replied)
    assert desk.answer_to(again) == "Already sent" and besa.sent.count("hello") == 1

    # that press chose her chat; /use chooses another
    await desk.write(MIRA, "still you")
    assert besa.sent[-1] == "still you"
    await desk.command(MIRA, f"/use {ana.label}")
    assert desk.texts_to(MIRA)[-1] == f"Now writing to [{ana.label}]."
    await desk.write(MIRA, "to ana now")
    assert ana.sent[-1] == "to ana now"

    # a reply to a message of a chat goes to that chat, whatever was chosen
    from_besa = next(c for c in desk.calls("sendMessage", chat_id=str(MIRA))
                     if c.params["text"] == f"[{besa.label}] from besa")
    await desk.write(MIRA, "answering you, besa", reply_to=from_besa)
    assert besa.sent[-1] == "answering you, besa" and ana.sent[-1] == "to ana now"

    await desk.command(MIRA, "/chats")
    listing = desk.texts_to(MIRA)[-1]
    assert f"[{ana.label}] telegram · sq" in listing and f"[{besa.label}] whatsapp · en" in listing
    assert f"[{ana.label}] telegram · sq, for under a minute (selected)" in listing


async def test_a_chat_just_taken_gets_the_counsellors_words_and_each_send_names_its_chat(desk: Desk) -> None:
    """Mira chose Ana, then takes Cleo and reads her history: what she writes next goes to Cleo."""
    await desk.counsellor("Mira", MIRA)
    ana, bea, cleo = await desk.woman(), await desk.woman(), await desk.woman()
    for her in (ana, bea):
        await desk.press(MIRA, f"take:{her.handoff_id}", in_group=True)
    await desk.command(MIRA, f"/use {ana.label}")
    await desk.press(MIRA, f"take:{cleo.handoff_id}", in_group=True)
    intro = desk.texts_to(MIRA)[-1]
    assert intro.startswith(f"[{cleo.label}] Yours now") and f"Your replies now go to [{cleo.label}]." in intro

    words = await desk.write(MIRA, "Cleo, call 112 now")
    assert cleo.sent[-1] == "Cleo, call 112 now"
    assert "Cleo, call 112 now" not in ana.sent + bea.sent
    confirmation = desk.calls("sendMessage", chat_id=str(MIRA))[-1]
    assert confirmation.params["text"] == f"Sent to [{cleo.label}]."
    assert confirmation.params["reply_parameters"]["message_id"] == words

    await desk.command(MIRA, f"/use {ana.label}")
    await desk.write(MIRA, "Ana, I am back")
    assert ana.sent[-1] == "Ana, I am back" and desk.texts_to(MIRA)[-1] == f"Sent to [{ana.label}]."


async def test_two_women_on_one_platform_have_different_labels(desk: Desk) -> None:
    await desk.counsellor("Mira", MIRA)
    ana, besa = await desk.woman("telegram"), await desk.woman("telegram")
    assert ana.label != besa.label


async def test_one_chat_needs_no_choice_and_only_text_reaches_her(desk: Desk) -> None:
    await desk.counsellor("Mira", MIRA)
    her = await desk.woman()
    await desk.press(MIRA, f"take:{her.handoff_id}", in_group=True)
    await desk.write(MIRA, "I am here")
    assert her.sent[-1] == "I am here"
    assert not any(text.startswith("Sent to") for text in desk.texts_to(MIRA))  # one chat: nothing to confuse
    sticker = tg.message_update(90, MIRA, sticker={"file_id": "x", "file_unique_id": "y", "type": "regular",
                                                   "width": 512, "height": 512, "is_animated": False,
                                                   "is_video": False})
    assert (await desk.post(sticker)).status_code == 200
    assert desk.texts_to(MIRA)[-1] == "Only text reaches her."
    assert her.sent[-1] == "I am here"


async def test_words_that_could_not_reach_her_are_said_not_delivered(desk: Desk, monkeypatch) -> None:
    await desk.counsellor("Mira", MIRA)
    her = await desk.woman()
    await desk.press(MIRA, f"take:{her.handoff_id}", in_group=True)

    async def unreachable(counsellor_id: int, handoff_id: str, text: str) -> ReplyStatus:
        return ReplyStatus.UNREACHABLE  # her address is gone: the chat is still Mira's

    monkeypatch.setattr(desk.service, "reply", unreachable)
    await desk.write(MIRA, "are you safe?")
    assert desk.texts_to(MIRA)[-1] == f"[{her.label}] Not delivered: she can no longer be reached."


async def test_a_whatsapp_chat_taken_after_her_24_hours_says_so_and_refuses_the_words(desk: Desk) -> None:
    """She left a message on WhatsApp when nobody was free; Mira takes it 25 hours later: the
    intro says WhatsApp's window has passed, and her words are refused, not sent. Another woman,
    taken 23 hours after she wrote, can be answered for the hour left."""
    await desk.counsellor("Mira", MIRA)
    late, early = await desk.woman(channel="whatsapp"), await desk.woman(channel="whatsapp")
    desk.reach.she_wrote(late.sender_id, desk.clock.now - 25 * 3600)
    desk.reach.she_wrote(early.sender_id, desk.clock.now - 23 * 3600)

    await desk.press(MIRA, f"take:{late.handoff_id}", in_group=True)
    [intro] = desk.texts_to(MIRA)
    assert intro.startswith(f"[{late.label}] Yours now (whatsapp · sq)")
    assert "WhatsApp allows answers only until 24 hours after her last message, and that time has passed" in intro
    await desk.write(MIRA, "I am here, are you safe?")
    assert desk.texts_to(MIRA)[-1] == (f"[{late.label}] Not sent: WhatsApp allows answers only until 24 hours "
                                       "after her last message. You can answer her when she writes again.")
    assert "I am here, are you safe?" not in late.sent

    await desk.press(MIRA, f"take:{early.handoff_id}", in_group=True, message_id=1002)
    assert "WhatsApp allows answers only until 24 hours after her last message: 59 min left." in \
        desk.texts_to(MIRA)[-1]
    await desk.write(MIRA, "I am here for you")
    assert early.sent[-1] == "I am here for you"
    for text in desk.texts_to(MIRA):  # she is her label only: never her number or pseudonym
        assert late.sender_id not in text and early.sender_id not in text


async def test_words_with_no_chat_and_unknown_labels(desk: Desk) -> None:
    await desk.counsellor("Mira", MIRA)
    await desk.write(MIRA, "anyone?")
    assert desk.texts_to(MIRA)[-1] == "You hold no chat. /queue shows who is waiting."
    her = await desk.woman()
    await desk.press(MIRA, f"take:{her.handoff_id}", in_group=True)
    await desk.command(MIRA, "/use deadbeef")
    assert desk.texts_to(MIRA)[-1] == "You hold no chat [deadbeef]."


# --------------------------------------------------------------------- commands


async def test_start_greets_a_counsellor_by_name(desk: Desk) -> None:
    await desk.counsellor("Mira", MIRA)
    await desk.command(MIRA, "/start")
    assert desk.texts_to(MIRA)[-1].startswith("Hello Mira.")
    await desk.command(MIRA, "/nonsense")
    assert desk.texts_to(MIRA)[-1].startswith("Hello Mira.")  # an unknown command: the help


async def test_end_returns_her_to_the_assistant(desk: Desk) -> None:
    await desk.counsellor("Mira", MIRA)
    her = await desk.woman()
    await desk.press(MIRA, f"take:{her.handoff_id}", in_group=True)
    await desk.command(MIRA, f"/end {her.label}")
    assert desk.texts_to(MIRA)[-1] == f"[{her.label}] The chat has ended; she is back with the assistant."
    assert await desk.service.chats_of(1) == []
    assert len(her.sent) == 2  # who joined, then the closing message
    assert await desk.post_of(her) is None  # over for good: live state forgets its group post
    await desk.command(MIRA, "/end")
    assert desk.texts_to(MIRA)[-1] == "You hold no chat. /queue shows who is waiting."


async def test_transfer_to_a_colleague_and_to_the_queue(desk: Desk) -> None:
    await desk.counsellor("Mira", MIRA)
    jona = await desk.counsellor("Jona", JONA)
    her = await desk.woman()
    await desk.press(MIRA, f"take:{her.handoff_id}", in_group=True)
    await her.says("are you there?")

    await desk.command(MIRA, "/transfer")
    assert desk.texts_to(MIRA)[-1].endswith(f"Counsellors:\n{jona}: Jona")
    await desk.command(MIRA, f"/transfer {jona}")
    assert desk.texts_to(MIRA)[-1] == f"[{her.label}] Transferred."
    [history] = desk.texts_to(JONA)
    assert history.startswith(f"[{her.label}] Yours now") and "her: are you there?" in history
    assert "taken by Jona" in desk.calls("editMessageText")[-1].params["text"]
    await desk.write(JONA, "Jona here")
    assert her.sent[-1] == "Jona here"

    await desk.command(JONA, f"/transfer {her.label} queue")
    assert desk.texts_to(JONA)[-1] == f"[{her.label}] Transferred."
    assert [w.handoff_id for w in await desk.service.waiting()] == [her.handoff_id]
    assert len(desk.calls("sendMessage", chat_id=str(GROUP))) == 2  # posted again, with its button
    await desk.command(MIRA, f"/transfer {her.label} {jona}")
    assert desk.texts_to(MIRA)[-1] == "You hold no chat. /queue shows who is waiting."


async def test_a_silent_counsellor_is_told_the_chat_went_back(desk: Desk) -> None:
    await desk.counsellor("Mira", MIRA)
    her = await desk.woman()
    await desk.press(MIRA, f"take:{her.handoff_id}", in_group=True)
    await her.says("hello?")
    desk.clock.now += 3600
    await desk.service.sweep()
    assert desk.texts_to(MIRA)[-1] == f"[{her.label}] Back in the queue: her message waited too long for an answer."


async def test_a_note_is_kept_for_counsellors_only(desk: Desk) -> None:
    mira = await desk.counsellor("Mira", MIRA)
    her = await desk.woman()
    await desk.press(MIRA, f"take:{her.handoff_id}", in_group=True)
    await desk.command(MIRA, "/note")
    assert desk.texts_to(MIRA)[-1].startswith("/note TEXT")
    await desk.command(MIRA, "/note she has two children\nand no car")
    assert desk.texts_to(MIRA)[-1] == f"[{her.label}] Note saved."
    lines = await desk.service.lines(await desk.service.counsellors.by_id(mira), her.handoff_id)
    assert [(line.author, line.text) for line in lines][-1] == ("note", "she has two children\nand no car")
    assert not any("children" in text for text in her.sent)


async def test_away_and_back(desk: Desk) -> None:
    mira = await desk.counsellor("Mira", MIRA)
    await desk.command(MIRA, "/away")
    assert await desk.service.is_away(mira)
    assert desk.texts_to(MIRA)[-1].startswith("You are away.")
    await desk.command(MIRA, "/chats")
    assert desk.texts_to(MIRA)[-1] == "You are away."
    await desk.command(MIRA, "/back")
    assert not await desk.service.is_away(mira)
    assert desk.texts_to(MIRA)[-1] == "Welcome back."


async def test_canned_replies_in_her_language(desk: Desk) -> None:
    await desk.counsellor("Mira", MIRA)
    her = await desk.woman(language="sq")
    await desk.press(MIRA, f"take:{her.handoff_id}", in_group=True)
    await desk.command(MIRA, "/canned")
    offer = desk.calls("sendMessage", chat_id=str(MIRA))[-1]
    assert offer.params["text"] == f"[{her.label}] Replies ready in her language (sq):"
    buttons = [row[0] for row in offer.params["reply_markup"]["inline_keyboard"]]
    replies = desk.service.canned("sq")
    assert [b["text"] for b in buttons] == [title for title, _ in replies]

    query = await desk.press(MIRA, buttons[1]["callback_data"])
    assert desk.answer_to(query) == f"Sent to [{her.label}]."
    assert her.sent[-1] == replies[1][1]
    assert desk.texts_to(MIRA)[-1] == f"[{her.label}] You sent: {replies[1][1]}"


# ---------------------------------------------------------------------- webhook


async def test_the_webhook_refuses_a_forged_or_missing_secret(desk: Desk) -> None:
    await desk.counsellor("Mira", MIRA)
    update = tg.text_update(1, MIRA, "hello")
    for secret in ("forged", "", SECRET + "x", None):
        assert (await desk.post(update, secret=secret)).status_code == 403
    assert desk.calls("sendMessage") == []


async def test_the_webhook_refuses_what_is_not_an_update(desk: Desk) -> None:
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    for body in (b"{not json", b"[]", b"{}", b"\xff\xfe"):
        response = await desk.client.post("/webhooks/counsellor", content=body, headers=headers)
        assert response.status_code == 400, body
    big = b'{"update_id": 1, "x": "' + b"a" * 1_000_001 + b'"}'
    assert (await desk.client.post("/webhooks/counsellor", content=big, headers=headers)).status_code == 413


async def test_an_update_delivered_again_is_acknowledged_and_ignored(desk: Desk) -> None:
    await desk.counsellor("Mira", MIRA)
    her = await desk.woman()
    await desk.press(MIRA, f"take:{her.handoff_id}", in_group=True)
    update = tg.text_update(4242, MIRA, "I am here with you", message_id=77)
    for _ in range(2):  # Telegram delivers it again when our answer got lost
        assert (await desk.post(update)).status_code == 200
    assert her.sent.count("I am here with you") == 1
    other = tg.text_update(4243, MIRA, "I am here with you", message_id=78)  # written twice: sent twice
    assert (await desk.post(other)).status_code == 200
    assert her.sent.count("I am here with you") == 2


async def test_the_webhook_is_not_found_when_the_bot_is_off() -> None:
    async with webhook_client(None) as client:
        response = await client.post("/webhooks/counsellor", content=b"{}", headers=tg.webhook_headers())
    assert response.status_code == 404
    assert CounsellorBot.from_settings(Settings(counsellor_bot_token="t", counsellor_webhook_secret="s"),
                                       None, None) is None  # type: ignore[arg-type]


async def test_telegram_unreachable_at_start_delays_the_bot_not_the_app(parts, standin, api) -> None:
    standin.reset()
    standin.script("getMe", tg.server_error())
    await parts.service.counsellors.add("Mira", telegram_user_id=MIRA)
    bot = CounsellorBot(Credentials(TOKEN, SECRET, GROUP, api), parts.service, parts.live)
    await bot.start()  # returns: the app goes on starting
    update = json.dumps(tg.text_update(1, MIRA, "/start", entities=[
        {"offset": 0, "length": 6, "type": "bot_command"}]))
    try:
        async with webhook_client(bot) as client:
            async def post() -> int:
                response = await client.post("/webhooks/counsellor", content=update, headers=tg.webhook_headers())
                return response.status_code

            assert await post() == 503  # Telegram delivers it again
            for _ in range(100):
                if bot.ready:
                    break
                await asyncio.sleep(0.05)
            assert await post() == 200
        assert standin.calls("sendMessage")[0].params["text"].startswith("Hello Mira.")
    finally:
        await bot.stop()


# -------------------------------------------------------------------------- CLI


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="helpline")
    commands = parser.add_subparsers(dest="command", required=True)
    counsellors_cli.register(commands)
    args = parser.parse_args(argv)
    return args.handler(args)


@pytest.fixture
def configured(tmp_path, monkeypatch):
    """The environment of an administrator's shell: a migrated database."""
    url = f"sqlite:///{tmp_path / 'helpline.db'}"
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_helpline_counsellors_add_list_remove(configured, monkeypatch, capsys) -> None:
    assert _cli("counsellors", "add", str(MIRA), "--name", "Mira") == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert _cli("counsellors", "add", "--name", "Ada", "--login", "ada", "--password-stdin", "--admin",
                "--max-chats", "5") == 0
    assert _cli("counsellors", "add", str(MIRA), "--name", "Mira again") == 1
    assert _cli("counsellors", "add", "--name", "Nobody") == 2
    assert _cli("counsellors", "add", "--name", "Half", "--login", "half") == 2
    assert _cli("counsellors", "list") == 0
    out = capsys.readouterr().out
    assert f"1\tMira\tcounsellor\t{MIRA}\t-" in out and "2\tAda\tadmin\t-\tada" in out
    assert "argon2" not in out and "correct horse" not in out

    engine = make_engine(configured)
    assert asyncio.run(CounsellorDirectory(engine).check_login("ada", "correct horse battery")) is not None

    assert _cli("counsellors", "remove", "1") == 0
    assert _cli("counsellors", "remove", "1") == 1
    capsys.readouterr()
    _cli("counsellors", "list")
    assert "Mira" not in capsys.readouterr().out
    engine.dispose()


def test_helpline_channels_setup_counsellor(standin, api, monkeypatch, capsys) -> None:
    """The command an operator runs: the webhook at PUBLIC_URL with the secret, through the stand-in."""
    standin.reset()
    for name, value in {"COUNSELLOR_BOT_TOKEN": TOKEN, "COUNSELLOR_WEBHOOK_SECRET": SECRET,
                        "COUNSELLOR_GROUP_CHAT_ID": str(GROUP), "TELEGRAM_API_BASE": api,
                        "PUBLIC_URL": "https://helpline.example.org/"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        assert main(["channels", "setup", "counsellor"]) == 0
        standin.script("setWebhook", tg.error(400, "Bad Request: bad webhook: HTTPS url must be provided"))
        assert main(["channels", "setup", "counsellor"]) == 1
        monkeypatch.delenv("COUNSELLOR_GROUP_CHAT_ID")
        get_settings.cache_clear()
        assert main(["channels", "setup", "counsellor"]) == 2
    finally:
        get_settings.cache_clear()
    [registered, _] = standin.calls("setWebhook")
    assert registered.params["url"] == "https://helpline.example.org/webhooks/counsellor"
    assert registered.params["secret_token"] == SECRET
    assert registered.params["allowed_updates"] == ["message", "callback_query"]
    out = capsys.readouterr().out
    assert "counsellor: webhook registered at https://helpline.example.org/webhooks/counsellor" in out
    assert "counsellor: the webhook was not registered: BadRequest" in out
    assert "counsellor is off" in out and TOKEN not in out and SECRET not in out
