"""The gateway drilled through the running app: forged webhooks, retries, two instances,
Rasa stopped mid-conversation, the app killed right after acknowledging.

Telegram stands for every platform here (each platform's own format is tested in
``test_channel_*``); Rasa is a stand-in (``tests/standins/rasa.py``) that can be
stopped and started again on its port.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.gateway_harness import app_process, app_settings, running_app
from tests.standins import telegram as tg
from tests.standins.rasa import RasaStandIn
from tests.standins.server import Served
from tests.stack import free_port


@pytest.fixture
def telegram():
    standin = tg.TelegramStandIn()
    with Served(standin.app) as served:
        standin.url = served.url
        yield standin


def telegram_settings(telegram) -> dict[str, object]:
    return {"telegram_bot_token": tg.TOKEN, "telegram_webhook_secret": tg.SECRET,
            "telegram_api_base": telegram.url}


def post(app, update: dict, secret: str = tg.SECRET) -> httpx.Response:
    return app.post("/webhooks/telegram", json.dumps(update).encode(), tg.webhook_headers(secret))


def texts_to(telegram, chat_id: int) -> list[str]:
    return [c.params["text"] for c in telegram.calls("sendMessage") if int(c.params["chat_id"]) == chat_id]


def wait_texts(telegram, chat_id: int, count: int, timeout: float = 15.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while len(texts := texts_to(telegram, chat_id)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(texts)} of {count} replies: {texts}")
        time.sleep(0.02)
    return texts


def test_forged_malformed_and_unknown_webhooks(telegram):
    rasa = RasaStandIn()
    with Served(rasa.app) as rasa_server, running_app(rasa_server.url, **telegram_settings(telegram)) as app:
        assert post(app, tg.text_update(1, 501, "hello"), secret="wrong").status_code == 403
        assert app.post("/webhooks/telegram", b"{}", {"Content-Type": "application/json"}).status_code == 403
        assert app.post("/webhooks/telegram", b"{not json", tg.webhook_headers()).status_code == 400
        assert app.post("/webhooks/viber", b"{}", {}).status_code == 404  # off: no credentials
        assert post(app, {"update_id": 2, "some_future_update": {"x": 1}}).status_code == 200
        time.sleep(0.5)
        assert rasa.senders == [] and telegram.calls("sendMessage") == []
        assert post(app, tg.text_update(3, 501, "hello")).status_code == 200
        assert wait_texts(telegram, 501, 1) == ["echo: hello"]


def test_a_retried_update_is_answered_once(telegram):
    rasa = RasaStandIn()
    with Served(rasa.app) as rasa_server, running_app(rasa_server.url, **telegram_settings(telegram)) as app:
        for _ in range(3):
            assert post(app, tg.text_update(10, 502, "once please")).status_code == 200
        wait_texts(telegram, 502, 1)
        time.sleep(0.5)
        assert texts_to(telegram, 502) == ["echo: once please"]


def test_two_instances_sharing_redis_answer_once_in_order(telegram, redis_url):
    rasa = RasaStandIn()
    rasa.delay = 0.02
    with Served(rasa.app) as rasa_server:
        shared = {**telegram_settings(telegram), "redis_url": redis_url}
        with running_app(rasa_server.url, **shared) as first, running_app(rasa_server.url, **shared) as second:
            for number in range(15):
                for chat in (601, 602):
                    update = tg.text_update(chat * 100 + number, chat, f"message {number}", message_id=number + 1)
                    target, other = (first, second) if number % 2 else (second, first)
                    assert post(target, update).status_code == 200
                    assert post(other, update).status_code == 200  # the platform's retry reaches the other
            for chat in (601, 602):
                assert wait_texts(telegram, chat, 15, timeout=30) == [f"echo: message {n}" for n in range(15)]
            time.sleep(0.5)
            assert len(telegram.calls("sendMessage")) == 30


@pytest.mark.parametrize("store", ["embedded", "redis"])
def test_rasa_stopped_mid_conversation_loses_nothing(telegram, store, request):
    rasa = RasaStandIn()
    port = free_port()
    overrides = {**telegram_settings(telegram)}
    if store == "redis":
        overrides["redis_url"] = request.getfixturevalue("redis_url")
    rasa_server = Served(rasa.app, port=port).__enter__()
    with running_app(rasa_server.url, **overrides) as app:
        post(app, tg.text_update(1, 701, "first"))
        assert wait_texts(telegram, 701, 1) == ["echo: first"]
        rasa_server.__exit__()  # Rasa stops
        post(app, tg.text_update(2, 701, "he is hitting me"))
        numbers = wait_texts(telegram, 701, 2)[1]
        assert "112" in numbers  # the safety fallback at once
        time.sleep(1.5)
        rasa_server = Served(rasa.app, port=port).__enter__()  # Rasa is back
        try:
            assert wait_texts(telegram, 701, 3, timeout=20)[2] == "echo: he is hitting me"
        finally:
            rasa_server.__exit__()
    assert rasa.texts_of(rasa.senders[0]) == ["first", "he is hitting me"]


@pytest.mark.parametrize("store", ["embedded", "redis"])
def test_the_app_killed_right_after_acknowledging_answers_after_restart(telegram, store, request, tmp_path):
    rasa = RasaStandIn()
    rasa.delay = 3.0  # the message is taken, not yet answered, when the app dies
    stores = {"redis_url": request.getfixturevalue("redis_url")} if store == "redis" else {
        "database_url": f"sqlite:///{tmp_path / 'helpline.db'}"}  # the queues in SQLite
    with Served(rasa.app) as rasa_server:
        settings = app_settings(rasa_server.url, first_reply_deadline_seconds=10,
                                **stores, **telegram_settings(telegram))
        with app_process(tmp_path / "first.log", settings) as first:
            assert first.post("/webhooks/telegram", json.dumps(tg.text_update(1, 801, "are you there")).encode(),
                              tg.webhook_headers()).status_code == 200
            first.kill()
        assert texts_to(telegram, 801) == []
        rasa.delay = 0
        with app_process(tmp_path / "second.log", settings):
            deadline = time.monotonic() + 30
            while "echo: are you there" not in (texts := texts_to(telegram, 801)):
                assert time.monotonic() < deadline, texts
                time.sleep(0.05)
        # When she had waited past the deadline already (the dead app held her message),
        # the numbers came first, at once; then the answer, once.
        assert texts[-1] == "echo: are you there" and all("112" in text for text in texts[:-1])
        assert len(texts) <= 2


def test_a_body_larger_than_any_platform_sends_is_refused_unread(telegram):
    rasa = RasaStandIn()
    with Served(rasa.app) as rasa_server, running_app(rasa_server.url, **telegram_settings(telegram)) as app:
        huge = b"{" + b" " * 2_000_000 + b"}"
        assert app.post("/webhooks/telegram", huge, tg.webhook_headers()).status_code == 413

        def chunked():
            yield b"{"
            for _ in range(30):
                yield b" " * 100_000

        response = httpx.post(app.url + "/webhooks/telegram", content=chunked(), headers=tg.webhook_headers())
        assert response.status_code == 413
        assert rasa.senders == []
