"""The real app, running, with a stand-in Rasa and the platforms' stand-ins: end-to-end tests.

    rasa = RasaStandIn()
    with Served(rasa.app) as rasa_server, Served(telegram_standin.app) as api:
        with running_app(rasa_server.url, telegram_api_base=api.url, ...) as app:
            app.post("/webhooks/telegram", body, headers)
            api.recorder.wait_for(...)

``running_app`` serves ``bot.app.create_app`` in this process (uvicorn in a
thread); ``app_process`` starts it as its own process, for tests that kill it.
Both take Settings overrides: the platform credentials and API bases, and
``redis_url`` for instances sharing Redis.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from bot.app import create_app
from bot.directory.migrate import upgrade
from bot.settings import PROJECT_ROOT, Settings
from tests.stack import free_port, settings_environment
from tests.standins.server import Served

PEPPER = "gateway-test-pepper-" + "x" * 24
ADDRESS_KEY = Fernet.generate_key().decode()


@dataclass
class RunningApp:
    settings: Settings
    url: str

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.post(self.url + path, content=body, headers=headers or {}, timeout=10)

    def get(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(self.url + path, params=params, timeout=10)


def app_settings(rasa_url: str, **overrides: object) -> Settings:
    """Settings of an app on a free port talking to ``rasa_url``; ``overrides`` win."""
    values: dict[str, object] = {
        "rasa_url": rasa_url,
        "app_port": free_port(),
        "pseudonym_pepper": PEPPER,
        "address_key": ADDRESS_KEY,
        "first_reply_deadline_seconds": 1.0,
        "rasa_timeout_seconds": 40.0,
        "demo_directory": False,
        "database_url": f"sqlite:///{tempfile.mkdtemp(prefix='helpline-app-')}/helpline.db",
        "gateway_workers": 4,
    }
    return Settings(**(values | overrides))


@contextmanager
def running_app(rasa_url: str, **overrides: object) -> Iterator[RunningApp]:
    """The app served in this process until the block ends."""
    settings = app_settings(rasa_url, **overrides)
    upgrade(settings.database_url)
    with Served(create_app(settings), port=settings.app_port) as served:
        yield RunningApp(settings, served.url)


@dataclass
class AppProcess:
    settings: Settings
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.post(self.url + path, content=body, headers=headers or {}, timeout=10)

    def kill(self) -> None:
        """SIGKILL: no shutdown, nothing flushed."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_app_process(log: Path, settings: Settings) -> AppProcess:
    """The app as its own process (as ``helpline run`` starts it), ready to take webhooks."""
    upgrade(settings.database_url)
    env = {**os.environ, **settings_environment(settings), "PYTHONPATH": str(PROJECT_ROOT)}
    command = [sys.executable, "-m", "uvicorn", "--factory", "bot.app:create_app", "--host", "127.0.0.1",
               "--port", str(settings.app_port), "--log-config", str(PROJECT_ROOT / "bot" / "logging.yml"),
               "--no-access-log"]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=open(log, "ab"),
                               stderr=subprocess.STDOUT)
    app = AppProcess(settings, f"http://127.0.0.1:{settings.app_port}", process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited; see {log}")
        try:
            httpx.get(app.url + "/api/session", timeout=1)
            return app
        except httpx.HTTPError:
            time.sleep(0.1)
    app.stop()
    raise RuntimeError(f"the app did not start; see {log}")


@contextmanager
def app_process(log: Path, settings: Settings) -> Iterator[AppProcess]:
    app = start_app_process(log, settings)
    try:
        yield app
    finally:
        app.stop()
