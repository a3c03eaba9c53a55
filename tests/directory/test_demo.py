"""The demo directory is valid, entirely flagged demo, and has no number that could reach anyone."""

from __future__ import annotations

import re

from bot.db import make_engine
from bot.directory.demo import DEMO_FILE, load_demo_if_empty
from bot.directory.io import read_rows, validate

FICTIONAL_PHONE = re.compile(r"^\+000 0000 \d{4}$")
DIGIT_RUN = re.compile(r"\+?\d[\d ]{4,}\d")  # a phone number, not "24/7"


def test_demo_file_is_valid_and_all_demo():
    rows = read_rows(DEMO_FILE)
    assert validate(rows) == []
    assert all(row["demo"] == "yes" for row in rows)


def test_demo_file_has_only_fictional_phone_numbers():
    for row in read_rows(DEMO_FILE):
        for column in ("phones", "messaging"):
            for number in DIGIT_RUN.findall(row.get(column) or ""):
                assert FICTIONAL_PHONE.match(number), (row["external_id"], number)


def test_demo_is_loaded_once_into_an_empty_directory(sqlite_url):
    from bot.directory.migrate import upgrade

    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    assert load_demo_if_empty(engine) == len(read_rows(DEMO_FILE))
    assert load_demo_if_empty(engine) == 0
    engine.dispose()
