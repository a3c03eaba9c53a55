"""What the Telegram gateway adds to Rasa's latency, and whether every message is answered once.

One run, one model, one Rasa: the same conversations are sent two ways, back
to back at 1, 10 and 50 concurrent conversations (the order alternating from
level to level):

- direct: each message posted straight to Rasa's REST endpoint
  (``POST /webhooks/rest/webhook``); its latency is the POST's round trip;
- gateway: each message as a real-format Telegram update, with the webhook's
  secret token, posted to the app (a separate process) at
  ``POST /webhooks/telegram``; its latency runs from the POST to the first
  ``sendMessage`` for her chat that the local Bot API stand-in receives. The
  last reply's latency is shown apart: Telegram lets a bot send about one
  message a second in one chat (bursts of 3), and the channel keeps to that.

Each conversation is one language's script (``/start``, a greeting, a need, her
town, a question, thanks), sent one message after another: the next one
``--think`` seconds after the replies of the last one came (a woman reads and
types; with no pause at all the per-chat pacing, not the gateway, sets the
first-reply latency from the third message on). A conversation's second message
is delivered twice at the same moment and its fifth again after it was
answered, as Telegram retries a webhook: every message must get exactly the
replies the reference run (each script once, straight to Rasa) got, in order,
once; the app's safety fallback, which it sends first when the assistant is
slower than the first-reply deadline, is counted apart.

    PYTHONPATH=. .venv/bin/python -m bench.bench_gateway [--redis] [--think 1.0] [--levels 1 10 50]

Starts Rasa with the trained ``models/helpline.tar.gz`` (60-100 s, never
trains), the action server, the app and the stand-in; a few minutes in all.
By default the stores are the embedded ones (Rasa's trackers in its memory, the
app's live state in its process and its queues in the SQLite database);
``--redis`` puts Rasa's tracker and lock stores and the app's live state and
queues in Redis db 13, emptied first.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import itertools
import json
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import redis
import yaml

from bot.safety_fallback import DOMAIN_FILE, REPLY_BY_INTENT
from bot.settings import Settings
from channels.telegram import MAX_TEXT
from channels.text import split_text
from tests.gateway_harness import AppProcess, app_settings, start_app_process
from tests.stack import Stack, start_stack
from tests.standins import telegram
from tests.standins.server import Call, Served

REDIS_URL = "redis://127.0.0.1:6379/13"
TARGET_RATIO = 1.10  # the gateway may add at most 10% to p95 at the highest level
REPLY_TIMEOUT = 60.0  # seconds for a message's replies before it counts as lost
GRACE_SECONDS = 4.0  # after a level, for late duplicates (paced at 1/s a chat) to show
SAME_TIME_RETRY = 1  # index of the message delivered twice at once
LATE_RETRY = 4  # index of the message delivered again after it was answered

# What she writes, per language: /start (Telegram's first update), a greeting, a
# need, her town, a question, thanks. None of them is flagged by the safety lexicon,
# so the app has no reason to add its own reply to the assistant's.
SCRIPTS: dict[str, tuple[str, ...]] = {
    "en": ("/start", "hi", "I need a shelter for me and my children", "I live in Skopje",
           "is this conversation anonymous?", "thank you"),
    "sq": ("/start", "përshëndetje", "kam nevojë për një strehë për mua dhe fëmijët", "jam nga Shkodra",
           "a është anonime kjo bisedë", "faleminderit"),
    "sr": ("/start", "zdravo", "treba mi besplatan advokat", "živim u Novom Sadu",
           "da li je ovaj razgovor anoniman", "hvala"),
    "mk": ("/start", "здраво", "ми треба психолог", "живеам во Куманово",
           "дали е анонимен овој разговор", "благодарам"),
}
LANGUAGES = tuple(SCRIPTS)


def assistant_text(text: str, language: str) -> str:
    """What Rasa is sent for ``text``: the gateway turns /start into a greeting with her
    Telegram language (``bot.gateway.pipeline``); the direct run sends the same."""
    return "/greet" + json.dumps({"language": language}) if text == "/start" else text


def sent_texts(items: list[dict[str, Any]]) -> list[str]:
    """The messages Telegram would show for Rasa's ``items``: texts, split as the channel splits
    them (an item without text, such as the app's directives, sends nothing)."""
    return [chunk for item in items for chunk in split_text(item.get("text") or "", MAX_TEXT)]


# ------------------------------------------------------------------ records


def fallback_openings(domain_file: Path = DOMAIN_FILE) -> tuple[str, ...]:
    """How the app's own answer (the safety fallback, sent at the first-reply deadline when the
    assistant is slower) begins, in each language: what it says before the numbers."""
    domain = yaml.safe_load(domain_file.read_text(encoding="utf-8"))
    return tuple(v["text"].split("{")[0] for v in domain["responses"][REPLY_BY_INTENT[None]])


FALLBACK_OPENINGS = fallback_openings()


def is_fallback(text: str) -> bool:
    return text.startswith(FALLBACK_OPENINGS)


@dataclass
class Message:
    """One message of a conversation as sent, and what came of it (seconds from ``posted_at``)."""

    language: str
    index: int
    posted_at: float
    first: float | None = None  # to the first reply, whatever it is
    first_assistant: float | None = None  # to the assistant's first reply (not the fallback)
    last: float | None = None  # to the last reply
    ack: float | None = None  # until the webhook answered (gateway)
    replies: list[str] = field(default_factory=list)


@dataclass
class Level:
    """One mode's run at one level of concurrency."""

    conversations: int
    messages: list[Message]
    seconds: float
    deliveries: int = 0  # webhook POSTs, retries included

    def values(self, name: str) -> list[float]:
        return [v for m in self.messages if (v := getattr(m, name)) is not None]

    @property
    def rate(self) -> float:
        return len(self.messages) / self.seconds

    @property
    def fallbacks(self) -> int:
        return sum(any(map(is_fallback, m.replies)) for m in self.messages)


def percentiles(values: Sequence[float]) -> tuple[float, float, float]:
    """p50, p95, p99 (in ms), interpolated; nan without values."""
    if len(values) < 2:
        single = values[0] * 1000 if values else float("nan")
        return single, single, single
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


# ------------------------------------------------------------- the stand-in


class SentMessages:
    """The texts each chat was sent so far, for conversations waiting for their replies.

    Hooked into the stand-in's recorder (its thread); the measurements themselves
    are read afterwards from the stand-in's own record (``TelegramStandIn.calls``).
    """

    def __init__(self, standin: telegram.TelegramStandIn, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._texts: dict[int, list[str]] = defaultdict(list)
        self._events: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
        standin.recorder.respond = self._observe

    def _observe(self, call: Call) -> None:
        if call.path.endswith("/sendMessage"):
            form = call.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
            params = dict(parse_qsl(call.body.decode())) if form else call.json()
            self._loop.call_soon_threadsafe(self._arrived, int(params["chat_id"]), params.get("text", ""))
        return None  # the stand-in answers as Telegram does

    def _arrived(self, chat: int, text: str) -> None:
        self._texts[chat].append(text)
        self._events[chat].set()

    def position(self, chat: int) -> int:
        return len(self._texts[chat])

    def _assistant_replies(self, chat: int, since: int) -> int:
        return sum(not is_fallback(text) for text in self._texts[chat][since:])

    async def wait(self, chat: int, since: int, count: int, timeout: float) -> None:
        """Until ``chat`` got ``count`` replies of the assistant after position ``since`` (the
        safety fallback, if it came first, not counted), or ``timeout`` passed: a loss, which
        the check counts; the conversation goes on."""
        event = self._events[chat]
        with suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self._assistant_replies(chat, since) < count:
                    event.clear()
                    await event.wait()


# ------------------------------------------------------------ conversations


@dataclass
class Bench:
    rasa_url: str
    app_url: str
    client: httpx.AsyncClient
    sent: SentMessages
    think: float
    reference: dict[str, list[list[str]]] = field(default_factory=dict)  # language -> per message, reply texts
    chats: Iterator[int] = field(default_factory=lambda: itertools.count(700_000_001))
    updates: Iterator[int] = field(default_factory=lambda: itertools.count(500_000_001))
    chat_messages: dict[int, list[Message]] = field(default_factory=dict)

    async def direct(self, language: str) -> list[Message]:
        sender = f"bench-direct-{next(self.chats)}"
        done = []
        for index, text in enumerate(SCRIPTS[language]):
            message = Message(language, index, time.monotonic())
            response = await self.client.post(
                f"{self.rasa_url}/webhooks/rest/webhook",
                json={"sender": sender, "message": assistant_text(text, language)},
            )
            response.raise_for_status()
            message.first = message.first_assistant = message.last = time.monotonic() - message.posted_at
            message.replies = sent_texts(response.json())
            done.append(message)
            await asyncio.sleep(self.think)
        return done

    async def gateway(self, language: str) -> tuple[list[Message], int]:
        """One conversation through the app; its messages and how many webhooks were posted."""
        chat = next(self.chats)
        done: list[Message] = []
        self.chat_messages[chat] = done
        deliveries = 0
        for index, text in enumerate(SCRIPTS[language]):
            body = json.dumps(self._update(chat, index, text, language)).encode()
            copies = 2 if index == SAME_TIME_RETRY else 1
            since = self.sent.position(chat)
            message = Message(language, index, time.monotonic())
            await asyncio.gather(*(self._deliver(body) for _ in range(copies)))
            message.ack = time.monotonic() - message.posted_at
            deliveries += copies
            done.append(message)
            await self.sent.wait(chat, since, len(self.reference[language][index]), REPLY_TIMEOUT)
            if index == LATE_RETRY:
                await self._deliver(body)
                deliveries += 1
            await asyncio.sleep(self.think)
        return done, deliveries

    def _update(self, chat: int, index: int, text: str, language: str) -> dict[str, Any]:
        update_id = next(self.updates)
        if text == "/start":
            return telegram.start_update(update_id, chat, message_id=index + 1, language_code=language)
        return telegram.text_update(update_id, chat, text, message_id=index + 1, language_code=language)

    async def _deliver(self, body: bytes) -> None:
        response = await self.client.post(f"{self.app_url}/webhooks/telegram", content=body,
                                          headers=telegram.webhook_headers())
        if response.status_code != 200:
            raise RuntimeError(f"the webhook answered {response.status_code}")


async def run_level(bench: Bench, mode: str, conversations: int, rounds: int = len(LANGUAGES)) -> Level:
    """``conversations`` at once, each slot going through ``rounds`` languages' scripts in turn."""

    async def slot(number: int) -> tuple[list[Message], int]:
        messages, deliveries = [], 0
        for turn in range(rounds):
            language = LANGUAGES[(number + turn) % len(LANGUAGES)]
            if mode == "direct":
                messages += await bench.direct(language)
            else:
                done, posted = await bench.gateway(language)
                messages += done
                deliveries += posted
        return messages, deliveries

    started = time.monotonic()
    results = await asyncio.gather(*(slot(n) for n in range(conversations)))
    seconds = time.monotonic() - started
    return Level(conversations, [m for done, _ in results for m in done], seconds,
                 sum(posted for _, posted in results))


def attribute_replies(standin: telegram.TelegramStandIn, bench: Bench) -> None:
    """Give each gateway message the sendMessage calls for its chat that came after it was
    posted and before the next one, as the stand-in recorded them."""
    by_chat: dict[int, list[telegram.ApiCall]] = defaultdict(list)
    for call in standin.calls("sendMessage"):
        by_chat[int(call.params["chat_id"])].append(call)
    for chat, messages in bench.chat_messages.items():
        calls = by_chat.get(chat, [])
        for message, following in itertools.zip_longest(messages, messages[1:]):
            end = following.posted_at if following else float("inf")
            mine = [c for c in calls if message.posted_at <= c.at < end]
            message.replies = [c.params["text"] for c in mine]
            if mine:
                message.first = mine[0].at - message.posted_at
                message.last = mine[-1].at - message.posted_at
            if assistant := [c for c in mine if not is_fallback(c.params["text"])]:
                message.first_assistant = assistant[0].at - message.posted_at


# ----------------------------------------------------------------- checking


@dataclass
class Check:
    """Each message's replies against the reference: the same texts, in order, once."""

    messages: int = 0
    as_expected: int = 0
    fallback_first: int = 0  # as expected, after the safety fallback (the assistant was slow)
    fewer: int = 0  # lost replies
    more: int = 0  # duplicated replies
    different: int = 0  # as many, other texts

    def add(self, messages: Iterable[Message], reference: dict[str, list[list[str]]]) -> None:
        for message in messages:
            expected = reference[message.language][message.index]
            replies = [text for text in message.replies if not is_fallback(text)]
            self.messages += 1
            if replies == expected:
                self.as_expected += 1
                self.fallback_first += len(replies) < len(message.replies)
            elif len(replies) < len(expected):
                self.fewer += 1
            elif len(replies) > len(expected):
                self.more += 1
            else:
                self.different += 1

    def line(self) -> str:
        verdict = "OK" if self.as_expected == self.messages else "FAILED"
        return (f"{self.as_expected}/{self.messages} messages got exactly the reference replies, in order, once "
                f"({self.fallback_first} of them after the safety fallback); {self.fewer} got fewer, "
                f"{self.more} more, {self.different} other texts: {verdict}")


# ------------------------------------------------------------------ running


@dataclass
class Results:
    reference: dict[str, list[list[str]]]
    warm_up: Level  # through the gateway, once per language
    levels: list[tuple[Level, Level]]  # (direct, gateway) per level


async def bench_all(stack: Stack, app: AppProcess, standin: telegram.TelegramStandIn, levels: list[int],
                    think: float) -> Results:
    connections = 3 * max(levels) + 10
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(timeout=REPLY_TIMEOUT, limits=limits) as client:
        bench = Bench(stack.settings.rasa_url, app.url, client, SentMessages(standin, asyncio.get_running_loop()),
                      think=0.0)
        first = await run_level(bench, "direct", len(LANGUAGES), rounds=1)
        for message in first.messages:  # the replies every run must get; also Rasa's warm-up
            bench.reference.setdefault(message.language, []).append(message.replies)
        if silent := [m for m in first.messages if not m.replies]:
            raise RuntimeError(f"the model does not answer {len(silent)} messages: no latency to measure")
        warm_up = await run_level(bench, "gateway", len(LANGUAGES), rounds=1)
        await asyncio.sleep(GRACE_SECONDS)
        bench.think = think
        print("reference and warm-up done", flush=True)
        pairs = []
        for number, conversations in enumerate(levels):
            runs = {}
            for mode in ("direct", "gateway") if number % 2 == 0 else ("gateway", "direct"):
                runs[mode] = await run_level(bench, mode, conversations)
                if mode == "gateway":
                    await asyncio.sleep(GRACE_SECONDS)
                print(f"  {conversations:>2} conversations, {mode}: {runs[mode].seconds:.0f} s", flush=True)
            pairs.append((runs["direct"], runs["gateway"]))
    attribute_replies(standin, bench)
    return Results(bench.reference, warm_up, pairs)


# ----------------------------------------------------------------- printing


def report(results: Results) -> None:
    print("\n| conversations | direct p50 / p95 / p99 ms | direct msg/s "
          "| gateway first reply p50 / p95 / p99 ms | gateway msg/s | p95 gateway / direct "
          "| assistant's first reply p95 ms (/ direct) | last reply p50 / p95 / p99 ms "
          "| webhook answered p50 / p95 ms | safety fallback first | answered exactly once |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for direct, gateway in results.levels:
        d, g, last, ack = (percentiles(x) for x in (direct.values("first"), gateway.values("first"),
                                                      gateway.values("last"), gateway.values("ack")))
        assistant = percentiles(gateway.values("first_assistant"))[1]
        check = Check()
        check.add(gateway.messages, results.reference)
        print(f"| {direct.conversations} | {d[0]:.0f} / {d[1]:.0f} / {d[2]:.0f} | {direct.rate:.1f} "
              f"| {g[0]:.0f} / {g[1]:.0f} / {g[2]:.0f} | {gateway.rate:.1f} | {g[1] / d[1]:.2f} "
              f"| {assistant:.0f} ({assistant / d[1]:.2f}) | {last[0]:.0f} / {last[1]:.0f} / {last[2]:.0f} "
              f"| {ack[0]:.0f} / {ack[1]:.0f} | {gateway.fallbacks} | {check.as_expected} of {check.messages} |")
    direct, gateway = results.levels[-1]
    ratio = percentiles(gateway.values("first"))[1] / percentiles(direct.values("first"))[1]
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"\ntarget, the gateway adds at most {TARGET_RATIO - 1:.0%} to p95 at {gateway.conversations} "
          f"conversations: {verdict} (x{ratio:.2f})")
    gateway_runs = [results.warm_up, *(g for _, g in results.levels)]
    for mode, runs in (("direct", [d for d, _ in results.levels]), ("gateway", gateway_runs)):
        check = Check()
        for run in runs:
            check.add(run.messages, results.reference)
        print(f"{mode}: {check.line()}")
    retried = sum(run.deliveries - len(run.messages) for run in gateway_runs)
    print(f"gateway: {retried} of the {sum(run.deliveries for run in gateway_runs)} webhooks were retried "
          "deliveries (half at the same moment as the first, half after the reply)")


# ------------------------------------------------------------------- set-up


@contextmanager
def services(log_dir: Path, use_redis: bool) -> Iterator[tuple[Stack, AppProcess, telegram.TelegramStandIn]]:
    """Rasa and the action server, the Bot API stand-in, and the app as its own process."""
    database = f"sqlite:///{log_dir / 'helpline.db'}"  # the directory, and the app's queues without Redis
    overrides: dict[str, object] = {"database_url": database}
    if use_redis:
        redis.Redis.from_url(REDIS_URL).flushdb()
        overrides["redis_url"] = REDIS_URL
    stack = start_stack(log_dir, **overrides)
    standin = telegram.TelegramStandIn()
    try:
        with Served(standin.app) as api:
            token = stack.settings.rasa_token
            settings = app_settings(
                stack.settings.rasa_url,
                rasa_token=token.get_secret_value() if token else None,
                telegram_bot_token=telegram.TOKEN, telegram_webhook_secret=telegram.SECRET,
                telegram_api_base=api.url,
                first_reply_deadline_seconds=Settings.model_fields["first_reply_deadline_seconds"].default,
                gateway_workers=Settings.model_fields["gateway_workers"].default,
                redis_url=REDIS_URL if use_redis else None, database_url=database,
            )
            app = start_app_process(log_dir / "app.log", settings)
            try:
                yield stack, app, standin
            finally:
                app.stop()
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", action="store_true", help=f"Rasa's and the app's stores in {REDIS_URL}")
    parser.add_argument("--think", type=float, default=1.0, help="seconds between her replies and her next message")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 10, 50])
    args = parser.parse_args()

    log_dir = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    store = ("Redis (Rasa's trackers and locks, the app's live state and queues)" if args.redis else
             "embedded (Rasa's trackers in memory, the app's live state in its process, its queues in SQLite)")
    print(f"{datetime.date.today()}, stores: {store}, think {args.think:g} s, "
          f"{len(SCRIPTS['en'])} messages a conversation x 4 languages a slot; logs in {log_dir}", flush=True)
    started = time.monotonic()
    with services(log_dir, args.redis) as (stack, app, standin):
        print(f"stack ready in {time.monotonic() - started:.0f} s", flush=True)
        results = asyncio.run(bench_all(stack, app, standin, args.levels, args.think))
    report(results)


if __name__ == "__main__":
    main()
