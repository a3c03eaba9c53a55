"""A conversation on Telegram, Viber and WhatsApp in each language, with the real assistant.

The real Rasa and action server (the ``stack`` fixture), the real app in this
process, and local stand-ins of the three platforms' APIs: real-format, really
signed webhooks in, the exact platform calls out. What is checked holds without
the model's help: the welcome of a first message, the numbers first for danger
(the safety net), the language (hinted or detected, not learned).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot import emergency
from bot.responses import hours_text
from tests.gateway_harness import RunningApp, running_app
from tests.helpers import domain, text_of
from tests.standins import telegram as tg
from tests.standins import viber as vb
from tests.standins import whatsapp as wa
from tests.standins.server import Served

pytestmark = pytest.mark.rasa

DANGER = {
    "en": "help me he is beating me right now",
    "sq": "më ndihmoni, burri po më rreh tani",
    "sr": "помозите муж ме туче управо сад",
    "mk": "помош, мажот ме тепа сега",
}
GREETING = {"en": "hi good evening", "sq": "pershendetje si jeni", "sr": "zdravo ima li nekog",
            "mk": "здраво, добар ден"}
LANGUAGES = tuple(DANGER)


@pytest.fixture(scope="module")
def platforms(stack) -> Iterator[tuple[RunningApp, tg.TelegramStandIn, vb.ViberStandIn, wa.GraphStandIn]]:
    telegram, viber, graph = tg.TelegramStandIn(), vb.ViberStandIn(), wa.GraphStandIn()
    with Served(telegram.app) as t, Served(viber.app) as v, Served(graph.app) as g:
        settings = stack.settings
        with running_app(
            settings.rasa_url, rasa_token=settings.rasa_token, action_server_url=settings.action_server_url,
            first_reply_deadline_seconds=4,
            telegram_bot_token=tg.TOKEN, telegram_webhook_secret=tg.SECRET, telegram_api_base=t.url,
            viber_auth_token=vb.TOKEN, viber_api_base=v.url,
            whatsapp_access_token=wa.ACCESS_TOKEN, whatsapp_app_secret=wa.APP_SECRET,
            whatsapp_verify_token=wa.VERIFY_TOKEN, whatsapp_phone_number_id=wa.PHONE_NUMBER_ID,
            whatsapp_api_base=graph.base(g.url),
        ) as app:
            yield app, telegram, viber, graph


def wait(found: Callable[[], list[Any]], count: int, timeout: float = 60.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    while len(items := found()) < count:
        assert time.monotonic() < deadline, f"{len(items)} of {count}: {items}"
        time.sleep(0.05)
    return items


def settled(found: Callable[[], list[Any]], quiet: float = 1.5) -> int:
    """How many there are once no more came for ``quiet`` seconds (a turn's replies are all out)."""
    count, since = len(found()), time.monotonic()
    while time.monotonic() - since < quiet:
        time.sleep(0.05)
        if len(found()) != count:
            count, since = len(found()), time.monotonic()
    return count


def welcome(language: str) -> str:
    return text_of("utter_welcome", language,
                   retention_period=hours_text(domain()["responses"], language, 24))


def numbers_reply(language: str) -> str:
    return text_of("utter_emergency_numbers", language, numbers=emergency.load().numbers_for(None, language))


@pytest.mark.parametrize("language", LANGUAGES)
def test_telegram(platforms, language):
    app, telegram, _, _ = platforms
    chat = 900_000 + LANGUAGES.index(language)

    def sent() -> list[tg.ApiCall]:
        return [c for c in telegram.calls("sendMessage") if int(c.params["chat_id"]) == chat]

    post = lambda update: app.post("/webhooks/telegram", json.dumps(update).encode(), tg.webhook_headers())  # noqa: E731
    assert post(tg.start_update(chat * 10, chat, language_code=language)).status_code == 200
    first = wait(sent, 1)[0]
    assert first.params["text"] == welcome(language)
    assert len(first.params["reply_markup"]["inline_keyboard"]) == 4  # the languages
    before = settled(sent)
    assert post(tg.text_update(chat * 10 + 1, chat, DANGER[language], message_id=2)).status_code == 200
    replies = wait(sent, before + 1)
    assert replies[before].params["text"] == numbers_reply(language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_viber(platforms, language):
    app, _, viber, _ = platforms
    user = f"viber-user-{language}="

    def sent() -> list[dict]:
        return [body for body in viber.sent() if body["receiver"] == user]

    body, headers = vb.signed(vb.conversation_started(user, language))
    response = app.post("/webhooks/viber", body, headers)
    assert response.status_code == 200 and response.json()["text"] == welcome(language)
    assert len(response.json()["keyboard"]["Buttons"]) == 4
    body, headers = vb.signed(vb.text(DANGER[language], user_id=user, language=language))
    assert app.post("/webhooks/viber", body, headers).status_code == 200
    assert wait(sent, 1)[0]["text"] == numbers_reply(language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_whatsapp(platforms, language):
    app, _, _, graph = platforms
    number = f"3897000000{LANGUAGES.index(language)}"

    def sent() -> list[dict]:
        return [body for body in graph.sent() if body["to"] == number]

    def post(text: str) -> None:
        body = wa.encode(wa.update(wa.text(text, sender=number)))
        assert app.post("/webhooks/whatsapp", body, wa.signed_headers(body)).status_code == 200

    post(GREETING[language])
    first = wait(sent, 1)[0]
    assert first["type"] == "interactive"  # the welcome, with the four languages as a list
    assert first["interactive"]["body"]["text"] == welcome(language)
    before = settled(sent)
    post(DANGER[language])
    replies = wait(sent, before + 1)
    assert replies[before]["text"]["body"] == numbers_reply(language)
