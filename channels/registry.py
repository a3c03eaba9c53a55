"""The configured platforms: ``open_channels`` builds every platform whose credentials are set.

The others are off, and start-up says so in one line each. Adding a platform
means adding its module to ``PLATFORMS`` (``NAME``, ``CREDENTIALS``, ``from_settings``).
"""

from __future__ import annotations

import logging

from bot.settings import Settings
from channels import telegram, viber, whatsapp
from channels.base import Channel

logger = logging.getLogger(__name__)
PLATFORMS = (telegram, viber, whatsapp)


def open_channels(settings: Settings) -> dict[str, Channel]:
    """The configured platforms by name; one log line for each that is off."""
    channels: dict[str, Channel] = {}
    for platform in PLATFORMS:
        channel = platform.from_settings(settings)
        if channel is None:
            logger.info("%s is off: set %s to turn it on", platform.NAME, ", ".join(platform.CREDENTIALS))
        else:
            channels[platform.NAME] = channel
            logger.info("%s is on", platform.NAME)
    return channels
