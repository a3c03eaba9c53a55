"""Start the real assistant stack (Rasa + action server) once per test run.

Loading the model takes 60 to 100 s, so the stack is a session fixture shared by
every test marked ``rasa``. The processes are started with the runner's own
commands and environment (``bot.runner``), as ``helpline run`` starts them. The
model must have been trained (``make test`` trains it first).
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from bot.runner import child_environment, commands, prepare_directory
from bot.settings import PROJECT_ROOT, Settings

STARTUP_TIMEOUT = 300
TEST_TOKEN = "test-token-" + "0" * 21


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    settings: Settings
    processes: dict[str, subprocess.Popen[bytes]]
    log_dir: Path

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def stack_settings(**overrides: object) -> Settings:
    """Settings of a stack on free ports; ``overrides`` e.g. ``database_url``, ``redis_url``."""
    model = PROJECT_ROOT / "models" / "helpline.tar.gz"
    if not model.exists():
        raise RuntimeError(f"no trained model at {model}: run `make test`, which trains it")
    values: dict[str, object] = {
        "rasa_url": f"http://127.0.0.1:{free_port()}",
        "rasa_token": TEST_TOKEN,
        "action_server_url": f"http://127.0.0.1:{free_port()}/webhook",
        "app_port": free_port(),
        "pseudonym_pepper": "test-pepper-" + "p" * 32,
        "address_key": Fernet.generate_key().decode(),
        "model_path": model,
    }
    return Settings(**(values | overrides))


def settings_environment(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process read exactly ``settings``."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        secret = getattr(value, "get_secret_value", None)
        env[name.upper()] = str(secret() if secret else value)
    return env


def start_stack(log_dir: Path, **overrides: object) -> Stack:
    """Start Rasa and the action server on free ports; wait until the model is loaded."""
    settings = stack_settings(**overrides)
    prepare_directory(settings)
    log_dir.mkdir(parents=True, exist_ok=True)
    env = child_environment(settings) | settings_environment(settings)
    parts = {name: cmd for name, cmd in commands(settings, log_dir).items() if name != "app"}
    processes = {
        name: subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=open(log_dir / f"{name}.log", "wb"),
                               stderr=subprocess.STDOUT)
        for name, cmd in parts.items()
    }
    stack = Stack(settings, processes, log_dir)
    try:
        wait_until_ready(settings, lambda: any(p.poll() is not None for p in processes.values()))
    except RuntimeError:
        stack.stop()
        raise RuntimeError(f"the stack did not start; see {log_dir}") from None
    return stack


def wait_until_ready(settings: Settings, exited, timeout: float = STARTUP_TIMEOUT) -> None:  # type: ignore[no-untyped-def]
    """Wait until Rasa has its model loaded and the action server answers."""
    token = settings.rasa_token.get_secret_value() if settings.rasa_token else ""
    action_health = settings.action_server_url.rsplit("/", 1)[0] + "/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if exited():
            raise RuntimeError("a part exited during start-up")
        try:
            status = httpx.get(f"{settings.rasa_url}/status", params={"token": token}, timeout=2)
            actions = httpx.get(action_health, timeout=2)
            if status.status_code == 200 and status.json().get("model_file") and actions.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(f"not ready in {timeout}s")
