"""``helpline run``: Rasa, the action server and the app as one supervised service.

Each part is a child process on 127.0.0.1; if one dies the others are stopped,
and Ctrl-C stops everything cleanly. Rasa runs from ``.venv-rasa`` (Python 3.10),
the action server and the app from this environment.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bot.db import make_engine
from bot.directory.demo import load_demo_if_empty
from bot.directory.migrate import upgrade
from bot.rasa_endpoints import write_endpoints
from bot.settings import PROJECT_ROOT, Settings

logger = logging.getLogger(__name__)
RASA = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"
RUN_DIR = PROJECT_ROOT / ".run"


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment of every child: secrets generated for this run when unset."""
    env = dict(os.environ)
    if settings.rasa_token is None:
        env["RASA_TOKEN"] = secrets.token_urlsafe(32)
    if settings.pseudonym_pepper is None:
        logger.warning(
            "PSEUDONYM_PEPPER is unset: using a random one for this run only; "
            "set it to keep conversations across restarts"
        )
        env["PSEUDONYM_PEPPER"] = secrets.token_urlsafe(32)
    env["SANIC_HOST"] = "127.0.0.1"  # the action server listens on loopback only
    env["SQLALCHEMY_SILENCE_UBER_WARNING"] = "1"  # Rasa's SQLAlchemy 1.4 notice
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env


def commands(settings: Settings, env: dict[str, str]) -> dict[str, list[str]]:
    rasa = urlsplit(settings.rasa_url)
    action = urlsplit(settings.action_server_url)
    endpoints = write_endpoints(settings, RUN_DIR / "endpoints.yml")
    return {
        "rasa": [
            str(RASA), "run", "--enable-api", "--auth-token", env["RASA_TOKEN"],
            "--interface", rasa.hostname or "127.0.0.1", "--port", str(rasa.port or 5005),
            "--model", str(settings.model_path), "--endpoints", str(endpoints),
            "--credentials", str(PROJECT_ROOT / "credentials.yml"),
        ],
        "actions": [
            sys.executable, "-m", "rasa_sdk", "--actions", "actions",
            "--port", str(action.port or 5055),
        ],
        "app": [
            sys.executable, "-m", "uvicorn", "--factory", "bot.app:create_app",
            "--host", settings.app_host, "--port", str(settings.app_port),
        ],
    }


def prepare_directory(settings: Settings) -> None:
    """Bring the directory's schema up to date; give an empty one the demo services."""
    upgrade(settings.database_url)
    if settings.demo_directory:
        engine = make_engine(settings.database_url)
        created = load_demo_if_empty(engine)
        engine.dispose()
        if created:
            logger.info("loaded %d demo services into the empty directory", created)


def run(settings: Settings) -> int:
    """Start every part, wait until one exits or Ctrl-C, then stop them all."""
    if not Path(settings.model_path).exists():
        logger.error("no trained model at %s: run `make run` (it trains first)", settings.model_path)
        return 1
    prepare_directory(settings)
    env = child_environment(settings)
    children = [
        Child(name, subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env))
        for name, cmd in commands(settings, env).items()
    ]
    url = f"http://{settings.app_host}:{settings.app_port}"
    print(f"\nHelpline starting. Chat at {url}/  (ready when {url}/health says ok; Ctrl-C stops)\n")
    signal.signal(signal.SIGINT, _interrupt)  # also when started as a background job
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while all(child.process.poll() is None for child in children):
            time.sleep(0.5)
        dead = [c.name for c in children if c.process.poll() is not None]
        logger.error("stopped because %s exited", ", ".join(dead))
        return 1
    except KeyboardInterrupt:
        logger.info("stopping")
        return 0
    finally:
        stop(children)


def _interrupt(*_: object) -> None:
    """Stop on Ctrl-C and on SIGTERM (e.g. from a container runtime) alike."""
    raise KeyboardInterrupt


def stop(children: list[Child], grace_seconds: float = 10.0) -> None:
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + grace_seconds
    for child in children:
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()
