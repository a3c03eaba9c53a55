"""``helpline run``'s supervision: a dead part is restarted with backoff; only repeated crashes stop it."""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import time

import httpx
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



_APP_WITH_A_SHUTDOWN = """
import asyncio, sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] == "http":  # a slow answer keeps uvicorn's shutdown waiting for it
        await asyncio.sleep(1)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
    while scope["type"] == "lifespan":
        message = await receive()
        if message["type"] == "lifespan.startup":
            open(sys.argv[1], "w").write("up")
            await send({"type": "lifespan.startup.complete"})
        else:
            open(sys.argv[1], "w").write("closed")
            await send({"type": "lifespan.shutdown.complete"})
            return
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def test_ctrl_c_reaching_every_part_still_lets_the_app_close(tmp_path):
    """Ctrl-C signals every process of the terminal's group, then ``stop`` signals again:
    the app still runs its shutdown (a second SIGINT makes uvicorn skip it, and the app's
    queues, sweepers and stores were left unclosed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state = tmp_path / "state"
    app = Child("app", [sys.executable, "-c", _APP_WITH_A_SHUTDOWN, str(state), str(port)])
    app.start({})
    deadline = time.monotonic() + 30
    while not (state.exists() and state.read_text() == "up"):
        assert time.monotonic() < deadline and app.running(), "the app did not start"
        time.sleep(0.05)
    answering = threading.Thread(target=lambda: httpx.get(f"http://127.0.0.1:{port}/", timeout=10))
    answering.start()
    time.sleep(0.3)  # her request is being answered
    app.process.send_signal(signal.SIGINT)  # the terminal's Ctrl-C
    time.sleep(0.1)  # the runner's own handling of it
    stop([app])
    answering.join()
    assert state.read_text() == "closed"
