"""Custom actions, served to Rasa by the rasa-sdk action server (``python -m rasa_sdk --actions actions``).

Importing the package configures logging (``bot/logging.yml``: no message text)
and Sentry; rasa-sdk imports it in every Sanic worker process, so both hold
there too.
"""

from bot.log_safety import configure as configure_logging
from bot.observability import init_sentry
from bot.settings import get_settings

configure_logging(get_settings().log_level)
init_sentry(get_settings(), "actions")
