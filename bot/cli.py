"""The ``helpline`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.directory.cli import register as register_directory
from bot.gateway.cli import register as register_channels
from bot.handoff.cli import register as register_counsellors
from bot.settings import get_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helpline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start Rasa, the action server and the app")
    endpoints = commands.add_parser("endpoints", help="write Rasa's endpoints.yml from the settings")
    endpoints.add_argument("path", type=Path)
    register_directory(commands)
    register_channels(commands)
    register_counsellors(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "handler"):
        return args.handler(args)
    settings = get_settings()
    if args.command == "run":
        from bot.log_safety import configure
        from bot.runner import run

        configure(settings.log_level)
        return run(settings)
    if args.command == "endpoints":
        from bot.rasa_endpoints import write_endpoints

        write_endpoints(settings, args.path)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
