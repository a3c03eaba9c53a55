"""Counsellor handoff under load: 50 chats handed off at once, 20 counsellors, relay both ways.

The app runs as its own process (as ``helpline run`` starts it) with a stand-in
Rasa that answers "I want to talk to a person" with the handoff directive, as
``action_request_human`` does, and the local Telegram Bot API stand-in for both
bots (hers and the counsellors'; the token of each call tells them apart). Every
update is real-format and carries the webhook's secret.

1. **Requests.** 50 women on Telegram ask for a person at once, get the consent
   question, press Yes: each request is posted to the counsellors' group.
2. **Claim contention.** 20 registered counsellors (at most 3 chats each) all
   press Take on every one of the 50 posts at the same moment (1000 presses). Each
   chat must be claimed exactly once, nobody may hold more than 3, and each woman
   must be told once who joined. A chat nobody got (every press lost to a
   reservation that was then given back) is pressed again by those with room.
3. **Relay.** Each chat exchanges ``--rounds`` messages each way: her message
   (webhook POST to the counsellor bot's ``sendMessage`` into the holder's private
   chat), then the counsellor's answer as a reply to it (counsellor webhook POST to
   her bot's ``sendMessage`` into her chat). A round starts every ``--period``
   seconds per chat (10 by default: 50 people each writing every 10 s, faster than
   people type), the chats spread over the period. A shorter period finds where one
   instance saturates; below about 2 s Telegram's own limits (a message a second
   into one chat, 30 a second per bot), which the channel keeps, would set the pace.
4. **End.** Each counsellor ends each chat (``/end <label>``); she gets the closing
   question.

Counted afterwards, from everything the stand-in received: messages lost (never
arrived), duplicated (arrived twice), out of order (within a chat), misrouted
(to another chat), and any of her relayed words that reached the assistant.

    PYTHONPATH=. .venv/bin/python -m bench.bench_handoff            # embedded stores (SQLite, in-process)
    PYTHONPATH=. .venv/bin/python -m bench.bench_handoff --shared   # a fresh PostgreSQL database + Redis db 13

Target: p95 under 100 ms both ways on loopback; nothing lost, duplicated, out of
order or misrouted; every chat claimed once. Needs no trained model.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import itertools
import json
import os
import random
import re
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from bench.bench_directory import temporary_postgres
from bench.bench_gateway import percentiles
from bot.db import make_engine
from bot.directives import HANDOFF_DIRECTIVE
from bot.handoff.counsellors import CounsellorDirectory
from bot.handoff.service import label_of
from bot.handoff.telegram_texts import TEXTS
from bot.identity import pseudonym
from bot.settings import Settings
from tests.gateway_harness import PEPPER, AppProcess, app_settings, start_app_process
from tests.standins import telegram
from tests.standins.rasa import RasaStandIn, echo
from tests.standins.server import Call, Served

REDIS_URL = "redis://127.0.0.1:6379/13"
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
COUNSELLOR_TOKEN = "987654321:AAF-bench-counsellor-token_0123456789a"
COUNSELLOR_SECRET = "bench-counsellor-webhook-secret_0123456"
COUNSELLOR_BOT = {"id": 987654321, "is_bot": True, "first_name": "Counsellors", "username": "counsellors_bot"}
GROUP = -1009876543210
COUNSELLORS = tuple(range(5001, 5021))
MAX_CHATS = 3
WOMEN = 50
FIRST_CHAT = 7_400_000_001
ASK = "I want to talk to a person"
TARGET_P95_MS = 100.0
TIMEOUT = 15.0  # seconds for one message before it counts as lost
GRACE_SECONDS = 3.0  # after the relay, for late duplicates to show
CLAIM_ROUNDS = 5
ALWAYS_OPEN = "timezone: UTC\nweek:\n" + "".join(f"  {d}: ['00:00-24:00']\n" for d in
                                                 ("mon", "tue", "wed", "thu", "fri", "sat", "sun")) + "holidays: []\n"
_LABEL = re.compile(r"^\[([^\]\s]+)\] ")


def assistant(sender: str, message: str) -> list[dict[str, Any]]:
    """Asking for a person: the handoff directive (as ``action_request_human`` sends it); else an echo."""
    if message == ASK:
        return [{"recipient_id": sender, "custom": {HANDOFF_DIRECTIVE: {"reason": "asked"}}}]
    return echo(sender, message)


# ------------------------------------------------------------- the stand-in


@dataclass
class Sent:
    text: str
    at: float  # time.monotonic() when the stand-in received the call
    params: dict[str, Any]


class Observed:
    """Every ``sendMessage`` and ``answerCallbackQuery`` the stand-in gets, as it arrives, by
    (bot token, chat); hooked into its recorder (the stand-in's thread hands them to the loop)."""

    def __init__(self, standin: telegram.TelegramStandIn, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.sent: dict[tuple[str, int], list[Sent]] = defaultdict(list)
        self.answers: dict[str, Sent] = {}  # callback query id -> the answer
        self._events: dict[tuple[str, int], asyncio.Event] = defaultdict(asyncio.Event)
        standin.recorder.respond = self._observe

    def _observe(self, call: Call) -> None:
        """Hand the call to the loop (none after the run: the app's shutdown still calls); None, so
        that the stand-in answers as Telegram does."""
        if call.path.endswith(("/sendMessage", "/answerCallbackQuery")) and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._arrived, telegram.api_call(call))

    def _arrived(self, api: telegram.ApiCall) -> None:
        sent = Sent(api.params.get("text", ""), api.at, api.params)
        if api.method == "answerCallbackQuery":
            self.answers[api.params["callback_query_id"]] = sent
            return
        key = (api.token, int(api.params["chat_id"]))
        self.sent[key].append(sent)
        self._events[key].set()

    async def first(self, token: str, chat: int, contains: str, timeout: float = TIMEOUT,
                    buttons: bool = False) -> Sent | None:
        """The first message ``chat`` got from the bot ``token`` containing ``contains`` (with
        buttons, if asked), waiting up to ``timeout``; None if none came."""
        key = (token, chat)
        deadline = time.monotonic() + timeout
        while True:
            found = next((s for s in self.sent[key] if contains in s.text
                          and (not buttons or "reply_markup" in s.params)), None)
            if found is not None or time.monotonic() >= deadline:
                return found
            self._events[key].clear()
            try:
                await asyncio.wait_for(self._events[key].wait(), deadline - time.monotonic())
            except TimeoutError:
                pass


# ------------------------------------------------------------------ the run


@dataclass
class Chat:
    her: int  # her Telegram chat id
    label: str
    handoff_id: str = ""
    holder: int | None = None  # the counsellor's Telegram user id


@dataclass
class Figures:
    women: int
    request_to_post: list[float] = field(default_factory=list)
    press_round_trip: list[float] = field(default_factory=list)
    claim_rounds: int = 0
    claim_seconds: float = 0.0
    claims: Counter[str] = field(default_factory=Counter)  # handoff id -> "Taken" answers
    holding: Counter[int] = field(default_factory=Counter)  # counsellor -> chats taken
    joined: Counter[int] = field(default_factory=Counter)  # her chat -> "joined" messages
    her_to_counsellor: list[float] = field(default_factory=list)
    counsellor_to_her: list[float] = field(default_factory=list)
    relay_seconds: float = 0.0
    ended: int = 0
    lost: Counter[str] = field(default_factory=Counter)
    duplicated: Counter[str] = field(default_factory=Counter)
    out_of_order: Counter[str] = field(default_factory=Counter)
    misrouted: Counter[str] = field(default_factory=Counter)
    reached_assistant: int = 0


class Bench:
    def __init__(self, app: AppProcess, rasa: RasaStandIn, observed: Observed, client: httpx.AsyncClient,
                 women: int) -> None:
        self.app, self.rasa, self.observed, self.client = app, rasa, observed, client
        self.updates: Iterator[int] = itertools.count(900_000_001)
        self.her_message_ids: dict[int, Iterator[int]] = defaultdict(lambda: itertools.count(1))
        self.counsellor_message_ids: Iterator[int] = itertools.count(1)
        self.figures = Figures(women)

    # ------------------------------------------------------------ posting

    async def _post(self, path: str, update: dict[str, Any], secret: str) -> None:
        response = await self.client.post(self.app.url + path, content=json.dumps(update).encode(),
                                          headers=telegram.webhook_headers(secret))
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")

    async def her_says(self, chat: Chat, words: str) -> None:
        update = telegram.text_update(next(self.updates), chat.her, words,
                                      message_id=next(self.her_message_ids[chat.her]))
        await self._post("/webhooks/telegram", update, telegram.SECRET)

    async def her_presses(self, chat: Chat, payload: str) -> None:
        update = telegram.callback_update(next(self.updates), chat.her, payload, query_id=uuid.uuid4().hex)
        await self._post("/webhooks/telegram", update, telegram.SECRET)

    async def counsellor_presses(self, counsellor: int, data: str) -> str:
        query = uuid.uuid4().hex
        update = telegram.callback_update(next(self.updates), counsellor, data, query_id=query,
                                          chat=telegram.group_chat(GROUP))
        await self._post("/webhooks/counsellor", update, COUNSELLOR_SECRET)
        return query

    async def counsellor_writes(self, counsellor: int, words: str, replying_to: str | None = None) -> None:
        """Words in the counsellor's private chat with the bot; as a reply to the bot's message
        ``replying_to`` (which starts with her label, and so routes the words to her)."""
        extra: dict[str, Any] = {}
        if words.startswith("/"):
            extra["entities"] = [{"offset": 0, "length": len(words.split()[0]), "type": "bot_command"}]
        if replying_to is not None:
            extra["reply_to_message"] = {"message_id": 1, "from": COUNSELLOR_BOT, "date": int(time.time()),
                                         "chat": telegram.private_chat(counsellor), "text": replying_to}
        update = telegram.text_update(next(self.updates), counsellor, words, message_id=next(self.counsellor_message_ids),
                                      **extra)
        await self._post("/webhooks/counsellor", update, COUNSELLOR_SECRET)

    # ------------------------------------------------------------ phases

    async def request(self, chat: Chat) -> None:
        """She asks, is asked for consent, says yes; her request's group post (and its Take)."""
        await self.her_says(chat, ASK)
        if await self.observed.first(telegram.TOKEN, chat.her, "", buttons=True) is None:
            raise RuntimeError("no consent question came")
        pressed = time.monotonic()
        await self.her_presses(chat, "/handoff_yes")
        post = await self.observed.first(COUNSELLOR_TOKEN, GROUP, f"[{chat.label}]", buttons=True)
        if post is None:
            raise RuntimeError("her request was not posted to the group")
        self.figures.request_to_post.append(post.at - pressed)
        chat.handoff_id = post.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"].partition(":")[2]

    async def claim(self, chats: list[Chat]) -> None:
        """Every counsellor presses Take on every post at once; again for what nobody got."""
        started = time.monotonic()
        unclaimed = list(chats)
        while unclaimed and self.figures.claim_rounds < CLAIM_ROUNDS:
            self.figures.claim_rounds += 1
            presses = [(c, chat) for chat in unclaimed for c in COUNSELLORS
                       if self.figures.holding[c] < MAX_CHATS]
            random.shuffle(presses)
            queries = await asyncio.gather(*(self._press(c, chat) for c, chat in presses))
            for (counsellor, chat), query in zip(presses, queries, strict=True):
                answer = self.observed.answers.get(query)
                if answer is not None and answer.text == TEXTS["taken"]:
                    self.figures.claims[chat.handoff_id] += 1
                    self.figures.holding[counsellor] += 1
                    chat.holder = counsellor
            unclaimed = [chat for chat in unclaimed if chat.holder is None]
        self.figures.claim_seconds = time.monotonic() - started

    async def _press(self, counsellor: int, chat: Chat) -> str:
        started = time.monotonic()
        query = await self.counsellor_presses(counsellor, f"take:{chat.handoff_id}")
        self.figures.press_round_trip.append(time.monotonic() - started)
        return query

    async def converse(self, chat: Chat, rounds: int, period: float, offset: float) -> None:
        """``rounds`` of her message and the counsellor's answer, a round every ``period`` seconds."""
        await asyncio.sleep(offset)
        assert chat.holder is not None
        for number in range(rounds):
            round_started = time.monotonic()
            hers = f"hers {chat.her}-{number}"
            posted = time.monotonic()
            await self.her_says(chat, hers)
            arrived = await self.observed.first(COUNSELLOR_TOKEN, chat.holder, hers)
            if arrived is not None:
                self.figures.her_to_counsellor.append(arrived.at - posted)
            theirs = f"theirs {chat.her}-{number}"
            posted = time.monotonic()
            await self.counsellor_writes(chat.holder, theirs,
                                         replying_to=arrived.text if arrived else f"[{chat.label}] {hers}")
            answered = await self.observed.first(telegram.TOKEN, chat.her, theirs)
            if answered is not None:
                self.figures.counsellor_to_her.append(answered.at - posted)
            await asyncio.sleep(max(0.0, round_started + period - time.monotonic()))

    async def end(self, chat: Chat) -> None:
        assert chat.holder is not None
        before = len(self.observed.sent[(telegram.TOKEN, chat.her)])
        await self.counsellor_writes(chat.holder, f"/end {chat.label}")
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            later = self.observed.sent[(telegram.TOKEN, chat.her)][before:]
            if any("/handoff_feedback_yes" in json.dumps(s.params.get("reply_markup", "")) for s in later):
                self.figures.ended += 1
                return
            await asyncio.sleep(0.05)

    # ------------------------------------------------------------ counting

    def count(self, chats: list[Chat], rounds: int) -> None:
        figures = self.figures
        for chat in chats:
            figures.joined[chat.her] = sum("has joined this chat" in s.text
                                           for s in self.observed.sent[(telegram.TOKEN, chat.her)])
            assert chat.holder is not None
            self._count_way("her to counsellor", f"hers {chat.her}-", (COUNSELLOR_TOKEN, chat.holder), rounds)
            self._count_way("counsellor to her", f"theirs {chat.her}-", (telegram.TOKEN, chat.her), rounds)
        figures.reached_assistant = sum("hers " in t for s in self.rasa.senders for t in self.rasa.texts_of(s))

    def _count_way(self, way: str, prefix: str, destination: tuple[str, int], rounds: int) -> None:
        figures = self.figures
        numbers = [int(s.text.rsplit(prefix, 1)[1].split()[0]) for s in self.observed.sent[destination]
                   if prefix in s.text]
        figures.lost[way] += rounds - len(set(numbers))
        figures.duplicated[way] += len(numbers) - len(set(numbers))
        figures.out_of_order[way] += sum(b < a for a, b in itertools.pairwise(numbers))
        figures.misrouted[way] += sum(prefix in s.text for key, sent in self.observed.sent.items()
                                      if key != destination for s in sent)


async def run(app: AppProcess, rasa: RasaStandIn, standin: telegram.TelegramStandIn, women: int, rounds: int,
              period: float) -> Figures:
    # Idle connections are dropped before uvicorn drops them (its keep-alive is 5 s).
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=200, keepalive_expiry=3.0)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        bench = Bench(app, rasa, Observed(standin, asyncio.get_running_loop()), client, women)
        chats = [Chat(her, label_of(pseudonym(PEPPER.encode(), "telegram", str(her))))
                 for her in range(FIRST_CHAT, FIRST_CHAT + women)]
        await asyncio.gather(*(bench.request(chat) for chat in chats))
        print(f"{women} requests posted to the group", flush=True)
        await bench.claim(chats)
        print(f"claims done in {bench.figures.claim_rounds} round(s), {bench.figures.claim_seconds:.2f} s", flush=True)
        claimed = [chat for chat in chats if chat.holder is not None]
        started = time.monotonic()
        await asyncio.gather(*(bench.converse(chat, rounds, period, period * i / len(claimed))
                               for i, chat in enumerate(claimed)))
        bench.figures.relay_seconds = time.monotonic() - started
        await asyncio.sleep(GRACE_SECONDS)
        bench.count(claimed, rounds)
        await asyncio.gather(*(bench.end(chat) for chat in claimed))
        return bench.figures


# ------------------------------------------------------------------- report


def report(figures: Figures, rounds: int, period: float) -> bool:
    def row(name: str, values: list[float]) -> str:
        p50, p95, p99 = percentiles(values)
        return f"| {name} | {len(values)} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {max(values) * 1000:.1f} |"

    print("\n| path | messages | p50 ms | p95 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|")
    print(row("her → counsellor (her webhook → counsellor bot's sendMessage)", figures.her_to_counsellor))
    print(row("counsellor → her (counsellor webhook → her bot's sendMessage)", figures.counsellor_to_her))
    print(row("consent Yes → request posted to the group", figures.request_to_post))
    print(row("a Take press (webhook round trip, 20 at once per post)", figures.press_round_trip))
    claims = Counter(figures.claims.values())
    overfull = [c for c, n in figures.holding.items() if n > MAX_CHATS]
    relayed = len(figures.her_to_counsellor) + len(figures.counsellor_to_her)
    women = figures.women
    print(f"\nclaims: {women} posts x {len(COUNSELLORS)} counsellors pressing at once: "
          f"{sum(figures.claims.values())} taken in {figures.claim_rounds} round(s), {figures.claim_seconds:.2f} s; "
          f"chats claimed once {claims.get(1, 0)}, more than once {sum(v for k, v in claims.items() if k > 1)}, "
          f"never {women - len(figures.claims)}; most chats held by one counsellor "
          f"{max(figures.holding.values(), default=0)} (limit {MAX_CHATS}); women told who joined once "
          f"{sum(n == 1 for n in figures.joined.values())} of {women}")
    print(f"relay: {rounds} rounds each way per chat, a round every {period:g} s per chat, "
          f"{relayed} messages in {figures.relay_seconds:.1f} s ({relayed / figures.relay_seconds:.1f}/s)")
    for way in ("her to counsellor", "counsellor to her"):
        print(f"  {way}: lost {figures.lost[way]}, duplicated {figures.duplicated[way]}, "
              f"out of order {figures.out_of_order[way]}, misrouted {figures.misrouted[way]}")
    print(f"  her relayed words that reached the assistant: {figures.reached_assistant}; "
          f"chats ended with the closing question: {figures.ended} of {len(figures.joined)}")
    p95s = [percentiles(v)[1] for v in (figures.her_to_counsellor, figures.counsellor_to_her)]
    faults = sum(sum(c.values()) for c in (figures.lost, figures.duplicated, figures.out_of_order,
                                           figures.misrouted)) + figures.reached_assistant
    ok = (max(p95s) < TARGET_P95_MS and faults == 0 and claims.get(1, 0) == women and not overfull
          and all(n == 1 for n in figures.joined.values()) and figures.ended == women)
    print(f"\ntarget, p95 under {TARGET_P95_MS:.0f} ms both ways, nothing lost, duplicated, out of order or "
          f"misrouted, every chat claimed once within the limits: {'met' if ok else 'NOT MET'} "
          f"(p95 {p95s[0]:.1f} / {p95s[1]:.1f} ms)")
    return ok


# ------------------------------------------------------------------- set-up


def register(database_url: str) -> None:
    """The 20 counsellors, as ``helpline counsellors add`` registers them."""
    engine = make_engine(database_url)
    directory = CounsellorDirectory(engine)

    async def add_all() -> None:
        for user in COUNSELLORS:
            await directory.add(f"Counsellor {user}", telegram_user_id=user, max_chats=MAX_CHATS)

    asyncio.run(add_all())
    engine.dispose()


@contextmanager
def services(log_dir: Path, shared: bool) -> Iterator[tuple[AppProcess, RasaStandIn, telegram.TelegramStandIn]]:
    """The stand-ins (Rasa, the Bot API of both bots) and the app as its own process."""
    rasa, standin = RasaStandIn(assistant), telegram.TelegramStandIn(also=(COUNSELLOR_TOKEN,))
    hours = log_dir / "hours.yml"
    hours.write_text(ALWAYS_OPEN, encoding="utf-8")
    with ExitStack() as stack:
        if shared:
            database_url = stack.enter_context(temporary_postgres(POSTGRES_ADMIN_URL))
            redis.Redis.from_url(REDIS_URL).flushdb()
        else:
            database_url = f"sqlite:///{log_dir / 'helpline.db'}"
        rasa_server, api = stack.enter_context(Served(rasa.app)), stack.enter_context(Served(standin.app))
        settings = app_settings(
            rasa_server.url, database_url=database_url, redis_url=REDIS_URL if shared else None,
            telegram_bot_token=telegram.TOKEN, telegram_webhook_secret=telegram.SECRET, telegram_api_base=api.url,
            counsellor_bot_token=COUNSELLOR_TOKEN, counsellor_webhook_secret=COUNSELLOR_SECRET,
            counsellor_group_chat_id=GROUP, handoff_hours_file=hours, handoff_wait_seconds=3600.0,
            handoff_counsellor_timeout_seconds=3600.0,
            first_reply_deadline_seconds=Settings.model_fields["first_reply_deadline_seconds"].default,
            gateway_workers=Settings.model_fields["gateway_workers"].default,
        )
        app = start_app_process(log_dir / "app.log", settings)  # migrates the database first
        stack.callback(app.stop)
        register(database_url)
        yield app, rasa, standin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", action="store_true", help=f"a fresh PostgreSQL database and {REDIS_URL}")
    parser.add_argument("--rounds", type=int, default=10, help="messages each way per chat")
    parser.add_argument("--period", type=float, default=10.0, help="seconds between the rounds of one chat")
    parser.add_argument("--women", type=int, default=WOMEN, help="chats handed off at once")
    args = parser.parse_args()

    log_dir = Path(tempfile.mkdtemp(prefix="bench-handoff-"))
    stores = ("shared: PostgreSQL and Redis" if args.shared else
              "embedded: SQLite, live state in the app's process")
    print(f"{datetime.date.today()}, stores {stores}; {args.women} women on Telegram, {len(COUNSELLORS)} counsellors "
          f"(at most {MAX_CHATS} chats each); logs in {log_dir}", flush=True)
    with services(log_dir, args.shared) as (app, rasa, standin):
        figures = asyncio.run(run(app, rasa, standin, args.women, args.rounds, args.period))
    raise SystemExit(0 if report(figures, args.rounds, args.period) else 1)


if __name__ == "__main__":
    main()
