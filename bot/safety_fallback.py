"""The app's own answer when the assistant cannot give one in time.

Whatever breaks behind the app (Rasa down, frozen or slower than the first-reply
deadline, the action server gone, an error, a turn without any text), she is
answered here, in the shared path every channel uses:

- a message the safety lexicon flags as danger or self-harm (the same lexicon
  Rasa's ``SafetyNet`` uses) gets the emergency numbers, or the crisis reply,
  of her country (of every served country when it is not known);
- any other message gets a short apology that it cannot be answered now, with
  the numbers.

Her language is the conversation's known one, else the one detected in the
message, else the default. The texts are the domain's responses (``domain.yml``),
like every other text she sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot import emergency
from bot.assistant import BotMessage, Button
from bot.language import detect
from bot.responses import hours_text, render
from bot.settings import LANGUAGES, PROJECT_ROOT, Settings
from rasa_components.lexicon import load_lexicon, match

DOMAIN_FILE = PROJECT_ROOT / "domain.yml"
REPLY_BY_INTENT = {
    "immediate_danger": "utter_emergency_numbers",
    "self_harm": "utter_self_harm_support",
    None: "utter_assistant_unavailable",
}


@dataclass(frozen=True)
class SafetyFallback:
    responses: dict[str, Any]
    numbers: emergency.Directory
    lexicon: dict[str, re.Pattern[str]]
    default_language: str
    default_country: str | None
    retention_hours: int

    @classmethod
    def load(cls, settings: Settings, domain_file: Path = DOMAIN_FILE) -> SafetyFallback:
        domain = yaml.safe_load(domain_file.read_text(encoding="utf-8"))
        detect("load the language models now, not when she is waiting")  # about a second
        return cls(
            responses=domain["responses"], numbers=emergency.load(), lexicon=load_lexicon(),
            default_language=settings.default_language, default_country=settings.default_country,
            retention_hours=settings.conversation_retention_hours,
        )

    def flags(self, text: str) -> str | None:
        """The safety intent (danger, self-harm) the lexicon finds in ``text``, if any."""
        return match(self.lexicon, text)

    def replies(self, text: str, language: str | None = None, country: str | None = None) -> list[BotMessage]:
        """What she reads when the assistant could not answer ``text``."""
        if language not in LANGUAGES:
            language = detect(text) or self.default_language
        intent = self.flags(text)
        numbers = self.numbers.numbers_for(
            country or self.default_country, language, self_harm=intent == "self_harm"
        )
        return [self.say(REPLY_BY_INTENT[intent], language, numbers=numbers)]

    def text_only(self, language: str | None, country: str | None) -> BotMessage:
        """The reply to a voice message, photo or file: text only, and her country's numbers."""
        language = language if language in LANGUAGES else self.default_language
        numbers = self.numbers.numbers_for(country or self.default_country, language, self_harm=False)
        return self.say("utter_text_only", language, numbers=numbers)

    def welcome(self, language: str) -> BotMessage:
        """The welcome the app sends itself (a platform that wants it in the webhook's answer)."""
        period = hours_text(self.responses, language, self.retention_hours)
        return self.say("utter_welcome", language, retention_period=period)

    def say(self, name: str, language: str, **values: Any) -> BotMessage:
        """Response ``name`` of the domain in ``language``, as a message to deliver."""
        rendered = render(self.responses, name, language, **values)
        buttons = tuple(Button(b["title"], b["payload"]) for b in rendered.get("buttons", ()))
        return BotMessage(text=rendered["text"], buttons=buttons)
