"""``helpline directory ...``: migrate, validate, import and export the referral directory.

Each command sets ``handler`` (``(args) -> exit code``) on its parser, which is
how ``bot.cli.main`` runs it; add further directory commands the same way.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from bot.db import make_engine, make_session_factory
from bot.directory import io, migrate
from bot.directory.search_cli import register_search
from bot.settings import get_settings

_UNREADABLE = 2  # exit code when the file as a whole cannot be read (1: problems in its rows)


def register(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """Add the ``directory`` command group; return its subparsers for further commands."""
    directory = subparsers.add_parser("directory", help="manage the referral directory")
    commands = directory.add_subparsers(dest="directory_command", required=True)

    commands.add_parser("migrate", help="create or upgrade the directory tables").set_defaults(
        handler=_migrate
    )
    validate = commands.add_parser("validate", help="check a .csv or .xlsx directory file")
    validate.add_argument("file", type=Path)
    validate.set_defaults(handler=_validate)

    load = commands.add_parser("import", help="import a .csv or .xlsx directory file")
    load.add_argument("file", type=Path)
    load.add_argument(
        "--partial", action="store_true", help="import the good rows even if some are bad"
    )
    load.add_argument(
        "--by", default=None, help="editor named in the audit log (default: your user name)"
    )
    load.set_defaults(handler=_import)

    export = commands.add_parser("export", help="write the directory to a .csv or .xlsx file")
    export.add_argument("file", type=Path)
    export.set_defaults(handler=_export)
    register_search(commands)
    return commands


def _migrate(_args: argparse.Namespace) -> int:
    migrate.upgrade(get_settings().database_url)
    print("directory tables are up to date")
    return 0


def _read(path: Path) -> list[io.Row] | None:
    """The file's rows, or None after saying in one line why the file cannot be read."""
    try:
        return io.read_rows(path)
    except io.FileError as error:
        print(error, file=sys.stderr)
        return None


def _report(errors: list[io.RowError]) -> None:
    for error in errors:
        print(error, file=sys.stderr)
    rows = len({error.line for error in errors})
    print(f"{len(errors)} problem(s) in {rows} row(s)", file=sys.stderr)


def _validate(args: argparse.Namespace) -> int:
    rows = _read(args.file)
    if rows is None:
        return _UNREADABLE
    errors = io.validate(rows)
    if errors:
        _report(errors)
        return 1
    print(f"{args.file}: {sum(1 for row in rows if any(row.values()))} service(s), no problems")
    return 0


def _database_ready(url: str) -> bool:
    if migrate.is_up_to_date(url):
        return True
    print(
        "the directory tables are missing or old: run `helpline directory migrate`", file=sys.stderr
    )
    return False


def _import(args: argparse.Namespace) -> int:
    url = get_settings().database_url
    rows = _read(args.file)
    if rows is None:
        return _UNREADABLE
    if not _database_ready(url):
        return 1
    engine = make_engine(url)
    with make_session_factory(engine).begin() as session:
        result = io.import_rows(session, rows, args.by or getpass.getuser(), partial=args.partial)
    engine.dispose()
    if result.errors:
        _report(result.errors)
        if not args.partial:
            print("nothing imported (use --partial to import the good rows)", file=sys.stderr)
            return 1
    print(
        f"created {len(result.created)}, updated {len(result.updated)}, "
        f"unchanged {result.unchanged} service(s)"
    )
    return 1 if result.errors else 0


def _export(args: argparse.Namespace) -> int:
    url = get_settings().database_url
    if args.file.suffix.lower() not in (".csv", ".xlsx"):
        print(f"cannot write {args.file}: use a .csv or .xlsx file", file=sys.stderr)
        return 1
    if not _database_ready(url):
        return 1
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        rows = io.export(session)
    engine.dispose()
    io.write_rows(args.file, rows)
    print(f"exported {len(rows)} service(s) to {args.file}")
    return 0
