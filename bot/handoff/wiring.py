"""Build the handoff service from the settings (called by ``bot.app``)."""

from __future__ import annotations

from sqlalchemy import Engine

from bot.assistant import AssistantClient
from bot.conversations import Conversations
from bot.erasure import Erasure
from bot.gateway.pipeline import Gateway
from bot.gateway.sealing import Sealer
from bot.handoff.counsellors import CounsellorDirectory
from bot.handoff.hours import Schedule
from bot.handoff.reach import ChatReach
from bot.handoff.service import HandoffService, Timing
from bot.handoff.store import HandoffStore
from bot.live import LiveState
from bot.safety_fallback import SafetyFallback
from bot.settings import Settings


def open_handoff(settings: Settings, schedule: Schedule, live: LiveState, engine: Engine,
                 assistant: AssistantClient, fallback: SafetyFallback, gateway: Gateway,
                 conversations: Conversations, erasure: Erasure, sealer: Sealer) -> HandoffService:
    """The service, with her conversations routed through it and her erasure reaching it."""
    timing = Timing(
        wait_seconds=settings.handoff_wait_seconds,
        counsellor_timeout_seconds=settings.handoff_counsellor_timeout_seconds,
        minutes_per_place=settings.handoff_minutes_per_place,
        retention_seconds=settings.conversation_retention_hours * 3600,
        message_seconds=settings.handoff_message_hours * 3600,
        transcript_days=settings.transcript_retention_days,
    )
    store = HandoffStore(engine, sealer, settings.transcript_retention_days)
    service = HandoffService(live, store, CounsellorDirectory(engine), assistant, fallback,
                             ChatReach(gateway, conversations), schedule, timing)
    conversations.attach_handoff(service)
    # First: once her chat has ended no counsellor (on any instance) can queue words to her,
    # so nothing is sent or kept after the stores below were emptied.
    erasure.register(service, first=True)
    return service
