"""The Telegram channel: real-format updates in, Bot API calls out, against a local stand-in.

The channel module is tested directly (``channels.telegram`` against
``tests.standins.telegram`` over real HTTP), then end to end through the running
app (``tests.gateway_harness``): a webhook POST signed with the secret token
ends as a ``sendMessage`` on the stand-in.
"""

from __future__ import annotations

import json
import logging
import time

import pytest
import yaml

from bot.assistant import Button
from bot.settings import Settings
from channels import telegram
from channels.base import Address, DeliveryOutcome, MalformedUpdate, Outbound
from channels.telegram import MAX_CALLBACK_DATA, MAX_TEXT, CallbackData, TelegramChannel, Throttle
from channels.text import split_text
from tests.gateway_harness import running_app
from tests.standins import telegram as tg
from tests.standins.rasa import RasaStandIn
from tests.standins.server import Served
from tests.standins.telegram import SECRET, SECRET_HEADER, TOKEN, TelegramStandIn

CHAT = 4242
HER = Address("telegram", str(CHAT))
LONG_PAYLOAD = '/inform_location{"place": "Ѓорче Петров", "country": "MK", "region": "Скопје"}'


@pytest.fixture(scope="module")
def standin():
    return TelegramStandIn()


@pytest.fixture(scope="module")
def api_base(standin):
    """``TELEGRAM_API_BASE`` of the stand-in, served over real HTTP."""
    with Served(standin.app) as served:
        yield served.url


@pytest.fixture(autouse=True)
def _fresh(request):
    if "standin" in request.fixturenames:
        request.getfixturevalue("standin").reset()


@pytest.fixture
async def channel(api_base):
    channel = TelegramChannel(TOKEN, SECRET, api_base, payloads=[LONG_PAYLOAD])
    yield channel
    await channel.close()


@pytest.fixture
def parser():
    """A channel for parsing only: it never calls the API."""
    return TelegramChannel(TOKEN, SECRET, "http://127.0.0.1:9", payloads=[LONG_PAYLOAD])


def body(update: dict) -> bytes:
    return json.dumps(update, ensure_ascii=False).encode()


# ------------------------------------------------------------------- verify


def test_the_right_secret_is_accepted(parser):
    assert parser.verify(tg.webhook_headers(), b"{}")
    assert parser.verify({SECRET_HEADER.lower(): SECRET}, b"{}")


@pytest.mark.parametrize("headers", [
    {},
    {"Content-Type": "application/json"},
    {SECRET_HEADER: ""},
    {SECRET_HEADER: "wrong"},
    {SECRET_HEADER: SECRET[:-1]},
    {SECRET_HEADER: SECRET + "x"},
    {SECRET_HEADER: "секрет"},
    {"X-Telegram-Bot-Api-Secret": SECRET},
])
def test_a_wrong_or_missing_secret_is_refused(parser, headers):
    assert not parser.verify(headers, b"{}")


# -------------------------------------------------------------------- parse


def test_start_carries_her_language_and_the_ids_for_deletion(parser):
    [start] = parser.parse(body(tg.start_update(7001, CHAT, message_id=55, language_code="sq-AL", date=1_700_000_000)))
    assert start.kind == "start" and start.language_hint == "sq"
    assert (start.platform, start.user_id, start.message_id) == ("telegram", str(CHAT), "7001")
    assert start.address == Address("telegram", str(CHAT), 1_700_000_000.0)
    assert start.deletable_ids == ("55",) and start.text == "" and start.callback_id is None


@pytest.mark.parametrize("update", [
    tg.start_update(1, CHAT, payload="from-the-shelter-site"),
    tg.text_update(1, CHAT, "/start@helpline_test_bot"),
    tg.start_update(1, CHAT, language_code=None),
])
def test_start_with_a_payload_a_bot_name_or_no_language(parser, update):
    [start] = parser.parse(body(update))
    assert start.kind == "start" and start.text == ""
    assert start.language_hint == (None if "language_code" not in update["message"]["from"] else "en")


@pytest.mark.parametrize("text", [
    "I need help",
    "Më ndihmoni 🙏🏽 ❤️‍🩹 👩‍👧",
    "أحتاج إلى مساعدة ‏עזרה‏ please",
    "line\x00one\x07\x1b[31m\u202eevil\u200b\r\nend",
    "x" * 5000,
    "/startle",
    "Ѓорче Петров",
])
def test_text_comes_through_exactly(parser, text):
    [message] = parser.parse(body(tg.text_update(9, CHAT, text, message_id=12)))
    assert message.kind == "text" and message.text == text
    assert message.message_id == "9" and message.deletable_ids == ("12",) and message.language_hint is None


def test_a_button_press_gives_its_payload_and_the_query_to_answer(parser):
    [press] = parser.parse(body(tg.callback_update(31, CHAT, "/seek_shelter", query_id="q-1")))
    assert (press.kind, press.text, press.callback_id, press.message_id) == ("button", "/seek_shelter", "q-1", "31")
    assert press.user_id == str(CHAT) and press.address.chat == str(CHAT) and press.address.last_inbound_at > 0
    assert press.deletable_ids == ()  # the message with the buttons is the bot's own, already kept


def test_a_shared_location(parser):
    [place] = parser.parse(body(tg.location_update(40, CHAT, 41.9981, 21.4254, message_id=3)))
    assert place.kind == "location" and place.location == (41.9981, 21.4254) and place.deletable_ids == ("3",)


FILE = {"file_id": "BQACAgIAAxkBAAIC", "file_unique_id": "AgADyy"}
UNSUPPORTED = {
    "voice": {**FILE, "duration": 3},
    "photo": [{**FILE, "width": 90, "height": 90, "file_size": 1500}],
    "video": {**FILE, "width": 640, "height": 480, "duration": 4},
    "sticker": {**FILE, "type": "regular", "width": 512, "height": 512, "is_animated": False,
                "is_video": False, "emoji": "😢"},
    "document": {**FILE, "file_name": "report.pdf", "mime_type": "application/pdf"},
    "audio": {**FILE, "duration": 60},
    "video_note": {**FILE, "length": 240, "duration": 5},
    "contact": {"phone_number": "+38970000000", "first_name": "Friend"},
    "animation": {**FILE, "width": 320, "height": 240, "duration": 2},
}


@pytest.mark.parametrize("field", sorted(UNSUPPORTED))
def test_anything_but_text_is_unsupported_and_nothing_of_it_is_kept(parser, field):
    update = tg.message_update(50, CHAT, message_id=8, caption="my address is ...", **{field: UNSUPPORTED[field]})
    [message] = parser.parse(body(update))
    assert (message.kind, message.text, message.location) == ("unsupported", "", None)
    assert message.deletable_ids == ("8",)
    assert "file_id" not in repr(message) and "+389" not in repr(message) and "address" not in message.text


def test_the_voice_sample_is_unsupported(parser):
    [message] = parser.parse(body(tg.voice_update(51, CHAT)))
    assert message.kind == "unsupported"


@pytest.mark.parametrize("update", [
    tg.text_update(60, -100123, "hello all", chat=tg.group_chat(-100123)),
    tg.text_update(61, -100124, "hi", chat={"id": -100124, "title": "Big", "type": "supergroup"}),
    tg.start_update(62, -100125, chat=tg.group_chat(-100125)),
    tg.callback_update(63, CHAT, "/deny", chat=tg.group_chat(-100126)),
    {"update_id": 64, "channel_post": {"message_id": 1, "date": 1_700_000_000, "text": "news",
                                       "chat": {"id": -100127, "title": "Channel", "type": "channel"}}},
])
def test_groups_and_channels_are_ignored(parser, update):
    assert parser.parse(body(update)) == []


@pytest.mark.parametrize("update", [
    {"update_id": 70, "edited_message": tg.text_update(0, CHAT, "edited")["message"]},
    {"update_id": 71, "my_chat_member": {
        "chat": tg.private_chat(CHAT), "from": tg.user(CHAT), "date": 1_700_000_000,
        "old_chat_member": {"status": "member", "user": tg.BOT_USER},
        "new_chat_member": {"status": "kicked", "user": tg.BOT_USER, "until_date": 0}}},
    {"update_id": 72, "a_type_telegram_adds_next_year": {"anything": [1, 2, 3]}},
    {"update_id": 73},
    tg.message_update(74, CHAT, write_access_allowed={"from_request": True}),
    tg.callback_update(75, CHAT, "#AAAAAAAAAAAAAAAA"),  # a digest no version of the domain has
])
def test_unknown_updates_and_service_messages_are_ignored(parser, update):
    assert parser.parse(body(update)) == []


@pytest.mark.parametrize("raw", [
    b"", b"not json", b"[]", b"null", b'"text"', b"{", b"\xff\xfe{}",
    b'{"message": {"text": "no update id"}}',
    b'{"update_id": "seven"}',
    b'{"update_id": 1, "message": {"message_id": 1, "text": "no chat, no date"}}',
])
def test_what_is_not_an_update_is_malformed(parser, raw):
    with pytest.raises(MalformedUpdate):
        parser.parse(raw)


# --------------------------------------------------------------------- send


async def test_a_reply_with_buttons_is_one_button_a_row(standin, channel):
    message = Outbound("Shqip apo English? 🌍", (Button("English", '/choose_language{"language": "en"}'),
                                                Button("Македонски", '/choose_language{"language": "mk"}')))
    delivery = await channel.send(HER, message)
    [call] = standin.calls("sendMessage")
    assert call.params == {"chat_id": str(CHAT), "text": "Shqip apo English? 🌍", "reply_markup": {"inline_keyboard": [
        [{"text": "English", "callback_data": '/choose_language{"language": "en"}'}],
        [{"text": "Македонски", "callback_data": '/choose_language{"language": "mk"}'}],
    ]}}
    assert delivery.outcome is DeliveryOutcome.SENT and delivery.sent_ids == ("1001",)


async def test_a_plain_reply_has_no_keyboard_and_ids_increase(standin, channel):
    first = await channel.send(HER, Outbound("one"))
    second = await channel.send(HER, Outbound("two"))
    assert [c.params for c in standin.calls("sendMessage")] == [
        {"chat_id": str(CHAT), "text": "one"}, {"chat_id": str(CHAT), "text": "two"}]
    assert int(second.sent_ids[0]) == int(first.sent_ids[0]) + 1


async def test_a_long_payload_round_trips_through_any_instance(standin, channel, parser):
    assert len(LONG_PAYLOAD.encode()) > MAX_CALLBACK_DATA
    await channel.send(HER, Outbound("Is this the place?", (Button("Yes", LONG_PAYLOAD), Button("No", "/deny"))))
    keyboard = standin.calls("sendMessage")[0].params["reply_markup"]["inline_keyboard"]
    data = keyboard[0][0]["callback_data"]
    assert data.startswith("#") and len(data.encode()) <= MAX_CALLBACK_DATA and keyboard[1][0]["callback_data"] == "/deny"
    [press] = parser.parse(body(tg.callback_update(90, CHAT, data)))  # another instance, nothing shared
    assert (press.kind, press.text) == ("button", LONG_PAYLOAD)


async def test_a_long_payload_unknown_to_the_domain_is_left_out_not_the_reply(standin, channel, caplog):
    unknown = '/inform_location{"place": "' + "Ш" * 40 + '"}'
    delivery = await channel.send(HER, Outbound("Choose", (Button("Far", unknown), Button("Near", "/deny"))))
    assert delivery.outcome is DeliveryOutcome.SENT
    assert standin.calls("sendMessage")[0].params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Near", "callback_data": "/deny"}]]}
    assert "left out" in caplog.text and "Ш" not in caplog.text


def test_callback_data_is_the_payload_when_it_fits():
    codec = CallbackData([LONG_PAYLOAD])
    for payload in ("/deny", '/choose_language{"language": "sq"}', "x" * 64):
        assert codec.encode(payload) == payload and codec.decode(payload) == payload
    assert codec.encode("x" * 65) is None
    assert codec.decode(codec.encode(LONG_PAYLOAD)) == LONG_PAYLOAD


def test_the_domain_payloads_are_the_table():
    payloads = telegram.domain_payloads()
    assert '/choose_language{"language": "mk"}' in payloads and "/delete_my_data" in payloads
    assert all(p.startswith("/") for p in payloads)


@pytest.mark.parametrize(("script", "outcome", "retry_after", "reason"), [
    (tg.too_many_requests(3), DeliveryOutcome.RETRY, 3.0, "rate limited"),
    (tg.blocked(), DeliveryOutcome.GONE, None, "blocked"),
    (tg.chat_not_found(), DeliveryOutcome.GONE, None, "chat not found"),
    (tg.error(400, "Bad Request: PEER_ID_INVALID"), DeliveryOutcome.DROP, None, "rejected"),
    (tg.server_error(), DeliveryOutcome.RETRY, None, "unavailable"),
    (tg.error(502, "Bad Gateway"), DeliveryOutcome.RETRY, None, "unavailable"),
    (tg.error(401, "Unauthorized"), DeliveryOutcome.RETRY, None, "TelegramUnauthorizedError"),
])
async def test_failures_become_deliveries(standin, channel, caplog, script, outcome, retry_after, reason):
    standin.script("sendMessage", script)
    delivery = await channel.send(HER, Outbound("she must not see this in a log"))
    assert (delivery.outcome, delivery.retry_after, delivery.reason, delivery.sent_ids) == (
        outcome, retry_after, reason, ())
    assert len(standin.calls("sendMessage")) == 1  # the outbox retries, not the channel
    assert "she must not" not in caplog.text and str(CHAT) not in caplog.text and TOKEN not in caplog.text


async def test_a_platform_out_of_reach_is_retried():
    channel = TelegramChannel(TOKEN, SECRET, "http://127.0.0.1:9")  # nothing listens there
    try:
        delivery = await channel.send(HER, Outbound("hello"))
    finally:
        await channel.close()
    assert (delivery.outcome, delivery.reason) == (DeliveryOutcome.RETRY, "unavailable")


async def test_a_long_text_is_split_and_the_buttons_go_last(standin, channel):
    paragraphs = [f"{i:03d} " + "word " * 199 for i in range(10)]  # 10 x ~1000 characters
    text = "\n\n".join(paragraphs)
    delivery = await channel.send(HER, Outbound(text, (Button("OK", "/affirm"),)))
    calls = standin.calls("sendMessage")
    assert len(calls) == 3 and delivery.sent_ids == tuple(str(1001 + i) for i in range(3))
    assert all(len(c.params["text"]) <= 4096 for c in calls)
    assert [c.params.get("reply_markup") for c in calls] == [
        None, None, {"inline_keyboard": [[{"text": "OK", "callback_data": "/affirm"}]]}]
    assert "\n\n".join(c.params["text"] for c in calls).split() == text.split()
    assert all(c.params["text"][:3].isdigit() for c in calls)  # cut between paragraphs


def test_splitting_counts_as_telegram_counts():  # and as Viber and WhatsApp count
    emoji = "👩‍👧" * 1500  # 3 code points, 5 UTF-16 units each
    chunks = split_text(emoji, MAX_TEXT)
    assert "".join(chunks) == emoji and len(chunks) == 2
    assert all(len(c.encode("utf-16-le")) // 2 <= 4096 for c in chunks)
    assert split_text("short", MAX_TEXT) == ["short"] and split_text("", MAX_TEXT) == [] and split_text(" \n", MAX_TEXT) == []
    unbroken = "y" * 9000
    assert [len(c) for c in split_text(unbroken, MAX_TEXT)] == [4096, 4096, 808]
    assert split_text("one two three four", 10) == ["one two", "three four"]
    assert split_text("🙂" * 6, 8) == ["🙂" * 4, "🙂" * 2]  # never half an emoji


async def test_the_rest_of_a_split_text_is_retried_by_the_channel(standin, channel):
    standin.script("sendMessage", None, tg.too_many_requests(1))
    delivery = await channel.send(HER, Outbound("a" * 4000 + " " + "b" * 4000))
    texts = [c.params["text"][0] for c in standin.calls("sendMessage")]
    assert texts == ["a", "b", "b"]  # the start once, on her phone already
    assert delivery.outcome is DeliveryOutcome.SENT and len(delivery.sent_ids) == 2


async def test_a_split_text_refused_midway_keeps_the_ids_sent(standin, channel):
    standin.script("sendMessage", None, tg.blocked())
    delivery = await channel.send(HER, Outbound("a" * 4000 + " " + "b" * 4000))
    assert delivery.outcome is DeliveryOutcome.GONE and delivery.sent_ids == ("1001",)


async def test_sends_to_one_chat_keep_to_one_a_second_after_a_burst(standin, channel):
    for n in range(4):
        await channel.send(HER, Outbound(f"m{n}"))
    at = [c.at for c in standin.calls("sendMessage")]
    assert at[2] - at[0] < 0.5 and at[3] - at[0] >= 0.9


def test_throttle_bursts_then_one_a_second_per_chat_and_thirty_in_all():
    now = [100.0]
    throttle = Throttle(clock=lambda: now[0])
    assert [throttle.reserve("a") for _ in range(5)] == [0.0, 0.0, 0.0, 1.0, 2.0]
    now[0] += 10  # idle: the burst is back
    assert throttle.reserve("a") == 0.0
    now[0] += 10
    delays = [throttle.reserve(f"chat{i}") for i in range(60)]
    assert delays[:30] == [0.0] * 30 and delays[30] == pytest.approx(1 / 30) and delays[59] == pytest.approx(1.0)


def test_throttle_forgets_idle_chats():
    now = [0.0]
    throttle = Throttle(total_rate=1e9, clock=lambda: now[0])
    for i in range(Throttle.MAX_TRACKED + 5):
        throttle.reserve(f"chat{i}")
    now[0] += 10
    throttle.reserve("another")
    assert len(throttle._chats) == 1


# ------------------------------------------------------- acknowledge, delete


async def test_a_button_press_is_answered(standin, channel):
    await channel.acknowledge("4382bfdwdsb323b2d9")
    assert [c.params for c in standin.calls("answerCallbackQuery")] == [{"callback_query_id": "4382bfdwdsb323b2d9"}]


@pytest.mark.parametrize("script", [tg.server_error(), tg.error(400, "Bad Request: query is too old"),
                                    tg.too_many_requests(5)])
async def test_answering_a_press_never_fails(standin, channel, script):
    standin.script("answerCallbackQuery", script)
    await channel.acknowledge("q")


async def test_deletion_goes_in_batches_of_a_hundred(standin, channel):
    ids = [str(i) for i in range(250, 0, -1)] + ["7", "not-an-id"]
    await channel.delete(HER, ids)
    calls = standin.calls("deleteMessages")
    assert [c.params["chat_id"] for c in calls] == [str(CHAT)] * 3
    assert [c.params["message_ids"] for c in calls] == [
        list(range(1, 101)), list(range(101, 201)), list(range(201, 251))]


async def test_without_delete_messages_each_is_deleted_and_old_ones_are_let_be(standin, channel, caplog):
    caplog.set_level(logging.INFO, logger="channels.telegram")
    standin.script("deleteMessages", tg.error(400, "Bad Request: method is not available"))
    standin.undeletable.update({2, 4})
    await channel.delete(HER, ["1", "2", "3", "4", "5"])
    assert [c.params for c in standin.calls("deleteMessage")] == [
        {"chat_id": str(CHAT), "message_id": str(i)} for i in range(1, 6)]
    assert "kept 2 messages" in caplog.text and str(CHAT) not in caplog.text


async def test_deletion_waits_out_a_rate_limit(standin, channel):
    standin.script("deleteMessages", tg.too_many_requests(1))
    await channel.delete(HER, ["10", "11"])
    calls = standin.calls("deleteMessages")
    assert [c.params["message_ids"] for c in calls] == [[10, 11], [10, 11]] and calls[1].at - calls[0].at >= 0.9


async def test_register_webhook(standin, channel):
    await channel.register_webhook("https://helpline.example.org/webhooks/telegram")
    [call] = standin.calls("setWebhook")
    assert call.params == {"url": "https://helpline.example.org/webhooks/telegram", "secret_token": SECRET,
                           "allowed_updates": ["message", "callback_query"], "drop_pending_updates": "false"}


async def test_handshake_and_start_answer_are_not_telegrams(parser):
    assert parser.handshake({"hub.challenge": "x"}) is None
    assert parser.start_answer(Outbound("welcome")) is None
    assert parser.can_delete and parser.name == "telegram"


# ----------------------------------------------------------------- settings


def test_from_settings_needs_the_token_and_the_secret():
    assert telegram.CREDENTIALS == ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET")
    assert telegram.from_settings(Settings(telegram_bot_token=TOKEN)) is None
    assert telegram.from_settings(Settings(telegram_webhook_secret=SECRET)) is None
    assert telegram.from_settings(Settings(telegram_bot_token=TOKEN, telegram_webhook_secret="")) is None
    channel = telegram.from_settings(Settings(telegram_bot_token=TOKEN, telegram_webhook_secret=SECRET))
    assert isinstance(channel, TelegramChannel) and channel.verify(tg.webhook_headers(), b"")
    data = channel._callbacks.encode('/choose_language{"language": "sr"}')
    assert data == '/choose_language{"language": "sr"}'


# ------------------------------------------------ end to end, through the app


@pytest.fixture(scope="module")
def rasa():
    rasa = RasaStandIn()
    with Served(rasa.app) as served:
        rasa.url = served.url
        yield rasa


@pytest.fixture(scope="module")
def app(rasa, api_base):
    """The real app with the Telegram channel on, its Bot API being the stand-in."""
    with running_app(rasa.url, telegram_bot_token=TOKEN, telegram_webhook_secret=SECRET,
                     telegram_api_base=api_base) as running:
        yield running


def post(app, update: dict, secret: str | None = SECRET):
    headers = tg.webhook_headers(secret) if secret is not None else {"Content-Type": "application/json"}
    return app.post("/webhooks/telegram", body(update), headers)


def replies(standin, chat: int, count: int = 1) -> list[dict]:
    return [c.params for c in standin.wait_for("sendMessage", count, chat_id=str(chat))]


def settle() -> None:
    """Long enough for the gateway's workers to have sent anything more they would."""
    time.sleep(1.5)


def test_a_signed_start_is_answered_in_her_language(app, rasa, standin):
    assert post(app, tg.start_update(80001, 501, language_code="mk")).status_code == 200
    [reply] = replies(standin, 501)
    assert reply == {"chat_id": "501", "text": 'echo: /greet{"language": "mk"}'}


def test_a_reply_with_buttons_and_the_press_that_follows(app, rasa, standin):
    assert post(app, tg.text_update(80011, 502, "show me the buttons")).status_code == 200
    [reply] = replies(standin, 502)
    assert reply == {"chat_id": "502", "text": "echo: show me the buttons", "reply_markup": {"inline_keyboard": [
        [{"text": "Shelter", "callback_data": "/seek_shelter"}],
        [{"text": "Legal aid", "callback_data": "/seek_legal_aid"}],
    ]}}
    assert post(app, tg.callback_update(80012, 502, "/seek_shelter", query_id="press-502")).status_code == 200
    assert replies(standin, 502, 2)[1]["text"] == "echo: /seek_shelter"
    assert [c.params for c in standin.calls("answerCallbackQuery")] == [{"callback_query_id": "press-502"}]


def test_a_retried_update_is_answered_once(app, rasa, standin):
    update = tg.text_update(80021, 503, "are you there?")
    assert [post(app, update).status_code for _ in range(3)] == [200, 200, 200]
    replies(standin, 503)
    settle()
    assert len(standin.calls("sendMessage", chat_id="503")) == 1
    assert sum(texts.count("are you there?") for texts in map(rasa.texts_of, rasa.senders)) == 1


def test_her_messages_are_answered_in_order(app, standin):
    for n in range(5):
        assert post(app, tg.text_update(80031 + n, 504, f"message {n}", message_id=n + 1)).status_code == 200
    assert [r["text"] for r in replies(standin, 504, 5)] == [f"echo: message {n}" for n in range(5)]


@pytest.mark.parametrize("secret", [None, "", "forged", SECRET.upper()])
def test_a_webhook_without_the_secret_is_refused_and_nothing_is_done(app, rasa, standin, secret):
    texts_before = sum(len(rasa.texts_of(s)) for s in rasa.senders)
    assert post(app, tg.text_update(80041, 505, "forged"), secret=secret).status_code == 403
    settle()
    assert standin.calls(chat_id="505") == []
    assert sum(len(rasa.texts_of(s)) for s in rasa.senders) == texts_before


def test_malformed_unknown_and_group_updates(app, standin):
    headers = tg.webhook_headers()
    assert app.post("/webhooks/telegram", b"{not json", headers).status_code == 400
    assert app.post("/webhooks/telegram", b'{"update_id": "x"}', headers).status_code == 400
    assert post(app, {"update_id": 80051, "a_type_telegram_adds_next_year": {"anything": 1}}).status_code == 200
    assert post(app, {"update_id": 80053, "edited_message": tg.text_update(0, 506, "edit")["message"]}).status_code == 200
    assert post(app, tg.text_update(80052, -506, "hi all", chat=tg.group_chat(-506))).status_code == 200
    settle()
    assert standin.calls("sendMessage") == []


def test_a_voice_message_gets_the_text_only_reply_and_reaches_no_one(app, rasa, standin):
    senders_before = set(rasa.senders)
    assert post(app, tg.voice_update(80061, 507)).status_code == 200
    [reply] = replies(standin, 507)
    domain = yaml.safe_load(telegram.DOMAIN_FILE.read_text(encoding="utf-8"))
    english = next(v for v in domain["responses"]["utter_text_only"] if v["condition"][0]["value"] == "en")
    assert reply["text"].startswith(english["text"].split("{")[0])  # then her country's numbers
    assert set(rasa.senders) == senders_before


def test_a_rate_limited_reply_is_sent_after_retry_after(app, standin):
    standin.script("sendMessage", tg.too_many_requests(1))
    assert post(app, tg.text_update(80071, 508, "slow down")).status_code == 200
    first, second = standin.wait_for("sendMessage", 2, chat_id="508", timeout=15)
    assert first.params == second.params == {"chat_id": "508", "text": "echo: slow down"}
    assert second.at - first.at >= 0.9
    settle()
    assert len(standin.calls("sendMessage", chat_id="508")) == 2


def test_long_unicode_text_through_the_app(app, standin):
    text = "ﻣﺮﺣﺒﺎ 👩‍👧 Ѓорче\u200f " * 400  # right to left, emoji, Cyrillic: about 8000 UTF-16 units
    assert post(app, tg.text_update(80081, 509, text)).status_code == 200
    sent = replies(standin, 509, 2)
    assert all(len(r["text"].encode("utf-16-le")) // 2 <= 4096 for r in sent)
    assert " ".join(r["text"] for r in sent).split() == ("echo: " + text).split()
