"""Client of the Rasa server: the only place the application talks to Rasa.

Rasa runs in its own environment (``.venv-rasa``) and is reached over HTTP: the
REST channel for messages, the token-protected HTTP API for status and erasure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx


class AssistantUnavailable(Exception):
    """Rasa could not be reached or answered with an error.

    ``reached`` says whether Rasa may have taken the message (a read timeout, an
    error while handling it): only a message that never reached it may be sent again.
    """

    def __init__(self, reason: str, reached: bool = True) -> None:
        super().__init__(reason)
        self.reached = reached


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class BotMessage:
    """One message of the assistant: text, buttons, or an instruction to the app."""

    text: str | None = None
    buttons: tuple[Button, ...] = ()
    custom: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_rest(cls, data: dict[str, Any]) -> BotMessage:
        buttons = tuple(
            Button(title=b["title"], payload=b["payload"]) for b in data.get("buttons") or ()
        )
        return cls(text=data.get("text"), buttons=buttons, custom=data.get("custom") or {})

    def to_rest(self) -> dict[str, Any]:
        """The inverse of ``from_rest``: the message as Rasa's REST channel writes it."""
        data: dict[str, Any] = {"text": self.text}
        if self.buttons:
            data["buttons"] = [{"title": b.title, "payload": b.payload} for b in self.buttons]
        if self.custom:
            data["custom"] = self.custom
        return data


class AssistantClient:
    """Send her messages to the assistant and manage conversations in Rasa.

    Rasa takes its API token only as a query parameter: the URLs of these calls
    must never be logged (``bot/logging.yml`` keeps httpx at WARNING and
    withholds every library's messages).
    """

    name = "rasa tracker (memory)"

    def __init__(self, base_url: str, token: str | None, timeout: float) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout)
        self._params = {"token": token} if token else {}

    async def send(self, sender_id: str, text: str) -> list[BotMessage]:
        """Send one message and return the assistant's replies in order."""
        try:
            response = await self._http.post(
                "/webhooks/rest/webhook", json={"sender": sender_id, "message": text}
            )
            response.raise_for_status()
            return [BotMessage.from_rest(item) for item in response.json()]
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise AssistantUnavailable(type(error).__name__, reached=False) from error
        except httpx.HTTPStatusError as error:
            # 503: Rasa (or what is in front of it) refused the request before handling it.
            reached = error.response.status_code != 503
            raise AssistantUnavailable(type(error).__name__, reached=reached) from error
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise AssistantUnavailable(type(error).__name__) from error

    async def erase(self, sender_id: str) -> None:
        """Replace the conversation's events with nothing: Rasa's in-memory store keeps no trace.

        Only for Rasa's in-memory tracker store; in Redis a saved tracker is merged
        into the stored one, so ``bot.erasure.RasaRedisStores`` deletes the keys.
        """
        try:
            response = await self._http.put(
                f"/conversations/{sender_id}/tracker/events", params=self._params, json=[]
            )
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise AssistantUnavailable(type(error).__name__) from error

    async def record(self, sender_id: str, event: str) -> None:
        """Append a bare tracker event (``pause``: a counsellor has the chat, ``resume``: the
        assistant is back) so that the conversation's history says who was answering."""
        try:
            response = await self._http.post(
                f"/conversations/{sender_id}/tracker/events", params=self._params,
                json=[{"event": event}],
            )
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise AssistantUnavailable(type(error).__name__) from error

    async def history(self, sender_id: str) -> list[tuple[str, str]]:
        """Her messages and the assistant's texts so far, oldest first: ("her" | "assistant", text).

        Button presses are shown as the intent they sent (a payload), not a text of hers.
        """
        try:
            response = await self._http.get(f"/conversations/{sender_id}/tracker", params=self._params)
            response.raise_for_status()
            events = response.json().get("events") or []
        except (httpx.HTTPError, ValueError) as error:
            raise AssistantUnavailable(type(error).__name__) from error
        lines = []
        for event in events:
            text = event.get("text")
            if event.get("event") == "user" and text:
                lines.append(("her", text))
            elif event.get("event") == "bot" and text:
                lines.append(("assistant", text))
        return lines

    async def problem(self) -> str | None:
        """Return why the assistant is not ready, or None when a model is loaded."""
        try:
            response = await self._http.get("/status", params=self._params, timeout=3)
        except httpx.HTTPError as error:
            return f"unreachable ({type(error).__name__})"
        if response.status_code != 200:
            return f"status {response.status_code}"
        if not response.json().get("model_file"):
            return "no model loaded"
        return None

    async def close(self) -> None:
        await self._http.aclose()
