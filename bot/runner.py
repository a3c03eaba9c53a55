"""``helpline run``: Rasa, the action server and the app as one supervised service.

Each part is a child process on 127.0.0.1. A part that dies is restarted with a
growing delay (one log line each time) while ``/health`` names it; only a part
that keeps crashing stops the whole stack. Ctrl-C and SIGTERM stop everything.
Rasa runs from ``.venv-rasa`` (Python 3.10) through ``bot.rasa_launcher``, the
action server and the app from this environment; all three log through
``bot/logging.yml``, which never emits message text.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bot.db import make_engine
from bot.directory.demo import load_demo_if_empty
from bot.directory.migrate import upgrade
from bot.log_safety import LOGGING_CONFIG
from bot.rasa_endpoints import write_endpoints
from bot.settings import PROJECT_ROOT, Settings

logger = logging.getLogger(__name__)
RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"
RUN_DIR = PROJECT_ROOT / ".run"
# Restart delays grow 1, 2, 4 ... up to MAX_BACKOFF s; more than MAX_CRASHES
# crashes within CRASH_WINDOW s means the part cannot run: the stack stops.
MAX_BACKOFF = 30.0
MAX_CRASHES = 5
CRASH_WINDOW = 300.0


CHANNEL_SECRETS = (
    "ADDRESS_KEY", "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "VIBER_AUTH_TOKEN",
    "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN",
)
ALL_SECRETS = ("RASA_TOKEN", "PSEUDONYM_PEPPER", *CHANNEL_SECRETS)
# Rasa needs its token; the action server no secret; the app all of them.
SECRETS_OF = {"rasa": ("RASA_TOKEN",), "actions": (), "app": ALL_SECRETS}


@dataclass
class Child:
    """One supervised part: its command, its process, and its recent crashes."""

    name: str
    command: list[str]
    process: subprocess.Popen[bytes] | None = None
    crashes: list[float] = field(default_factory=list)
    restart_at: float | None = None
    secrets: tuple[str, ...] = ALL_SECRETS  # the secret variables this part may see

    def start(self, env: dict[str, str]) -> None:
        """Start the part with ``env`` less the secrets it does not need."""
        own = {name: value for name, value in env.items() if name not in ALL_SECRETS or name in self.secrets}
        self.process = subprocess.Popen(self.command, cwd=PROJECT_ROOT, env=own)
        self.restart_at = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


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
    env["RASA_TELEMETRY_ENABLED"] = "false"
    env["ACTION_TIMEOUT_SECONDS"] = str(settings.action_timeout_seconds)
    env["SANIC_HOST"] = "127.0.0.1"  # the action server listens on loopback only
    env["SQLALCHEMY_SILENCE_UBER_WARNING"] = "1"  # Rasa's SQLAlchemy 1.4 notice
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env


def commands(settings: Settings, run_dir: Path = RUN_DIR) -> dict[str, list[str]]:
    """The command of each part. The Rasa token is passed in the environment only."""
    rasa = urlsplit(settings.rasa_url)
    action = urlsplit(settings.action_server_url)
    endpoints = write_endpoints(settings, run_dir / "endpoints.yml")
    return {
        "rasa": [
            str(RASA_PYTHON), "-m", "bot.rasa_launcher", "--enable-api",
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
            "--log-config", str(LOGGING_CONFIG), "--no-access-log",
            # The console's event streams never end by themselves: close them, then shut down.
            "--timeout-graceful-shutdown", "5",
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
    """Start every part, keep them running until Ctrl-C or a part that cannot run."""
    if problem := settings.pepper_problem() or settings.address_key_problem():
        logger.error("%s", problem)
        return 2
    if not Path(settings.model_path).exists():
        logger.error("no trained model at %s: run `make run` (it trains first)", settings.model_path)
        return 1
    prepare_directory(settings)
    env = child_environment(settings)
    children = [
        Child(name, command, secrets=SECRETS_OF[name]) for name, command in commands(settings).items()
    ]
    for child in children:
        child.start(env)
    url = f"http://{settings.app_host}:{settings.app_port}"
    print(f"\nHelpline starting. Chat at {url}/  (ready when {url}/health says ok; Ctrl-C stops)\n")
    signal.signal(signal.SIGINT, _interrupt)  # also when started as a background job
    signal.signal(signal.SIGTERM, _interrupt)
    # Embedded default: the app's in-process index is what erases Rasa's in-memory
    # conversations after the retention period; if the app restarts without it, Rasa
    # restarts too, so that nothing outlives the index that would have erased it.
    linked = {} if settings.redis_url else {"app": "rasa"}
    try:
        return supervise(children, env, linked)
    except KeyboardInterrupt:
        logger.info("stopping")
        return 0
    finally:
        stop(children)


def supervise(
    children: list[Child], env: dict[str, str], linked: dict[str, str] | None = None,
    poll_seconds: float = 0.5,
) -> int:
    """Restart parts that die, with backoff; return 1 once one keeps crashing.

    ``linked`` names, per part, another part that must restart with it.
    """
    by_name = {child.name: child for child in children}
    while True:
        now = time.monotonic()
        for child in children:
            if child.running():
                continue
            if child.restart_at is None:
                partner = by_name.get((linked or {}).get(child.name, ""))
                if partner is not None and partner.running() and partner.process:
                    logger.error("%s exited: restarting %s with it", child.name, partner.name)
                    partner.process.terminate()
                child.crashes = [t for t in child.crashes if now - t < CRASH_WINDOW] + [now]
                if len(child.crashes) > MAX_CRASHES:
                    logger.error("stopping: %s crashed %d times in %.0f s", child.name, len(child.crashes), CRASH_WINDOW)
                    return 1
                delay = backoff(len(child.crashes))
                code = child.process.returncode if child.process else None
                logger.error("%s exited (code %s): restarting in %.0f s", child.name, code, delay)
                child.restart_at = now + delay
            elif now >= child.restart_at:
                child.start(env)
        time.sleep(poll_seconds)


def backoff(crashes: int) -> float:
    """Seconds before restarting a part after its ``crashes``-th recent crash: 1, 2, 4 ... capped."""
    return min(MAX_BACKOFF, 2.0 ** (crashes - 1))


def _interrupt(*_: object) -> None:
    """Stop on Ctrl-C and on SIGTERM (e.g. from a container runtime) alike."""
    raise KeyboardInterrupt


def stop(children: list[Child], grace_seconds: float = 10.0) -> None:
    """Stop the parts gracefully, killing those still running after ``grace_seconds``.

    SIGTERM, not SIGINT: Ctrl-C has already sent SIGINT to every process of the
    terminal's group, and a second SIGINT makes uvicorn skip the app's shutdown
    (its queues, sweepers and stores would not be closed); Rasa's and the action
    server's Sanic stop gracefully on either.
    """
    running = [child.process for child in children if child.running() and child.process]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    for process in running:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
