"""``helpline channels ...``: see which platforms are on, register their webhooks.

``setup <platform>`` tells the platform to deliver to ``<PUBLIC_URL>/webhooks/<platform>``
(Telegram with its secret token, Viber with the events the helpline handles);
``setup counsellor`` does the same for the counsellors' Telegram bot
(``bot.handoff.telegram_bot``).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Coroutine
from typing import Any

from bot.handoff import telegram_bot
from bot.settings import Settings, get_settings
from channels.registry import PLATFORMS, open_channels

COUNSELLOR = "counsellor"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``channels`` command group."""
    channels = subparsers.add_parser("channels", help="the messaging platforms")
    commands = channels.add_subparsers(dest="channels_command", required=True)
    commands.add_parser("list", help="which platforms are on").set_defaults(handler=_list)
    setup = commands.add_parser("setup", help="register the platform's webhook (needs PUBLIC_URL)")
    setup.add_argument("platform", choices=[*(platform.NAME for platform in PLATFORMS), COUNSELLOR])
    setup.set_defaults(handler=_setup)


def _list(args: argparse.Namespace) -> int:
    settings = get_settings()
    channels = open_channels(settings)
    for platform in PLATFORMS:
        _print_state(platform.NAME, platform.NAME in channels, platform.CREDENTIALS)
    on = telegram_bot.Credentials.from_settings(settings) is not None
    _print_state(COUNSELLOR, on, telegram_bot.CREDENTIALS)
    return 0


def _print_state(name: str, on: bool, credentials: tuple[str, ...]) -> None:
    state = "on" if on else f"off (set {', '.join(credentials)})"
    print(f"{name}: {state}")


def _setup(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not settings.public_url:
        print("PUBLIC_URL is not set: the platform needs the helpline's public https address")
        return 2
    url = f"{settings.public_url.rstrip('/')}/webhooks/{args.platform}"
    registration = _registration(settings, args.platform, url)
    if registration is None:
        print(f"{args.platform} is off: its credentials are not set")
        return 2
    try:
        asyncio.run(registration)
    except Exception as error:  # noqa: BLE001 - said in one line, without secrets
        # Our own modules explain with a plain RuntimeError; a library's text may quote a URL.
        reason = str(error) if type(error) is RuntimeError else type(error).__name__
        print(f"{args.platform}: the webhook was not registered: {reason}")
        return 1
    print(f"{args.platform}: webhook registered at {url}")
    return 0


def _registration(settings: Settings, name: str, url: str) -> Coroutine[Any, Any, None] | None:
    """What registers ``url`` as the webhook of ``name``, or None when it is off."""
    if name == COUNSELLOR:
        credentials = telegram_bot.Credentials.from_settings(settings)
        return telegram_bot.register_webhook(credentials, url) if credentials else None
    channel = open_channels(settings).get(name)
    if channel is None:
        return None

    async def register_webhook() -> None:
        try:
            await channel.register_webhook(url)
        finally:
            await channel.close()

    return register_webhook()
