"""``helpline run``'s supervision: a dead part is restarted with backoff; only repeated crashes stop it."""

from __future__ import annotations

import logging
import sys

import pytest

from bot import runner
from bot.runner import Child, stop, supervise
from bot.settings import Settings


def test_a_crashing_part_is_restarted_then_stops_the_stack(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(runner, "MAX_BACKOFF", 0.05)
    starts = tmp_path / "starts"
    crashing = Child("actions", [sys.executable, "-c", f"open({str(starts)!r}, 'a').write('x')"])
    healthy = Child("rasa", [sys.executable, "-c", "import time; time.sleep(60)"])
    for child in (crashing, healthy):
        child.start({})
    try:
        with caplog.at_level(logging.ERROR, logger="bot.runner"):
            assert supervise([crashing, healthy], {}, poll_seconds=0.02) == 1
        assert len(starts.read_text()) == runner.MAX_CRASHES + 1
        assert healthy.running()  # the others ran on while it was restarted
        restarts = [r.getMessage() for r in caplog.records if "restarting" in r.getMessage()]
        assert len(restarts) == runner.MAX_CRASHES
        assert restarts[0].startswith("actions exited (code 0): restarting in")
    finally:
        stop([crashing, healthy])


def test_backoff_grows_and_is_capped():
    assert [runner.backoff(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert runner.backoff(20) == runner.MAX_BACKOFF == 30.0


def test_run_refuses_shared_services_without_a_pepper(caplog):
    settings = Settings(redis_url="redis://127.0.0.1:6379/15", pseudonym_pepper=None)
    with caplog.at_level(logging.ERROR, logger="bot.runner"):
        assert runner.run(settings) == 2
    assert [r.getMessage() for r in caplog.records] == [settings.pepper_problem()]


@pytest.mark.parametrize("value", ["0", "-1"])
def test_timeouts_must_be_consistent(value):
    with pytest.raises(ValueError):
        Settings(rasa_timeout_seconds=value)
    with pytest.raises(ValueError, match="4 x ACTION_TIMEOUT_SECONDS"):
        Settings(rasa_timeout_seconds=30, action_timeout_seconds=10)


def test_a_linked_part_restarts_with_the_part_that_died(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "MAX_BACKOFF", 0.05)
    app_starts, rasa_starts = tmp_path / "app", tmp_path / "rasa"
    app = Child("app", [sys.executable, "-c", f"open({str(app_starts)!r}, 'a').write('x')"])
    # A shell, not Python: it has written its mark long before it is stopped, even on a loaded machine.
    rasa = Child("rasa", ["sh", "-c", f"printf x >> '{rasa_starts}'; exec sleep 60"])
    for child in (app, rasa):
        child.start({})
    try:
        assert supervise([app, rasa], {}, linked={"app": "rasa"}, poll_seconds=0.02) == 1
        assert len(rasa_starts.read_text()) > 1  # stopped and started again with the app
    finally:
        stop([app, rasa])
