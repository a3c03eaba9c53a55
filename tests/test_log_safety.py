"""No log line of any process carries message text, an exception's value or a secret."""

from __future__ import annotations

import io
import json
import logging
import subprocess

import pytest

from bot.log_safety import WITHHELD, WithholdContent, configure
from bot.rasa_launcher import rasa_arguments
from bot.runner import commands
from bot.settings import PROJECT_ROOT, Settings

CANARY = "canary-7f3a he is hitting me in Nis"


@pytest.fixture
def captured():
    """Log through bot/logging.yml into a buffer."""
    configure("DEBUG")
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    original, handler.stream = handler.stream, stream
    yield stream
    handler.stream = original
    configure("INFO")


def test_library_messages_are_withheld_even_at_debug(captured):
    logging.getLogger("rasa.core.processor").debug("Received user message '%s'", CANARY)
    logging.getLogger("rasa.core.channels.rest").error(f"handling failed: {CANARY}")
    logging.getLogger("sanic.error").error("Exception on http://x/status?token=secret-token")
    output = captured.getvalue()
    assert CANARY not in output and "secret-token" not in output
    assert output.count(WITHHELD) == 3 and "rasa.core.processor" in output


def test_exceptions_keep_their_type_and_frames_never_their_value(captured):
    try:
        raise ValueError(f"{CANARY!r} is not a valid Category")
    except ValueError:
        logging.getLogger("bot.conversations").exception("turn failed")
        logging.getLogger("rasa_sdk.executor").exception("action failed")
    output = captured.getvalue()
    assert CANARY not in output
    assert "turn failed [ValueError]" in output and "test_log_safety.py" in output


def test_our_own_messages_are_shown(captured):
    logging.getLogger("bot.runner").info("actions exited (code %s): restarting in %.0f s", -9, 1.0)
    assert "actions exited (code -9): restarting in 1 s" in captured.getvalue()


def test_allow_list_matches_whole_logger_names():
    record = logging.LogRecord("botany", logging.INFO, __file__, 1, CANARY, (), None)
    WithholdContent(allow="bot").filter(record)
    assert record.getMessage() == WITHHELD


def test_the_rasa_token_is_never_on_a_command_line(tmp_path):
    settings = Settings(rasa_token="token-" + "t" * 30)
    for command in commands(settings, tmp_path).values():
        assert not any("token-ttt" in part for part in command)
        assert "--auth-token" not in command
    arguments = rasa_arguments(["--enable-api"], {"RASA_TOKEN": "token-x"})
    assert arguments[-1] == "--auth-token=token-x" and "--logging-config-file" in arguments


RASA_READS_ITS_ARGUMENTS = """
import json, sys
from rasa.__main__ import create_argument_parser
parser = create_argument_parser()
print(json.dumps([parser.parse_args(arguments).auth_token for arguments in json.loads(sys.argv[1])]))
"""


def test_rasa_reads_back_any_token():
    """A generated token (``secrets.token_urlsafe``) begins with "-" one time in 64; as a
    separate word after ``--auth-token``, Rasa's parser took it for an option and every
    start of Rasa failed. Checked with Rasa's own parser."""
    tokens = ["token-x", "-starts-with-a-dash", "--too"]
    command_lines = [rasa_arguments(["--enable-api"], {"RASA_TOKEN": token}) for token in tokens]
    read = subprocess.run([str(RASA_PYTHON), "-c", RASA_READS_ITS_ARGUMENTS, json.dumps(command_lines)],
                          capture_output=True, text=True, check=False, env={"SQLALCHEMY_SILENCE_UBER_WARNING": "1"})
    assert read.returncode == 0, read.stderr[-2000:]
    assert json.loads(read.stdout) == tokens


RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"
SANIC_PROBE = f"""
import logging
from bot.log_safety import configure
from rasa.core.actions import action
from bot.rasa_launcher import prepare
prepare()
configure()
from sanic import Sanic
Sanic("rasa_server")  # as Rasa's API server does: it re-applies Sanic's logging defaults
logging.getLogger("sanic.error").error("Exception occurred while handling uri: %r", "http://x/?token={CANARY}")
try:
    raise ValueError("{CANARY}")
except ValueError:
    logging.getLogger("sanic.error").exception("handler failed")
import rasa.shared.utils.io
rasa.shared.utils.io.raise_warning("Failed to parse arguments in line '/{CANARY}'")
assert action.DEFAULT_REQUEST_TIMEOUT == 7.0
"""


@pytest.mark.skipif(not RASA_PYTHON.exists(), reason="Rasa's environment is not installed")
def test_rasas_sanic_server_logs_through_the_same_filter():
    result = subprocess.run([str(RASA_PYTHON), "-c", SANIC_PROBE], cwd=PROJECT_ROOT, capture_output=True,
                            env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin",
                                 "ACTION_TIMEOUT_SECONDS": "7", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"},
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert CANARY.encode() not in output
    assert output.count(WITHHELD.encode()) == 3 and b"[ValueError]" in output
