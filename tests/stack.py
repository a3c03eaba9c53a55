"""Start the real assistant stack (Rasa + action server) once per test run.

Loading the model takes about 40 s, so the stack is a session fixture shared by
every test marked ``rasa``. The model must have been trained (``make test``
trains it first).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.rasa_endpoints import write_endpoints
from bot.runner import prepare_directory
from bot.settings import PROJECT_ROOT, Settings

STARTUP_TIMEOUT = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    settings: Settings
    processes: list[subprocess.Popen[bytes]]
    log_dir: Path

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def start_stack(log_dir: Path, **overrides: object) -> Stack:
    """Start Rasa and the action server on free ports; wait until the model is loaded.

    ``overrides`` are settings (e.g. ``database_url``) given to both the test and
    the action server's environment.
    """
    model = PROJECT_ROOT / "models" / "helpline.tar.gz"
    if not model.exists():
        raise RuntimeError(f"no trained model at {model}: run `make test`, which trains it")
    rasa_port, action_port = free_port(), free_port()
    settings = Settings(
        rasa_url=f"http://127.0.0.1:{rasa_port}",
        rasa_token="test-token",
        action_server_url=f"http://127.0.0.1:{action_port}/webhook",
        pseudonym_pepper="test-pepper",
        **overrides,
    )
    prepare_directory(settings)
    endpoints = write_endpoints(settings, log_dir / "endpoints.yml")
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), SANIC_HOST="127.0.0.1")
    for key, value in overrides.items():
        env[key.upper()] = str(value)
    log_dir.mkdir(parents=True, exist_ok=True)
    commands = {
        "actions": [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(action_port)],
        "rasa": [
            str(PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"), "run", "--enable-api",
            "--auth-token", "test-token", "--interface", "127.0.0.1", "--port", str(rasa_port),
            "--model", str(model), "--endpoints", str(endpoints),
            "--credentials", str(PROJECT_ROOT / "credentials.yml"),
        ],
    }
    processes = [
        subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=open(log_dir / f"{name}.log", "wb"),
                         stderr=subprocess.STDOUT)
        for name, cmd in commands.items()
    ]
    stack = Stack(settings, processes, log_dir)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            stack.stop()
            raise RuntimeError(f"the stack exited during start-up; see {log_dir}")
        try:
            status = httpx.get(f"{settings.rasa_url}/status", params={"token": "test-token"}, timeout=2)
            actions = httpx.get(f"http://127.0.0.1:{action_port}/health", timeout=2)
            if status.status_code == 200 and status.json().get("model_file") and actions.status_code == 200:
                return stack
        except httpx.HTTPError:
            pass
        time.sleep(1)
    stack.stop()
    raise RuntimeError(f"the stack did not become ready in {STARTUP_TIMEOUT}s; see {log_dir}")
