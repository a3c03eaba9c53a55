"""When counsellors work: a weekly schedule in the helpline's time zone, with holidays.

Read from a YAML file (``HANDOFF_HOURS_FILE``, default ``bot/data/handoff_hours.yml``)::

    timezone: Europe/Belgrade
    week:                      # mon … sun; a missing day is closed
      mon: ["08:00-20:00"]
      sat: ["10:00-14:00", "18:00-22:00"]
      sun: ["00:00-24:00"]
    holidays: ["2026-12-25"]   # closed all day

The clock is passed in, so that tests freeze it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ScheduleError(ValueError):
    """The schedule file is not valid; the message says where."""


@dataclass(frozen=True)
class Schedule:
    timezone: ZoneInfo
    week: dict[int, tuple[tuple[dt.time, dt.time | None], ...]]  # weekday → (opens, closes; None: midnight)
    holidays: frozenset[dt.date]

    @classmethod
    def load(cls, path: Path) -> Schedule:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            zone = ZoneInfo(str(data["timezone"]))
        except (OSError, yaml.YAMLError, KeyError, ValueError) as error:
            raise ScheduleError(f"{path}: {type(error).__name__}: needs a valid 'timezone'") from error
        week = {}
        for name, ranges in (data.get("week") or {}).items():
            if name not in DAYS:
                raise ScheduleError(f"{path}: unknown day {name!r} (use {', '.join(DAYS)})")
            week[DAYS.index(name)] = tuple(_range(path, name, text) for text in ranges or ())
        try:
            holidays = frozenset(dt.date.fromisoformat(str(day)) for day in data.get("holidays") or ())
        except ValueError as error:
            raise ScheduleError(f"{path}: holidays must be YYYY-MM-DD dates") from error
        return cls(zone, week, holidays)

    def is_open(self, at: dt.datetime) -> bool:
        """Whether counsellors work at ``at`` (an aware datetime)."""
        local = at.astimezone(self.timezone)
        if local.date() in self.holidays:
            return False
        now = local.time()
        return any(opens <= now and (closes is None or now < closes)
                   for opens, closes in self.week.get(local.weekday(), ()))


def _range(path: Path, day: str, text: str) -> tuple[dt.time, dt.time | None]:
    try:
        start, end = str(text).split("-")
        opens = dt.time.fromisoformat(start.strip())
        closes = None if end.strip() == "24:00" else dt.time.fromisoformat(end.strip())
    except ValueError as error:
        raise ScheduleError(f"{path}: {day}: {text!r} is not HH:MM-HH:MM") from error
    if closes is not None and closes <= opens:
        raise ScheduleError(f"{path}: {day}: {text!r} closes before it opens (split it at midnight)")
    return opens, closes
