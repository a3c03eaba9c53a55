"""What the console's browser side is sent: plain JSON shapes of the service's answers.

One place for them, so that the HTTP answers and the live event stream say the same
thing. Nothing here ever names her beyond the pseudonym label.
"""

from __future__ import annotations

from typing import Any

from bot.handoff.records import Counsellor, Role
from bot.handoff.service import ActiveChat, HandoffService, Waiting
from bot.handoff.store import Line


def is_admin(counsellor: Counsellor) -> bool:
    return counsellor.role == Role.ADMIN


def me_view(counsellor: Counsellor, away: bool) -> dict[str, Any]:
    return {"id": counsellor.id, "name": counsellor.display_name, "role": counsellor.role,
            "admin": is_admin(counsellor), "away": away}


def waiting_view(waiting: Waiting) -> dict[str, Any]:
    return {"handoff_id": waiting.handoff_id, "label": waiting.label, "channel": waiting.channel,
            "language": waiting.language, "reason": waiting.reason,
            "waited_seconds": round(waiting.waited_seconds), "position": waiting.position,
            "need": waiting.need, "place": waiting.place, "left_message": waiting.left_message}


def chat_view(chat: ActiveChat, counsellor: Counsellor, viewer: Counsellor) -> dict[str, Any]:
    return {"handoff_id": chat.handoff_id, "label": chat.label, "channel": chat.channel,
            "language": chat.language, "since": chat.since, "counsellor": counsellor.display_name,
            "mine": counsellor.id == viewer.id}


def line_view(line: Line) -> dict[str, Any]:
    return {"id": line.id, "at": line.at, "author": line.author, "text": line.text,
            "counsellor": line.counsellor_name}


async def queue_of(service: HandoffService) -> list[dict[str, Any]]:
    return [waiting_view(waiting) for waiting in await service.waiting()]


async def chats_for(service: HandoffService, viewer: Counsellor) -> list[dict[str, Any]]:
    """The viewer's open chats; an administrator's view has every counsellor's."""
    holders = await service.counsellors.all() if is_admin(viewer) else [viewer]
    return [chat_view(chat, holder, viewer)
            for holder in holders for chat in await service.chats_of(holder.id)]
