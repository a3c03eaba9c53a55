"""Rasa's ``endpoints.yml``, derived from the settings so that there is one source of truth.

The in-memory tracker store by default; with ``REDIS_URL`` the tracker and lock
stores live in Redis, so that several Rasa instances share conversations and
Redis itself expires a conversation after the retention period.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

from bot.settings import Settings

# Rasa's Redis keys are "<prefix>:tracker:<sender>" and "<prefix>:lock:<sender>"
# (the prefix must be alphanumeric); bot.erasure deletes them.
RASA_KEY_PREFIX = "helpline"


def endpoints(settings: Settings) -> dict[str, Any]:
    config: dict[str, Any] = {"action_endpoint": {"url": settings.action_server_url}}
    if settings.redis_url:
        url = urlsplit(settings.redis_url)
        redis = {
            "type": "redis",
            "url": url.hostname or "127.0.0.1",
            "port": url.port or 6379,
            "db": int(url.path.strip("/") or 0),
            "key_prefix": RASA_KEY_PREFIX,
        }
        if url.username:
            redis["username"] = unquote(url.username)
        if url.password:
            redis["password"] = unquote(url.password)
        if url.scheme == "rediss":
            redis["use_ssl"] = True
        config["tracker_store"] = redis | {"record_exp": settings.conversation_retention_hours * 3600}
        config["lock_store"] = redis
    return config


def write_endpoints(settings: Settings, path: Path) -> Path:
    """Write the file readable by its owner only: it can hold the Redis password."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(yaml.safe_dump(endpoints(settings), sort_keys=False))
    return path
