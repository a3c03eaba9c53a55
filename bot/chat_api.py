"""The web chat's HTTP form: ``POST /api/chat`` and a fresh session for a new tab.

A tab's random session is pseudonymised at once; only the pseudonym goes on.
Every valid message is answered with 200 and something to read: the assistant's
replies, or the safety fallback's (``bot.conversations``).
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from bot.identity import pseudonym

MAX_MESSAGE_CHARS = 16_000
router = APIRouter()


class ChatIn(BaseModel):
    session: str = Field(min_length=16, max_length=128, description="Random id of the open tab")
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)


class ButtonOut(BaseModel):
    title: str
    payload: str


class MessageOut(BaseModel):
    text: str | None
    buttons: list[ButtonOut]


@router.post("/api/chat", response_model=list[MessageOut])
async def chat(message: ChatIn, request: Request) -> list[MessageOut]:
    """One message of the web chat."""
    state = request.app.state
    sender_id = pseudonym(state.pepper, "web", message.session)
    replies = await state.conversations.handle(sender_id, message.text)
    return [
        MessageOut(text=r.text, buttons=[ButtonOut(title=b.title, payload=b.payload) for b in r.buttons])
        for r in replies
    ]


@router.get("/api/session")
async def new_session() -> dict[str, str]:
    """A fresh random session id for a new tab (kept only in the tab's memory)."""
    return {"session": secrets.token_urlsafe(24)}
