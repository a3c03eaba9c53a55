"""``helpline counsellors ...``: who may take chats.

    helpline counsellors add [TELEGRAM_USER_ID] --name "Display name" [--login L --password-stdin]
                             [--admin] [--max-chats N]
    helpline counsellors list
    helpline counsellors remove ID

A counsellor is known to the counsellor bot by their Telegram user id, to the web
console by a login; the display name is what she is told of them. The password is
read from standard input (never a command-line argument, which other users of the
machine can see) and stored as an argon2 hash; ``list`` never shows it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from bot.db import make_engine
from bot.handoff.counsellors import CounsellorDirectory
from bot.handoff.records import Role
from bot.settings import get_settings

T = TypeVar("T")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``counsellors`` command group."""
    counsellors = subparsers.add_parser("counsellors", help="who may take chats (counsellors, administrators)")
    commands = counsellors.add_subparsers(dest="counsellors_command", required=True)
    add = commands.add_parser("add", help="register a counsellor")
    add.add_argument("telegram_user_id", nargs="?", type=int, help="their Telegram user id (the counsellor bot)")
    add.add_argument("--name", required=True, help="display name: what she is told of them")
    add.add_argument("--login", help="login for the web console (with --password-stdin)")
    add.add_argument("--password-stdin", action="store_true", help="read the console password from stdin")
    add.add_argument("--admin", action="store_true", help="an administrator (reads every transcript)")
    add.add_argument("--max-chats", type=int, default=3, help="chats at once (default 3)")
    add.set_defaults(handler=_add)
    commands.add_parser("list", help="the registered counsellors").set_defaults(handler=_list)
    remove = commands.add_parser("remove", help="unregister a counsellor")
    remove.add_argument("id", type=int, help="the counsellor's id (see list)")
    remove.set_defaults(handler=_remove)


def _with_directory(work: Callable[[CounsellorDirectory], Awaitable[T]]) -> T:
    engine = make_engine(get_settings().database_url)
    try:
        return asyncio.run(work(CounsellorDirectory(engine)))
    finally:
        engine.dispose()


def _add(args: argparse.Namespace) -> int:
    if (args.login is not None) != args.password_stdin:
        print("--login and --password-stdin go together", file=sys.stderr)
        return 2
    if args.max_chats < 1:
        print("--max-chats must be at least 1", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None
    role = Role.ADMIN if args.admin else Role.COUNSELLOR
    try:
        counsellor = _with_directory(lambda directory: directory.add(
            args.name, telegram_user_id=args.telegram_user_id, login=args.login, password=password,
            role=role, max_chats=args.max_chats))
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    except IntegrityError:
        print("that Telegram user id or login is already registered", file=sys.stderr)
        return 1
    print(f"counsellor {counsellor.id} added: {counsellor.display_name} ({counsellor.role})")
    return 0


def _list(_args: argparse.Namespace) -> int:
    counsellors = _with_directory(lambda directory: directory.all())
    print("id\tname\trole\ttelegram id\tlogin")
    for c in counsellors:
        print(f"{c.id}\t{c.display_name}\t{c.role}\t{c.telegram_user_id or '-'}\t{c.login or '-'}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    if not _with_directory(lambda directory: directory.remove(args.id)):
        print(f"no counsellor {args.id}", file=sys.stderr)
        return 1
    print(f"counsellor {args.id} removed")
    return 0
