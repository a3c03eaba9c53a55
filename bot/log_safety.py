"""Log lines that say where and what kind of thing happened, never what she wrote.

Rasa quotes message texts in many log calls (its DEBUG traces every message; its
REST channel logs the text at ERROR when a turn fails), exception messages can
quote an entity value, and request URLs carry Rasa's token. Rather than trust
every library's every log call, each of the three processes (Rasa, the action
server, the app) logs through ``WithholdContent``: a record keeps its time,
level, logger name and source location; its message is shown only for loggers
whose messages are known to be content-free (our own ``bot`` package and a few
start-up loggers); an exception keeps its type and stack frames, never its value.

It needs only the standard library and PyYAML: Rasa's environment (Python 3.10)
imports it too, through ``bot/logging.yml`` (Rasa's ``--logging-config-file``).
"""

from __future__ import annotations

import logging
import logging.config
import traceback
from pathlib import Path

import yaml

LOGGING_CONFIG = Path(__file__).with_name("logging.yml")
WITHHELD = "[message withheld]"


class WithholdContent(logging.Filter):
    """Rewrite every record so that it carries no message text and no exception value."""

    def __init__(self, allow: str = "") -> None:
        super().__init__()
        self._allow = tuple(prefix for prefix in allow.split(",") if prefix)

    def _shows_message(self, name: str) -> bool:
        return any(name == prefix or name.startswith(prefix + ".") for prefix in self._allow)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage() if self._shows_message(record.name) else WITHHELD
        if record.exc_info and record.exc_info[0] is not None:
            kind, _, trace = record.exc_info
            frames = "".join(traceback.format_tb(trace)).rstrip()
            message = f"{message} [{kind.__name__}]\n{frames}"
        record.msg, record.args = message, ()
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def configure(level: str | None = None) -> None:
    """Apply ``bot/logging.yml`` to this process; ``level`` sets the root level."""
    logging.config.dictConfig(yaml.safe_load(LOGGING_CONFIG.read_text(encoding="utf-8")))
    logging.captureWarnings(True)  # a warning's text can quote a message too
    if level:
        logging.getLogger().setLevel(level.upper())
