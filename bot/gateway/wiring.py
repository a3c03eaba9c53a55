"""Build the gateway and its stores from the settings (called by ``bot.app``)."""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy import Engine

from bot.conversations import Conversations
from bot.erasure import Erasure
from bot.gateway.addresses import ReplyAddresses
from bot.gateway.chats import PlatformChats
from bot.gateway.pipeline import Gateway
from bot.gateway.queues import Queues, RedisQueues
from bot.gateway.sql_queues import SqlQueues
from bot.gateway.sealing import Sealer
from bot.live import LiveState
from bot.safety_fallback import SafetyFallback
from bot.settings import Settings
from channels.registry import open_channels


def open_queues(redis_url: str | None, engine: Engine) -> tuple[Queues, Queues]:
    """The inbox and the outbox: in Redis when configured, else in the directory's database
    (SQLite on the embedded default), so that what was accepted survives a restart."""
    if not redis_url:
        return SqlQueues(engine, "inbox"), SqlQueues(engine, "outbox")
    def client() -> Redis:
        return Redis.from_url(redis_url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2)

    return RedisQueues(client(), "inbox"), RedisQueues(client(), "outbox")


def open_gateway(
    settings: Settings,
    conversations: Conversations,
    live: LiveState,
    fallback: SafetyFallback,
    erasure: Erasure,
    pepper: bytes,
    engine: Engine,
    sealer: Sealer,
) -> Gateway:
    """The gateway with every configured platform; its platform side registered with ``erasure``."""
    retention = settings.conversation_retention_hours * 3600
    addresses = ReplyAddresses(live, sealer, retention)
    channels = open_channels(settings)
    inbox, outbox = open_queues(settings.redis_url, engine)
    erasure.register(PlatformChats(addresses, channels, outbox))
    return Gateway(channels, conversations, fallback, inbox, outbox, addresses, sealer, pepper, retention)
