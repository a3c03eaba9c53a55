"""The WhatsApp channel against a stand-in of Meta's Cloud API, with real-format webhooks.

The channel module alone: the handshake, the signature, every kind of message
parsed, the exact payloads sent (text, reply buttons, list messages), the 24-hour
window and Meta's errors. At the end, the same through the running app.
"""

from __future__ import annotations

import json
import logging
import time

import pytest
from starlette.responses import Response

from bot.assistant import Button
from bot.safety_fallback import SafetyFallback
from bot.settings import Settings
from channels import whatsapp
from channels.base import Address, DeliveryOutcome, Inbound, MalformedUpdate, Outbound
from channels.whatsapp import WhatsAppChannel
from tests.standins import whatsapp as wa
from tests.standins.rasa import RasaStandIn
from tests.standins.server import Served

NOW = int(time.time())
HER = Address("whatsapp", wa.HER_NUMBER, NOW)
SECRETS = (wa.ACCESS_TOKEN, wa.APP_SECRET, wa.VERIFY_TOKEN, wa.HER_NUMBER)


@pytest.fixture(scope="module")
def served_graph():
    graph = wa.GraphStandIn()
    with Served(graph.app) as served:
        yield graph, graph.base(served.url)


@pytest.fixture
def graph(served_graph) -> wa.GraphStandIn:
    standin, _ = served_graph
    standin.reset()
    return standin


@pytest.fixture
async def channel(served_graph, graph):
    _, base = served_graph
    channel = WhatsAppChannel(wa.ACCESS_TOKEN, wa.APP_SECRET, wa.VERIFY_TOKEN,
                              wa.PHONE_NUMBER_ID, base)
    yield channel
    await channel.close()


def parse(channel: WhatsAppChannel, *messages: wa.Json, **options) -> list[Inbound]:
    return channel.parse(wa.encode(wa.update(*messages, **options)))


def assert_no_content(text: str, *content: str) -> None:
    for secret in (*SECRETS, *content):
        assert secret not in text


# ---------------------------------------------------------------- settings


def test_it_is_off_unless_every_credential_is_set():
    full = {"whatsapp_access_token": "t", "whatsapp_app_secret": "s",
            "whatsapp_verify_token": "v", "whatsapp_phone_number_id": "1"}
    assert [name.lower() for name in whatsapp.CREDENTIALS] == list(full)
    for missing in full:
        partial = {name: value for name, value in full.items() if name != missing}
        assert whatsapp.from_settings(Settings(**partial)) is None
    channel = whatsapp.from_settings(Settings(**full))
    assert isinstance(channel, WhatsAppChannel) and channel.name == whatsapp.NAME == "whatsapp"
    assert channel.can_delete is False


def test_the_default_api_is_the_graph_api_at_a_pinned_version():
    assert Settings().whatsapp_api_base == "https://graph.facebook.com/v23.0"


async def test_sends_go_to_the_configured_api_base(served_graph, graph):
    _, base = served_graph
    channel = whatsapp.from_settings(Settings(
        whatsapp_access_token=wa.ACCESS_TOKEN, whatsapp_app_secret=wa.APP_SECRET,
        whatsapp_verify_token=wa.VERIFY_TOKEN, whatsapp_phone_number_id=wa.PHONE_NUMBER_ID,
        whatsapp_api_base=base + "/"))
    try:
        assert (await channel.send(HER, Outbound("hi"))).outcome is DeliveryOutcome.SENT
    finally:
        await channel.close()
    assert [call.path for call in graph.recorder.calls] == [f"/v23.0/{wa.PHONE_NUMBER_ID}/messages"]


# --------------------------------------------------------------- handshake


def test_the_handshake_answers_the_challenge_only_with_our_verify_token(channel):
    genuine = {"hub.mode": "subscribe", "hub.verify_token": wa.VERIFY_TOKEN,
               "hub.challenge": "1158201444"}
    assert channel.handshake(genuine) == "1158201444"
    assert channel.handshake(genuine | {"hub.verify_token": "guess"}) is None
    assert channel.handshake(genuine | {"hub.verify_token": wa.VERIFY_TOKEN + "x"}) is None
    assert channel.handshake(genuine | {"hub.verify_token": "ключ"}) is None
    assert channel.handshake(genuine | {"hub.mode": "unsubscribe"}) is None
    assert channel.handshake({k: v for k, v in genuine.items() if k != "hub.verify_token"}) is None
    assert channel.handshake({k: v for k, v in genuine.items() if k != "hub.challenge"}) is None
    assert channel.handshake({}) is None


# ------------------------------------------------------------------ verify


def test_only_a_body_signed_with_the_app_secret_is_accepted(channel):
    body = wa.encode(wa.update(wa.text("hello")))
    assert channel.verify({"X-Hub-Signature-256": wa.sign(body)}, body)
    assert channel.verify({"x-hub-signature-256": wa.sign(body)}, body)  # header names have no case
    assert not channel.verify({}, body)
    assert not channel.verify({"X-Hub-Signature-256": ""}, body)
    assert not channel.verify({"X-Hub-Signature-256": wa.sign(body, "another secret")}, body)
    assert not channel.verify({"X-Hub-Signature-256": wa.sign(body)}, body + b" ")
    assert not channel.verify({"X-Hub-Signature-256": wa.sign(body).removeprefix("sha256=")}, body)
    assert not channel.verify({"X-Hub-Signature": wa.sign(body)}, body)  # the SHA-1 header
    assert not channel.verify({"X-Hub-Signature-256": "sha256=ünïcode"}, body)


# ------------------------------------------------------------------- parse


@pytest.mark.parametrize("body", [
    "hello",
    "Më ndihmo 🙏🏽 ju lutem 👩‍👧",
    "אני צריכה עזרה — مساعدة من فضلك",
    "line\x00one\x07\x1b[31m\u202eevil\r\nend\t",
    "a" * 4096 + " " + "б" * 20_000,
])
def test_a_text_message_is_what_she_wrote(channel, body):
    message = wa.text(body, message_id="wamid.ABGGFlA5Fpa", timestamp=NOW - 5)
    assert parse(channel, message) == [Inbound(
        platform="whatsapp", user_id=wa.HER_NUMBER, message_id="wamid.ABGGFlA5Fpa", kind="text",
        address=Address("whatsapp", wa.HER_NUMBER, NOW - 5), text=body)]


def test_a_body_of_raw_utf8_is_read_as_well(channel):
    body = json.dumps(wa.update(wa.text("Здраво 🌸")), ensure_ascii=False).encode()
    assert [m.text for m in channel.parse(body)] == ["Здраво 🌸"]


def test_buttons_pressed_give_their_payloads(channel):
    messages = parse(
        channel,
        wa.button_reply("/seek_shelter", "Shelter"),
        wa.list_reply('/choose_language{"language": "sq"}', "Shqip", "Shqip"),
        wa.template_button("/affirm", "Yes"),
    )
    assert [(m.kind, m.text) for m in messages] == [
        ("button", "/seek_shelter"), ("button", '/choose_language{"language": "sq"}'),
        ("button", "/affirm")]
    assert {(m.address.platform, m.address.chat) for m in messages} == {("whatsapp", wa.HER_NUMBER)}


def test_a_shared_location_is_its_coordinates(channel):
    [message] = parse(channel, wa.location(41.9981, 21.4254))
    assert (message.kind, message.text, message.location) == ("location", "", (41.9981, 21.4254))


@pytest.mark.parametrize("message", [
    wa.image(caption="my bruises"), wa.media("audio"), wa.media("video"), wa.media("document"),
    wa.media("sticker"), wa.contacts(),
], ids=["image", "voice", "video", "document", "sticker", "contacts"])
def test_what_is_not_text_is_unsupported_and_nothing_of_it_is_kept(channel, message):
    [inbound] = parse(channel, message)
    assert (inbound.kind, inbound.text, inbound.location) == ("unsupported", "", None)
    assert "bruises" not in repr(inbound)


def test_a_message_whatsapp_itself_does_not_support_is_unsupported(channel):
    assert [m.kind for m in parse(channel, wa.unknown())] == ["unsupported"]


def test_opening_the_chat_for_the_first_time_is_a_start(channel):
    [inbound] = parse(channel, wa.request_welcome())
    assert inbound.kind == "start"


def test_several_messages_keep_their_order(channel):
    messages = parse(channel, wa.text("one"), wa.reaction("❤️"), wa.text("two"), wa.image(),
                     wa.text("three"))
    assert [(m.kind, m.text) for m in messages] == [
        ("text", "one"), ("text", "two"), ("unsupported", ""), ("text", "three")]
    assert len({m.message_id for m in messages}) == 4


ECHOED = wa.update(wa.text("hi"))["entry"][0]["changes"][0]["value"]


@pytest.mark.parametrize("update", [
    wa.update(statuses=(wa.status("sent"), wa.status("delivered"), wa.status("read"))),
    wa.update(wa.reaction("👍")),
    wa.update(wa.message("order", {"order": {"catalog_id": "1", "product_items": []}})),
    wa.update(wa.message("interactive", {"interactive": {"type": "nfm_reply", "nfm_reply": {}}})),
    wa.update(wa.text("to another number of the app"), phone_number_id="999"),
    {"object": "whatsapp_business_account", "entry": []},
    {"object": "whatsapp_business_account"},
    {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "message_template_status_update", "value": {"event": "APPROVED"}}]}]},
    {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "smb_message_echoes", "value": ECHOED},
    ]}]},
], ids=["statuses", "reaction", "order", "flow", "other number", "no entries", "no entry key",
        "other field", "messages under another field"])
def test_what_needs_no_answer_is_ignored(channel, update):
    assert channel.parse(wa.encode(update)) == []


def test_fields_unknown_to_the_channel_are_ignored(channel):
    update = wa.update(wa.text("hi") | {"referral": {"source_type": "ad"}, "new_field": [1]})
    update["entry"][0]["changes"][0]["value"]["new_field"] = {"nested": True}
    update["unknown_field"] = {"nested": [1, 2]}
    assert [m.text for m in channel.parse(wa.encode(update))] == ["hi"]


def test_a_failed_status_is_logged_as_a_count_and_codes_only(channel, caplog):
    caplog.set_level(logging.INFO)
    statuses = (wa.status("failed", 131047), wa.status("failed", 131026), wa.status("read"))
    update = wa.update(statuses=statuses)
    assert channel.parse(wa.encode(update)) == []
    [record] = [r for r in caplog.records if r.name == "channels.whatsapp"]
    assert record.getMessage() == "whatsapp could not deliver 2 replies (codes [131026, 131047])"


@pytest.mark.parametrize("body", [
    b"{not json", b"", b"\xff\xfe\x00", b"[]", b'"text"', b"null",
    json.dumps({"object": "page", "entry": []}).encode(),
    json.dumps({"entry": []}).encode(),
    json.dumps({"object": "whatsapp_business_account", "entry": "everything"}).encode(),
    json.dumps({"object": "whatsapp_business_account",
                "entry": [{"changes": [{"field": "messages", "value": []}]}]}).encode(),
    wa.encode(wa.update(wa.text("hi") | {"timestamp": "yesterday"})),
    wa.encode(wa.update(wa.text("hi") | {"text": {"body": 12}})),
    wa.encode(wa.update(wa.location(1.0, 2.0) | {"location": {"latitude": "north"}})),
    wa.encode(wa.update({k: v for k, v in wa.text("hi").items() if k != "from"})),
], ids=["broken", "empty", "not utf-8", "list", "string", "null", "page object", "no object",
        "entry not a list", "value not an object", "bad timestamp", "body not text", "bad location",
        "no sender"])
def test_what_is_not_a_whatsapp_update_is_malformed(channel, body):
    with pytest.raises(MalformedUpdate):
        channel.parse(body)


# -------------------------------------------------------------------- send


def envelope(kind: str, content: dict) -> dict:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": wa.HER_NUMBER,
            "type": kind, kind: content}


def text_payload(body: str) -> dict:
    return envelope("text", {"body": body, "preview_url": False})


async def test_a_text_is_sent_to_her_number_with_the_bearer_token(channel, graph):
    delivery = await channel.send(HER, Outbound("Hello 🌸 https://example.org"))
    assert delivery.outcome is DeliveryOutcome.SENT and delivery.sent_ids == ()
    [call] = graph.recorder.calls
    assert (call.method, call.path) == ("POST", f"/v23.0/{wa.PHONE_NUMBER_ID}/messages")
    assert call.headers["authorization"] == f"Bearer {wa.ACCESS_TOKEN}"
    assert call.headers["content-type"] == "application/json"
    assert call.json() == text_payload("Hello 🌸 https://example.org")


async def test_three_buttons_are_reply_buttons(channel, graph):
    buttons = (Button("Shelter", "/seek_shelter"), Button("Legal aid", "/seek_legal_aid"),
               Button("Shqip", '/choose_language{"language": "sq"}'))
    delivery = await channel.send(HER, Outbound("What do you need?", buttons))
    assert delivery.outcome is DeliveryOutcome.SENT
    assert graph.sent() == [envelope("interactive", {
        "type": "button",
        "body": {"text": "What do you need?"},
        "action": {"buttons": [
            {"type": "reply", "reply": {"id": "/seek_shelter", "title": "Shelter"}},
            {"type": "reply", "reply": {"id": "/seek_legal_aid", "title": "Legal aid"}},
            {"type": "reply",
             "reply": {"id": '/choose_language{"language": "sq"}', "title": "Shqip"}},
        ]},
    })]


async def test_five_buttons_are_a_list_message(channel, graph):
    languages = ["English", "Shqip", "Српски", "Македонски", "Srpski"]
    buttons = tuple(Button(title, f"/language{n}") for n, title in enumerate(languages))
    delivery = await channel.send(HER, Outbound("Choose a language", buttons))
    assert delivery.outcome is DeliveryOutcome.SENT
    assert graph.sent() == [envelope("interactive", {
        "type": "list",
        "body": {"text": "Choose a language"},
        "action": {"button": "☰", "sections": [{"title": "☰", "rows": [
            {"id": b.payload, "title": b.title} for b in buttons]}]},
    })]


async def test_a_title_too_long_for_a_button_makes_a_list_with_the_full_title(channel, graph):
    buttons = (Button("Yes", "/affirm"),
               Button("I need a safe place to stay tonight", "/seek_shelter"))
    await channel.send(HER, Outbound("Shall I look?", buttons))
    [payload] = graph.sent()
    assert payload["interactive"]["type"] == "list"
    assert payload["interactive"]["action"]["sections"] == [{"title": "☰", "rows": [
        {"id": "/affirm", "title": "Yes"},
        {"id": "/seek_shelter", "title": "I need a safe place to…",
         "description": "I need a safe place to stay tonight"},
    ]}]


async def test_more_than_ten_buttons_send_the_first_ten(channel, graph):
    buttons = tuple(Button(f"Region {n}", f"/region{n}") for n in range(13))
    await channel.send(HER, Outbound("Where are you?", buttons))
    [payload] = graph.sent()
    rows = payload["interactive"]["action"]["sections"][0]["rows"]
    assert [row["id"] for row in rows] == [f"/region{n}" for n in range(10)]


async def test_a_text_longer_than_whatsapp_takes_is_sent_in_parts_cut_at_words(channel, graph):
    words = ("Fjalë " * 1500).strip()  # 8999 characters
    await channel.send(HER, Outbound(words))
    parts = [payload["text"]["body"] for payload in graph.sent()]
    assert len(parts) == 3 and all(len(part) <= 4096 for part in parts)
    assert " ".join(parts) == words


async def test_a_long_text_with_buttons_comes_first_then_the_buttons_under_its_end(channel, graph):
    words = ("word " * 1000).strip()  # 4999 characters
    await channel.send(HER, Outbound(words, (Button("OK", "/affirm"),)))
    sent = graph.sent()
    assert [payload["type"] for payload in sent] == ["text", "interactive"]
    body = sent[1]["interactive"]["body"]["text"]
    assert len(sent[0]["text"]["body"]) <= 4096 and len(body) <= 1024
    assert sent[0]["text"]["body"] + " " + body == words


async def test_buttons_without_text_still_have_a_body(channel, graph):
    await channel.send(HER, Outbound(None, (Button("OK", "/affirm"),)))
    assert graph.sent()[0]["interactive"]["body"] == {"text": "☰"}


async def test_a_button_whose_payload_whatsapp_cannot_carry_is_left_out(channel, graph, caplog):
    buttons = (Button("OK", "/affirm"), Button("Long", "/inform" + "x" * 300))
    await channel.send(HER, Outbound("Well?", buttons))
    assert graph.sent()[0]["interactive"]["action"]["buttons"] == [
        {"type": "reply", "reply": {"id": "/affirm", "title": "OK"}}]
    assert "1 buttons did not fit a whatsapp message and were left out" in caplog.text


async def test_nothing_to_say_sends_nothing(channel, graph):
    assert (await channel.send(HER, Outbound())).outcome is DeliveryOutcome.SENT
    assert graph.recorder.calls == []


# ---------------------------------------------------------- 24-hour window


@pytest.mark.parametrize("last_inbound_at", [NOW - 24 * 3600 - 60, 0.0])
async def test_no_reply_outside_the_24_hour_window_and_the_log_says_so_without_content(
        channel, graph, caplog, last_inbound_at):
    caplog.set_level(logging.INFO)
    reply = Outbound("Your shelter is at 5 Main St", (Button("OK", "/affirm"),))
    delivery = await channel.send(Address("whatsapp", wa.HER_NUMBER, last_inbound_at), reply)
    assert (delivery.outcome, delivery.reason) == (DeliveryOutcome.DROP, "outside window")
    assert graph.recorder.calls == []
    [record] = [r for r in caplog.records if r.name == "channels.whatsapp"]
    assert record.getMessage() == "a whatsapp reply was not sent: outside the 24-hour window"
    assert_no_content(caplog.text, "shelter", "Main St", "/affirm")


async def test_a_reply_just_inside_the_window_is_sent(channel, graph):
    address = Address("whatsapp", wa.HER_NUMBER, time.time() - 24 * 3600 + 60)
    assert (await channel.send(address, Outbound("still here"))).outcome is DeliveryOutcome.SENT
    assert len(graph.recorder.calls) == 1


# ------------------------------------------------------------------ errors


RETRY, GONE, DROP = DeliveryOutcome.RETRY, DeliveryOutcome.GONE, DeliveryOutcome.DROP


@pytest.mark.parametrize(("response", "outcome", "reason", "retry_after"), [
    (lambda: wa.rate_limited(), RETRY, "rate limited", None),
    (lambda: wa.rate_limited(retry_after=7), RETRY, "rate limited", 7.0),
    (lambda: wa.graph_error(130429, 400, "Rate limit hit"), RETRY, "rate limited", None),
    (lambda: wa.graph_error(131056, 400, "Pair rate limit hit"), RETRY, "rate limited", None),
    (lambda: wa.graph_error(80007, 400, "Rate limit issues"), RETRY, "rate limited", None),
    (lambda: wa.graph_error(4, 400, "Application request limit reached"), RETRY, "rate limited",
     None),
    (lambda: Response("Too Many Requests", 429), RETRY, "rate limited", None),
    (lambda: wa.server_error(), RETRY, "server error", None),
    (lambda: wa.graph_error(131000, 503, "Something went wrong"), RETRY, "server error", None),
    (lambda: wa.graph_error(131047, 400, "Re-engagement message"), DROP, "re-engagement", None),
    (lambda: wa.graph_error(131026, 400, "Message undeliverable"), GONE, "undeliverable", None),
    (lambda: wa.graph_error(131051, 400, "Unsupported message type"), DROP, "unsupported", None),
    (lambda: wa.graph_error(131031, 400, "Account has been locked"), RETRY, "account", None),
    (lambda: wa.graph_error(131042, 400, "Business eligibility payment issue"), RETRY, "account",
     None),
    (lambda: wa.graph_error(10, 403, "Permission denied"), RETRY, "account", None),
    (lambda: wa.graph_error(100, 400, "Invalid parameter"), DROP, "rejected", None),
], ids=["429", "429 retry-after", "130429", "131056", "80007", "4", "429 plain", "500", "503",
        "131047", "131026", "131051", "131031", "131042", "10", "400"])
async def test_meta_errors_are_retried_or_end_the_sends(channel, graph, caplog, response, outcome,
                                                        reason, retry_after):
    graph.script(response())
    delivery = await channel.send(HER, Outbound("Call 112 if you are in danger"))
    assert (delivery.outcome, delivery.reason) == (outcome, reason)
    assert delivery.retry_after == retry_after
    assert len(graph.recorder.calls) == 1
    assert_no_content(caplog.text, "112", "danger")


async def test_after_a_passing_failure_the_next_send_goes_through(channel, graph):
    graph.script(wa.rate_limited())
    assert (await channel.send(HER, Outbound("one"))).outcome is DeliveryOutcome.RETRY
    assert (await channel.send(HER, Outbound("one"))).outcome is DeliveryOutcome.SENT
    assert [p["text"]["body"] for p in graph.sent()] == ["one", "one"]


async def test_a_refused_access_token_is_retried_and_not_blamed_on_her(served_graph, graph):
    _, base = served_graph
    channel = WhatsAppChannel("expired-token", wa.APP_SECRET, wa.VERIFY_TOKEN,
                              wa.PHONE_NUMBER_ID, base)
    try:
        delivery = await channel.send(HER, Outbound("hello"))
    finally:
        await channel.close()
    assert (delivery.outcome, delivery.reason) == (DeliveryOutcome.RETRY, "account")
    assert graph.recorder.calls[0].headers["authorization"] == "Bearer expired-token"


async def test_an_unreachable_api_is_retried(caplog):
    from tests.stack import free_port

    channel = WhatsAppChannel(wa.ACCESS_TOKEN, wa.APP_SECRET, wa.VERIFY_TOKEN, wa.PHONE_NUMBER_ID,
                              f"http://127.0.0.1:{free_port()}/v23.0")
    try:
        delivery = await channel.send(HER, Outbound("hello"))
    finally:
        await channel.close()
    assert (delivery.outcome, delivery.reason) == (DeliveryOutcome.RETRY, "network")
    assert "a whatsapp send failed: ConnectError" in caplog.text


async def test_a_failing_part_ends_the_send(channel, graph):
    graph.script(None, wa.graph_error(131047, 400, "Re-engagement message"))
    long_text = ("word " * 1000).strip()
    delivery = await channel.send(HER, Outbound(long_text, (Button("OK", "/affirm"),)))
    assert delivery.outcome is DeliveryOutcome.DROP
    assert [p["type"] for p in graph.sent()] == ["text", "interactive"]


# ------------------------------------------------------- what is not there


async def test_nothing_is_acknowledged_deleted_or_registered_through_the_api(channel, graph):
    await channel.acknowledge("wamid.X")
    await channel.delete(HER, ["wamid.X"])
    assert channel.start_answer(Outbound("welcome")) is None
    with pytest.raises(RuntimeError, match="configure the webhook in the Meta app dashboard.*"
                                           "https://helpline.example/webhooks/whatsapp"):
        await channel.register_webhook("https://helpline.example/webhooks/whatsapp")
    assert graph.recorder.calls == []


# ------------------------------------------------------ through the app


@pytest.fixture
def app(served_graph, graph):
    """The running app with WhatsApp on (pointed at the stand-in) and a stand-in Rasa."""
    from tests.gateway_harness import running_app

    _, base = served_graph
    rasa = RasaStandIn()
    credentials = {"whatsapp_access_token": wa.ACCESS_TOKEN, "whatsapp_app_secret": wa.APP_SECRET,
                   "whatsapp_verify_token": wa.VERIFY_TOKEN,
                   "whatsapp_phone_number_id": wa.PHONE_NUMBER_ID}
    with Served(rasa.app) as rasa_server, running_app(
            rasa_server.url, whatsapp_api_base=base, **credentials) as running:
        yield running, rasa


def post(app, update: wa.Json, headers: dict[str, str] | None = None):
    """Post ``update`` as Meta does: signed (unless ``headers`` are given)."""
    body = wa.encode(update)
    headers = wa.signed_headers(body) if headers is None else headers
    return app.post("/webhooks/whatsapp", body, headers)


def sent_to_her(graph: wa.GraphStandIn, count: int) -> list[dict]:
    graph.recorder.wait_for(lambda calls: len(calls) >= count)
    time.sleep(0.3)  # nothing more arrives
    return graph.sent()


def test_app_answers_the_verification_handshake(app):
    running, _ = app
    genuine = {"hub.mode": "subscribe", "hub.verify_token": wa.VERIFY_TOKEN,
               "hub.challenge": "42424242"}
    answer = running.get("/webhooks/whatsapp", **genuine)
    assert (answer.status_code, answer.text) == (200, "42424242")
    forged = genuine | {"hub.verify_token": "guess"}
    assert running.get("/webhooks/whatsapp", **forged).status_code == 403


def test_app_answers_her_text_and_her_buttons_on_whatsapp(app, graph):
    running, rasa = app
    assert post(running, wa.update(wa.text("hello"))).status_code == 200
    assert post(running, wa.update(wa.text("show me buttons"))).status_code == 200
    assert sent_to_her(graph, 2) == [
        text_payload("echo: hello"),
        envelope("interactive", {
            "type": "button", "body": {"text": "echo: show me buttons"},
            "action": {"buttons": [
                {"type": "reply", "reply": {"id": "/seek_shelter", "title": "Shelter"}},
                {"type": "reply", "reply": {"id": "/seek_legal_aid", "title": "Legal aid"}},
            ]},
        }),
    ]
    assert post(running, wa.update(wa.button_reply("/seek_shelter", "Shelter"))).status_code == 200
    assert sent_to_her(graph, 3)[2] == text_payload("echo: /seek_shelter")
    [sender] = rasa.senders
    assert rasa.texts_of(sender) == ["hello", "show me buttons", "/seek_shelter"]
    assert wa.HER_NUMBER not in sender


def test_app_refuses_forged_and_malformed_webhooks(app, graph):
    running, rasa = app
    update = wa.update(wa.text("forged"))
    forged = {"X-Hub-Signature-256": wa.sign(wa.encode(update), "guess")}
    assert post(running, update, forged).status_code == 403
    assert post(running, update, {}).status_code == 403
    broken = b'{"object": "whatsapp_business_account", "entry": ['
    assert running.post("/webhooks/whatsapp", broken, wa.signed_headers(broken)).status_code == 400
    time.sleep(0.5)
    assert rasa.senders == [] and graph.recorder.calls == []


def test_app_answers_a_retried_webhook_once_and_ignores_statuses(app, graph):
    running, rasa = app
    update = wa.update(wa.text("only once", message_id="wamid.RETRIED"))
    assert post(running, update).status_code == 200
    assert post(running, update).status_code == 200
    statuses = wa.update(statuses=(wa.status("delivered"), wa.status("read")))
    assert post(running, statuses).status_code == 200
    assert sent_to_her(graph, 1) == [text_payload("echo: only once")]
    [sender] = rasa.senders
    assert rasa.texts_of(sender) == ["only once"]


def test_app_tells_her_it_reads_text_only_and_asks_rasa_nothing(app, graph):
    running, rasa = app
    assert post(running, wa.update(wa.media("audio"))).status_code == 200
    fallback = SafetyFallback.load(Settings())
    expected = fallback.text_only(None, None).text
    assert sent_to_her(graph, 1) == [text_payload(expected)]
    assert rasa.senders == []


def test_app_does_not_reply_outside_her_window(app, graph, caplog):
    running, rasa = app
    caplog.set_level(logging.INFO)
    stale = wa.update(wa.text("an old message delivered late", timestamp=NOW - 25 * 3600))
    assert post(running, stale).status_code == 200
    rasa.recorder.wait_for(lambda calls: any(c.path == "/webhooks/rest/webhook" for c in calls))
    deadline = time.monotonic() + 10
    while "outside the 24-hour window" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "a whatsapp reply was not sent: outside the 24-hour window" in caplog.text
    assert graph.recorder.calls == []
    assert_no_content(caplog.text, "old message", "echo")


def test_app_gives_the_assistant_her_place_not_her_coordinates(app, graph):
    running, rasa = app
    assert post(running, wa.update(wa.location(41.9981, 21.4254))).status_code == 200
    sent_to_her(graph, 1)
    [sender] = rasa.senders
    [text] = rasa.texts_of(sender)
    assert text.startswith('/inform_location{"location": ') and "41.99" not in text


def test_app_greets_her_when_she_opens_the_chat(app, graph):
    running, rasa = app
    assert post(running, wa.update(wa.request_welcome())).status_code == 200
    sent_to_her(graph, 1)
    [sender] = rasa.senders
    assert rasa.texts_of(sender) == ["/greet"]
