"""Custom actions, served to Rasa by the rasa-sdk action server (``python -m rasa_sdk --actions actions``)."""

from bot.observability import init_sentry
from bot.settings import get_settings

init_sentry(get_settings(), "actions")
