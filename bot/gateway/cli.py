"""``helpline channels ...``: see which platforms are on, register their webhooks.

``setup <platform>`` tells the platform to deliver to ``<PUBLIC_URL>/webhooks/<platform>``
(Telegram with its secret token, Viber with the events the helpline handles).
"""

from __future__ import annotations

import argparse
import asyncio

from bot.settings import get_settings
from channels.registry import PLATFORMS, open_channels


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``channels`` command group."""
    channels = subparsers.add_parser("channels", help="the messaging platforms")
    commands = channels.add_subparsers(dest="channels_command", required=True)
    commands.add_parser("list", help="which platforms are on").set_defaults(handler=_list)
    setup = commands.add_parser("setup", help="register the platform's webhook (needs PUBLIC_URL)")
    setup.add_argument("platform", choices=[platform.NAME for platform in PLATFORMS])
    setup.set_defaults(handler=_setup)


def _list(args: argparse.Namespace) -> int:
    channels = open_channels(get_settings())
    for platform in PLATFORMS:
        state = "on" if platform.NAME in channels else f"off (set {', '.join(platform.CREDENTIALS)})"
        print(f"{platform.NAME}: {state}")
    return 0


def _setup(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not settings.public_url:
        print("PUBLIC_URL is not set: the platform needs the helpline's public https address")
        return 2
    channel = open_channels(settings).get(args.platform)
    if channel is None:
        print(f"{args.platform} is off: its credentials are not set")
        return 2
    url = f"{settings.public_url.rstrip('/')}/webhooks/{args.platform}"

    async def register_webhook() -> None:
        try:
            await channel.register_webhook(url)
        finally:
            await channel.close()

    try:
        asyncio.run(register_webhook())
    except Exception as error:  # noqa: BLE001 - said in one line, without secrets
        # Our own modules explain with a plain RuntimeError; a library's text may quote a URL.
        reason = str(error) if type(error) is RuntimeError else type(error).__name__
        print(f"{args.platform}: the webhook was not registered: {reason}")
        return 1
    print(f"{args.platform}: webhook registered at {url}")
    return 0
