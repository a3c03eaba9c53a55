"""Routing of her messages, erasure on request and after the retention period."""

from __future__ import annotations

from fastapi.testclient import TestClient

from bot.app import create_app
from bot.assistant import AssistantUnavailable, BotMessage
from bot.conversations import ERASE_DIRECTIVE, Conversations
from bot.live import MemoryLiveState
from bot.settings import Settings


class RecordingAssistant:
    """Test double of AssistantClient: canned replies, records erasures."""

    def __init__(self, replies=(), up=True):
        self.replies, self.up, self.erased = list(replies), up, []

    async def send(self, sender_id, text):
        return self.replies

    async def erase(self, sender_id):
        if not self.up:
            raise AssistantUnavailable("down")
        self.erased.append(sender_id)


async def test_erase_directive_erases_and_is_not_delivered():
    assistant = RecordingAssistant([BotMessage(text="Done"), BotMessage(custom={ERASE_DIRECTIVE: True})])
    conversations = Conversations(assistant, MemoryLiveState(), retention_seconds=3600)
    replies = await conversations.handle("web-abc", "delete my data")
    assert [r.text for r in replies] == ["Done"]
    assert assistant.erased == ["web-abc"]


async def test_conversations_are_erased_after_the_retention_period():
    assistant = RecordingAssistant([BotMessage(text="hi")])
    live = MemoryLiveState()
    conversations = Conversations(assistant, live, retention_seconds=3600)
    await conversations.handle("web-old", "hello")
    await conversations.handle("web-new", "hello")
    await live.index_add("conversations:last-seen", "web-old", 1_000.0)
    await live.index_add("conversations:last-seen", "web-new", 10_000.0)
    assert await conversations.erase_expired(now=5_000.0) == 1
    assert assistant.erased == ["web-old"]
    assert await conversations.erase_expired(now=5_000.0) == 0


async def test_erasure_waits_when_the_assistant_is_down():
    assistant = RecordingAssistant(up=False)
    live = MemoryLiveState()
    conversations = Conversations(assistant, live, retention_seconds=1)
    await live.index_add("conversations:last-seen", "web-x", 0.0)
    assert await conversations.erase_expired(now=100.0) == 0
    assert await live.index_below("conversations:last-seen", 100.0, 10) == ["web-x"]


def test_health_names_the_parts_that_are_not_ready(sqlite_url):
    settings = Settings(
        database_url=sqlite_url, pseudonym_pepper="p", rasa_url="http://127.0.0.1:9",
        action_server_url="http://127.0.0.1:9/webhook",
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/health")
        assert response.status_code == 503
        assert set(response.json()["failing"]) == {"assistant", "action_server"}
        assert client.get("/").status_code == 200
        chat = client.post("/api/chat", json={"session": "s" * 20, "text": "hello"})
        assert chat.status_code == 503
        assert client.post("/api/chat", json={"session": "short", "text": "hi"}).status_code == 422


def test_app_refuses_to_start_without_a_pepper():
    try:
        create_app(Settings(pseudonym_pepper=None))
    except RuntimeError as error:
        assert "PSEUDONYM_PEPPER" in str(error)
    else:
        raise AssertionError("started without a pepper")
