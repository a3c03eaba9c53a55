"""The Viber channel: Viber's callbacks in, Viber's send_message out (against the stand-in).

The callbacks are Viber's documented samples (``tests.standins.viber``), signed as
Viber signs them; the outgoing calls are checked on the stand-in's recorder,
payloads exact, keyboards included.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from bot.assistant import Button
from bot.safety_fallback import SafetyFallback
from bot.cli import main
from bot.settings import Settings, get_settings
from channels import viber
from channels.base import Address, Channel, DeliveryOutcome, MalformedUpdate, Outbound
from channels.viber import ViberChannel
from tests.gateway_harness import RunningApp, running_app
from tests.standins import viber as standin
from tests.standins.rasa import RasaStandIn
from tests.standins.server import Served
from tests.standins.viber import TOKEN, USER_ID, HttpAnswer, ViberStandIn

NAME = "Helpline"
ADDRESS = Address("viber", USER_ID, 1457764197.627)
SHELTER = (Button("Shelter", "/seek_shelter"), Button("Legal aid", "/seek_legal_aid"))
KEYBOARD = {
    "Type": "keyboard",
    "DefaultHeight": False,
    "Buttons": [
        {"ActionType": "reply", "ActionBody": "/seek_shelter", "Text": "Shelter", "Columns": 6, "Rows": 1},
        {"ActionType": "reply", "ActionBody": "/seek_legal_aid", "Text": "Legal aid", "Columns": 6,
         "Rows": 1},
    ],
}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ViberStandIn, str]]:
    api = ViberStandIn()
    with Served(api.app) as server:
        yield api, server.url


@pytest.fixture
def api(served: tuple[ViberStandIn, str]) -> ViberStandIn:
    stand_in, _ = served
    stand_in.reset()
    return stand_in


@pytest.fixture
async def channel(served: tuple[ViberStandIn, str], api: ViberStandIn) -> AsyncIterator[ViberChannel]:
    bot = ViberChannel(TOKEN, served[1], NAME)
    yield bot
    await bot.close()


@functools.cache
def offline() -> ViberChannel:
    """A channel for what needs no API (verify, parse, start_answer)."""
    return ViberChannel(TOKEN, "http://127.0.0.1:9", NAME)


def parse(callback: dict) -> list:
    return offline().parse(standin.encode(callback))


# ------------------------------------------------------------------ verify


def test_a_callback_signed_with_the_auth_token_is_verified() -> None:
    body, headers = standin.signed(standin.text("hello"))
    assert offline().verify(headers, body)
    assert offline().verify({k.lower(): v for k, v in headers.items()}, body)


@pytest.mark.parametrize("signature", [
    standin.sign(b"{}", "another-bot-token"),  # signed by someone else
    "",
    "0" * 64,
    "not hex at all \u202e",
])
def test_a_wrong_signature_is_refused(signature: str) -> None:
    body = standin.encode(standin.text("hello"))
    assert not offline().verify({"X-Viber-Content-Signature": signature}, body)


def test_a_callback_without_signature_is_refused() -> None:
    body, _ = standin.signed(standin.text("hello"))
    assert not offline().verify({"Content-Type": "application/json"}, body)


def test_a_body_changed_after_signing_is_refused() -> None:
    body, headers = standin.signed(standin.text("hello"))
    assert not offline().verify(headers, body.replace(b"hello", b"hellO"))
    assert not offline().verify(headers, body + b" ")


def test_another_token_does_not_verify() -> None:
    body, headers = standin.signed(standin.text("hello"))
    assert not ViberChannel("another-token", "http://127.0.0.1:9", NAME).verify(headers, body)


# ------------------------------------------------------------------- parse


def test_a_text_message() -> None:
    callback = standin.text("I need help", token=5091637589466148873, timestamp=1457764197627)
    [message] = parse(callback)
    assert message.platform == "viber"
    assert message.user_id == USER_ID
    assert message.message_id == "5091637589466148873"
    assert (message.kind, message.text) == ("text", "I need help")
    assert message.language_hint == "en"
    assert message.address == Address("viber", USER_ID, 1457764197.627)
    assert message.location is None and message.callback_id is None and message.deletable_ids == ()


def test_a_keyboard_reply_is_a_button_with_its_payload() -> None:
    payload = '/choose_language{"language": "sq"}'
    [message] = parse(standin.text(payload, language="sq"))
    assert (message.kind, message.text, message.language_hint) == ("button", payload, "sq")


@pytest.mark.parametrize(("language", "hint"), [("sr-RS", "sr"), ("MK", "mk"), ("", None), ("1", None)])
def test_the_language_hint_is_the_first_two_letters(language: str, hint: str | None) -> None:
    [message] = parse(standin.text("zdravo", language=language))
    assert message.language_hint == hint


def test_no_language_is_no_hint() -> None:
    callback = standin.text("hello")
    del callback["sender"]["language"]
    assert parse(callback)[0].language_hint is None


def test_a_shared_location() -> None:
    [message] = parse(standin.location(41.9981, 21.4254))
    assert (message.kind, message.location, message.text) == ("location", (41.9981, 21.4254), "")


@pytest.mark.parametrize("place", [{"lat": "x", "lon": 1}, {"lat": 91, "lon": 0}, {"lon": 1}, None])
def test_a_location_without_usable_coordinates_is_unsupported(place: object) -> None:
    [message] = parse(standin.message({"type": "location", "location": place}))
    assert (message.kind, message.location) == ("unsupported", None)


@pytest.mark.parametrize("kind", ["picture", "video", "file", "sticker", "contact", "url", "rich_media",
                                  "some_future_type"])
def test_anything_but_text_is_unsupported_and_nothing_of_it_is_kept(kind: str) -> None:
    content = {"type": kind, "text": "a caption", "media": "https://dl-media.viber.com/x"}
    [message] = parse(standin.message(content))
    assert (message.kind, message.text, message.location) == ("unsupported", "", None)
    assert message.message_id and message.address.chat == USER_ID


def test_a_picture_of_viber_s_sample_is_unsupported() -> None:
    assert [m.kind for m in parse(standin.picture())] == ["unsupported"]


def test_conversation_started_is_a_start() -> None:
    callback = standin.conversation_started(language="mk", token=4912661846655238145)
    [message] = parse(callback)
    assert (message.kind, message.user_id, message.message_id) == ("start", USER_ID, "4912661846655238145")
    assert message.language_hint == "mk"
    assert message.address.chat == USER_ID and message.address.platform == "viber"


@pytest.mark.parametrize("callback", [
    standin.subscribed(), standin.unsubscribed(), standin.receipt("delivered"), standin.receipt("seen"),
    standin.receipt("failed"), standin.webhook_check(),
    {"event": "client_status", "timestamp": 1457764197627},  # an event Viber may add one day
], ids=lambda callback: callback["event"])
def test_what_needs_no_answer_is_ignored(callback: dict) -> None:
    assert parse(callback) == []


@pytest.mark.parametrize("words", [
    "Треба ми помош 🙏🏽👩‍👧",  # Cyrillic, emoji with a skin tone and a ZWJ family
    "أحتاج مساعدة \u200fעזרה",  # right to left, with a right-to-left mark
    "help\x00\x07\x1b[31m\r\nme\u202e",  # control characters and a direction override
    "a" * 8000,  # longer than Viber lets the bot send
])
def test_her_words_arrive_exactly(words: str) -> None:
    [message] = parse(standin.text(words))
    assert message.text == words and message.kind == "text"


def _broken(**changes: object) -> bytes:
    """A text message callback with ``changes`` (None: the field left out), encoded."""
    callback = {"event": "message", "message_token": 1, "sender": {"id": "a"},
                "message": {"type": "text", "text": "x"}} | changes
    return json.dumps({k: v for k, v in callback.items() if v is not None}).encode()


@pytest.mark.parametrize("body", [
    b"", b"not json", b"\xff\xfe{}", b"[]", b'"message"', b"{}", b'{"event": 7}',
    _broken(sender=None), _broken(message=None), _broken(message_token=None),
    _broken(message={"type": "text"}), _broken(sender={"id": ""}), _broken(message_token=True),
    _broken(sender="01234567890A="), b'{"event": "conversation_started", "message_token": 1}',
])
def test_what_is_not_a_viber_update_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedUpdate):
        offline().parse(body)


# ------------------------------------------------------------- the welcome


def test_the_welcome_is_the_answer_to_conversation_started() -> None:
    answer = offline().start_answer(Outbound("Hello, choose a language:", SHELTER))
    assert answer == {"min_api_version": 1, "sender": {"name": NAME}, "type": "text",
                      "text": "Hello, choose a language:", "keyboard": KEYBOARD}
    json.dumps(answer)  # what the router sends as the response body


def test_a_welcome_without_buttons_has_no_keyboard() -> None:
    answer = offline().start_answer(Outbound("Hello"))
    assert answer == {"min_api_version": 1, "sender": {"name": NAME}, "type": "text", "text": "Hello"}


# -------------------------------------------------------------------- send


async def test_a_text_is_sent_with_the_auth_token(channel: ViberChannel, api: ViberStandIn) -> None:
    delivery = await channel.send(ADDRESS, Outbound("You are not alone."))
    assert delivery.outcome is DeliveryOutcome.SENT and delivery.sent_ids == ()
    [call] = api.recorder.calls
    assert (call.method, call.path) == ("POST", "/pa/send_message")
    assert call.headers["x-viber-auth-token"] == TOKEN
    assert call.json() == {"receiver": USER_ID, "min_api_version": 1, "sender": {"name": NAME},
                           "type": "text", "text": "You are not alone."}


async def test_buttons_are_a_keyboard(channel: ViberChannel, api: ViberStandIn) -> None:
    delivery = await channel.send(ADDRESS, Outbound("What do you need?", SHELTER))
    assert delivery.outcome is DeliveryOutcome.SENT
    assert api.sent() == [{"receiver": USER_ID, "min_api_version": 1, "sender": {"name": NAME},
                           "type": "text", "text": "What do you need?", "keyboard": KEYBOARD}]


@pytest.mark.parametrize(("status", "reason"), [
    (6, "receiverNotSubscribed"), (5, "receiverNotRegistered"), (11, "receiverNoSuitableDevice"),
])
async def test_a_receiver_viber_will_not_deliver_to_is_gone(
    channel: ViberChannel, api: ViberStandIn, status: int, reason: str
) -> None:
    api.script(status)
    delivery = await channel.send(ADDRESS, Outbound("hello"))
    assert (delivery.outcome, delivery.reason) == (DeliveryOutcome.GONE, reason)


@pytest.mark.parametrize(("status", "reason"), [(3, "badData"), (4, "missingData"), (14, "incompatibleWithVersion")])
async def test_a_request_viber_refuses_is_dropped_not_retried(
    channel: ViberChannel, api: ViberStandIn, status: int, reason: str
) -> None:
    api.script(status)
    delivery = await channel.send(ADDRESS, Outbound("hello"))
    assert (delivery.outcome, delivery.reason) == (DeliveryOutcome.DROP, reason)


async def test_429_is_retried_after_what_it_says(channel: ViberChannel, api: ViberStandIn) -> None:
    api.script(HttpAnswer(429, retry_after=2))
    delivery = await channel.send(ADDRESS, Outbound("hello"))
    assert (delivery.outcome, delivery.retry_after) == (DeliveryOutcome.RETRY, 2.0)
    assert (await channel.send(ADDRESS, Outbound("hello"))).outcome is DeliveryOutcome.SENT
    assert len(api.sent()) == 2


@pytest.mark.parametrize("answer", [HttpAnswer(500), HttpAnswer(503), HttpAnswer(502, retry_after=5), 12, 99])
async def test_passing_failures_are_retried(channel: ViberChannel, api: ViberStandIn,
                                            answer: int | HttpAnswer) -> None:
    api.script(answer)
    delivery = await channel.send(ADDRESS, Outbound("hello"))
    assert delivery.outcome is DeliveryOutcome.RETRY
    if isinstance(answer, HttpAnswer):
        assert delivery.retry_after == answer.retry_after


async def test_a_refused_token_is_retried_not_her_gone(served: tuple[ViberStandIn, str], api: ViberStandIn,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """A revoked token must not mark every woman gone: the replies wait for the operator."""
    bot = ViberChannel("a-revoked-token", served[1], NAME)
    try:
        delivery = await bot.send(ADDRESS, Outbound("hello"))
    finally:
        await bot.close()
    assert (delivery.outcome, delivery.reason) == (DeliveryOutcome.RETRY, "invalidAuthToken")
    assert "invalidAuthToken" in caplog.text and "a-revoked-token" not in caplog.text


async def test_viber_unreachable_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    bot = offline()  # nothing listens on port 9
    try:
        delivery = await bot.send(ADDRESS, Outbound("hello"))
    finally:
        await bot.close()
    assert (delivery.outcome, delivery.reason) == (DeliveryOutcome.RETRY, "network")
    assert "viber could not be reached: ConnectError" in caplog.text
    assert USER_ID not in caplog.text and "hello" not in caplog.text


async def test_a_long_text_is_split_the_keyboard_on_the_last_part(
    channel: ViberChannel, api: ViberStandIn
) -> None:
    words = " ".join(f"word{n}" for n in range(3000))  # about 26 000 characters
    delivery = await channel.send(ADDRESS, Outbound(words, SHELTER))
    assert delivery.outcome is DeliveryOutcome.SENT
    sent = api.sent()
    assert len(sent) == 4
    assert " ".join(part["text"] for part in sent) == words  # cut between words, nothing lost
    assert all(len(part["text"]) <= 7000 for part in sent)
    assert [("keyboard" in part) for part in sent] == [False, False, False, True]
    assert sent[-1]["keyboard"] == KEYBOARD


async def test_a_part_refused_stops_the_rest(channel: ViberChannel, api: ViberStandIn) -> None:
    api.script(0, 6)
    delivery = await channel.send(ADDRESS, Outbound("x" * 20000))
    assert delivery.outcome is DeliveryOutcome.GONE
    assert len(api.sent()) == 2


async def test_nothing_to_say_sends_nothing(channel: ViberChannel, api: ViberStandIn) -> None:
    assert (await channel.send(ADDRESS, Outbound())).outcome is DeliveryOutcome.SENT
    assert api.recorder.calls == []


async def test_the_sender_name_is_cut_to_viber_s_28_characters(
    served: tuple[ViberStandIn, str], api: ViberStandIn
) -> None:
    bot = ViberChannel(TOKEN, served[1], "The helpline of the women's shelters")
    try:
        await bot.send(ADDRESS, Outbound("hello"))
    finally:
        await bot.close()
    assert api.sent()[0]["sender"] == {"name": "The helpline of the women's "}


async def test_acknowledge_and_delete_make_no_call(channel: ViberChannel, api: ViberStandIn) -> None:
    await channel.acknowledge("anything")
    await channel.delete(ADDRESS, ["4912661846655238145"])
    assert channel.can_delete is False
    assert channel.handshake({"hub.challenge": "x"}) is None
    assert api.recorder.calls == []


# ------------------------------------------------------------------- setup


async def test_the_webhook_is_registered_without_her_name_or_photo(
    channel: ViberChannel, api: ViberStandIn
) -> None:
    await channel.register_webhook("https://helpline.example.org/webhooks/viber")
    [call] = api.recorder.calls
    assert (call.method, call.path, call.headers["x-viber-auth-token"]) == ("POST", "/pa/set_webhook", TOKEN)
    assert call.json() == {
        "url": "https://helpline.example.org/webhooks/viber",
        "event_types": ["delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"],
        "send_name": False,
        "send_photo": False,
    }


async def test_a_refused_webhook_says_why_without_secrets(channel: ViberChannel, api: ViberStandIn) -> None:
    api.script(1)
    with pytest.raises(RuntimeError, match=r"status 1") as refused:
        await channel.register_webhook("https://helpline.example.org/webhooks/viber")
    assert TOKEN not in str(refused.value) and "example.org" not in str(refused.value)
    api.script(HttpAnswer(500))
    with pytest.raises(RuntimeError, match="HTTP 500"):
        await channel.register_webhook("https://helpline.example.org/webhooks/viber")


def test_helpline_channels_setup_viber(served: tuple[ViberStandIn, str], api: ViberStandIn,
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The command an operator runs: the webhook at PUBLIC_URL, through the stand-in."""
    for name, value in {"VIBER_AUTH_TOKEN": TOKEN, "VIBER_API_BASE": served[1],
                        "PUBLIC_URL": "https://helpline.example.org/"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        assert main(["channels", "setup", "viber"]) == 0
        api.script(7)  # publicAccountBlocked
        assert main(["channels", "setup", "viber"]) == 1
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "viber: webhook registered at https://helpline.example.org/webhooks/viber" in out
    assert "viber: the webhook was not registered: Viber refused it: publicAccountBlocked (status 7)" in out
    assert TOKEN not in out
    assert [call.json()["url"] for call in api.recorder.calls] == [
        "https://helpline.example.org/webhooks/viber"] * 2


def test_viber_is_off_without_its_token() -> None:
    assert viber.from_settings(Settings(viber_auth_token=None)) is None
    assert viber.from_settings(Settings(viber_auth_token="")) is None
    assert (viber.NAME, viber.CREDENTIALS) == ("viber", ("VIBER_AUTH_TOKEN",))


async def test_viber_is_on_with_its_token(served: tuple[ViberStandIn, str], api: ViberStandIn) -> None:
    settings = Settings(viber_auth_token=TOKEN, viber_api_base=served[1] + "/", viber_bot_name="Linja")
    bot: Channel | None = viber.from_settings(settings)
    assert bot is not None and bot.name == "viber"
    try:
        assert (await bot.send(ADDRESS, Outbound("hello"))).outcome is DeliveryOutcome.SENT
    finally:
        await bot.close()
    assert api.sent()[0]["sender"] == {"name": "Linja"}


# ------------------------------------------------------ through the app


@pytest.fixture
def app(served: tuple[ViberStandIn, str], api: ViberStandIn) -> Iterator[tuple[RunningApp, RasaStandIn]]:
    """The running app with Viber on (pointed at the stand-in) and a stand-in Rasa."""
    rasa = RasaStandIn()
    viber_on = {"viber_auth_token": TOKEN, "viber_api_base": served[1], "viber_bot_name": NAME}
    with Served(rasa.app) as rasa_server, running_app(rasa_server.url, **viber_on) as running:
        yield running, rasa


def post(running: RunningApp, callback: dict, headers: dict[str, str] | None = None) -> httpx.Response:
    body, signed_headers = standin.signed(callback)
    return running.post("/webhooks/viber", body, signed_headers if headers is None else headers)


def sent_to_her(api: ViberStandIn, count: int) -> list[dict]:
    api.recorder.wait_for(lambda calls: len(calls) >= count)
    time.sleep(0.3)  # nothing more arrives
    assert all(call.headers["x-viber-auth-token"] == TOKEN for call in api.recorder.calls)
    return api.sent()


def to_her(text: str, buttons: tuple[Button, ...] = ()) -> dict:
    """The send_message body of a reply, written out as Viber documents it."""
    body: dict = {"receiver": USER_ID, "min_api_version": 1, "sender": {"name": NAME}, "type": "text",
                  "text": text}
    if buttons:
        body["keyboard"] = {"Type": "keyboard", "DefaultHeight": False, "Buttons": [
            {"ActionType": "reply", "ActionBody": b.payload, "Text": b.title, "Columns": 6, "Rows": 1}
            for b in buttons]}
    return body


def test_app_welcomes_her_in_her_language_when_she_opens_the_chat(app, api: ViberStandIn) -> None:
    running, rasa = app
    fallback = SafetyFallback.load(running.settings)
    for hint, language in [("en", "en"), ("sq", "sq"), ("sr-Latn", "sr"), ("mk", "mk"), ("de", "en")]:
        answer = post(running, standin.conversation_started(user_id=f"user-{hint}=", language=hint))
        assert answer.status_code == 200
        welcome = fallback.welcome(language)
        assert welcome.buttons, "the welcome offers the languages"
        expected = to_her(welcome.text or "", welcome.buttons)
        del expected["receiver"]  # the webhook's answer goes to whoever opened the chat
        assert answer.json() == expected
    time.sleep(0.3)
    assert api.recorder.calls == [] and rasa.senders == []


def test_app_answers_her_text_and_her_buttons_on_viber(app, api: ViberStandIn) -> None:
    running, rasa = app
    assert post(running, standin.text("hello")).status_code == 200
    assert post(running, standin.text("show me buttons")).status_code == 200
    assert sent_to_her(api, 2) == [
        to_her("echo: hello"),
        to_her("echo: show me buttons", SHELTER),
    ]
    assert post(running, standin.text("/seek_shelter")).status_code == 200  # she pressed "Shelter"
    assert sent_to_her(api, 3)[2] == to_her("echo: /seek_shelter")
    [sender] = rasa.senders
    assert rasa.texts_of(sender) == ["hello", "show me buttons", "/seek_shelter"]
    assert USER_ID not in sender


def test_app_refuses_forged_and_malformed_webhooks(app, api: ViberStandIn) -> None:
    running, rasa = app
    callback = standin.text("forged")
    body = standin.encode(callback)
    forged = {"X-Viber-Content-Signature": standin.sign(body, "guess")}
    assert running.post("/webhooks/viber", body, forged).status_code == 403
    assert running.post("/webhooks/viber", body, {}).status_code == 403
    broken = b'{"event": "message", "sender": {'
    assert running.post("/webhooks/viber", broken,
                        {"X-Viber-Content-Signature": standin.sign(broken)}).status_code == 400
    time.sleep(0.5)
    assert rasa.senders == [] and api.recorder.calls == []


def test_app_answers_a_retried_message_once_and_ignores_receipts(app, api: ViberStandIn) -> None:
    running, rasa = app
    callback = standin.text("only once", token=5491637589466148000)
    assert post(running, callback).status_code == 200
    assert post(running, callback).status_code == 200  # Viber delivering it again
    for ignored in (standin.receipt("delivered"), standin.receipt("seen"), standin.receipt("failed"),
                    standin.subscribed(), standin.unsubscribed(), standin.webhook_check(),
                    {"event": "a_future_event", "timestamp": 1457764197627}):
        answer = post(running, ignored)
        assert (answer.status_code, answer.json()) == (200, {})
    assert sent_to_her(api, 1) == [to_her("echo: only once")]
    [sender] = rasa.senders
    assert rasa.texts_of(sender) == ["only once"]


def test_app_tells_her_it_reads_text_only_and_asks_rasa_nothing(app, api: ViberStandIn) -> None:
    running, rasa = app
    assert post(running, standin.picture()).status_code == 200
    fallback = SafetyFallback.load(running.settings)
    assert sent_to_her(api, 1) == [to_her(fallback.text_only("en", None).text or "")]
    assert rasa.senders == []


def test_app_stops_when_viber_says_she_is_not_subscribed(app, api: ViberStandIn) -> None:
    running, _ = app
    api.script(6)
    assert post(running, standin.text("hello")).status_code == 200
    api.recorder.wait_for(lambda calls: len(calls) >= 1)
    time.sleep(2.5)  # a retry would have come by now (the outbox's first backoff is 1 s)
    assert len(api.sent()) == 1
    assert post(running, standin.text("hello again")).status_code == 200  # she writes: sends resume
    assert sent_to_her(api, 2)[1] == to_her("echo: hello again")


def test_app_retries_a_rate_limited_reply(app, api: ViberStandIn) -> None:
    running, _ = app
    api.script(HttpAnswer(429, retry_after=0.2), HttpAnswer(500))
    assert post(running, standin.text("hello")).status_code == 200
    assert sent_to_her(api, 3) == [to_her("echo: hello")] * 3
