"""``rasa run`` with what must not be left to Rasa's defaults or its command line.

Runs in Rasa's own environment (``.venv-rasa``, Python 3.10). ``helpline run`` and the tests start Rasa as
``.venv-rasa/bin/python -m bot.rasa_launcher <rasa run arguments>``, which

- reads the API token from ``RASA_TOKEN`` and hands it to Rasa inside the
  process, so that it never appears in ``ps`` output (Rasa takes it only as
  ``--auth-token``);
- logs through ``bot/logging.yml``, which never emits message text, also
  after Rasa's API server (a Sanic app) re-applies Sanic's own logging
  defaults, whose error logger would print request URLs (with the token) and
  exception values;
- turns telemetry off;
- bounds each call to the action server by ``ACTION_TIMEOUT_SECONDS`` instead of
  Rasa's fixed 300 s, so that a frozen action server fails the turn quickly and
  the app's own timeout (``RASA_TIMEOUT_SECONDS``) stays above Rasa's.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

LOGGING_CONFIG = Path(__file__).with_name("logging.yml")
DEFAULT_ACTION_TIMEOUT_SECONDS = 10.0


def rasa_arguments(arguments: list[str], environ: dict[str, str]) -> list[str]:
    """The full ``rasa`` command line, token included (kept inside this process)."""
    full = ["run", *arguments, "--logging-config-file", str(LOGGING_CONFIG)]
    token = environ.get("RASA_TOKEN")
    if token:
        full.append(f"--auth-token={token}")  # one word: a token may begin with "-"
    return full


def keep_sanic_on_our_logging() -> None:
    """Make the logging configuration a Sanic app applies at creation ours."""
    import yaml
    from sanic import app as sanic_app

    sanic_app.LOGGING_CONFIG_DEFAULTS = yaml.safe_load(LOGGING_CONFIG.read_text(encoding="utf-8"))


def prepare() -> None:
    """Everything but the command line: telemetry, logging, the action timeout."""
    os.environ["RASA_TELEMETRY_ENABLED"] = "false"
    keep_sanic_on_our_logging()
    # Rasa also warns with her words ("Failed to parse arguments in line '/...'"):
    # warnings go through logging, and so through the filter, not straight to stderr.
    logging.captureWarnings(True)
    from rasa.core.actions import action  # Rasa 3.6 reads this module global per call

    action.DEFAULT_REQUEST_TIMEOUT = float(
        os.environ.get("ACTION_TIMEOUT_SECONDS", DEFAULT_ACTION_TIMEOUT_SECONDS)
    )


def main() -> None:
    prepare()
    sys.argv = ["rasa", *rasa_arguments(sys.argv[1:], dict(os.environ))]
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
