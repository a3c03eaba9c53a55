"""The one typed settings object, read from the environment and an optional ``.env``.

Every variable is listed in ``docs/configuration.md``. Secrets are ``SecretStr``
so that they never appear in a repr, a log line or a Sentry event.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Language = Literal["en", "sq", "sr", "mk"]
LANGUAGES: tuple[Language, ...] = ("en", "sq", "sr", "mk")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Configuration of every helpline process (app, action server, runner)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Storage
    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / '.data' / 'helpline.db'}",
        description="SQLAlchemy URL of the directory database.",
    )
    redis_url: str | None = Field(
        default=None, description="Redis for shared live state; in-process when unset."
    )

    # The assistant (Rasa) and the action server
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: SecretStr | None = Field(
        default=None, description="Token protecting Rasa's HTTP API."
    )
    rasa_timeout_seconds: float = 15.0
    action_server_url: str = "http://127.0.0.1:5055/webhook"
    model_path: Path = PROJECT_ROOT / "models" / "helpline.tar.gz"

    # The web app
    app_host: str = "127.0.0.1"
    app_port: int = 8000

    # Privacy
    pseudonym_pepper: SecretStr | None = Field(
        default=None, description="Secret key of the pseudonymous sender ids."
    )
    conversation_retention_hours: int = Field(
        default=24, ge=1, description="Conversations are erased this long after the last message."
    )

    # Helpline
    default_country: str | None = Field(
        default=None, description="ISO code of the country the helpline serves, if only one."
    )
    default_language: Language = "en"
    demo_directory: bool = Field(
        default=True, description="Load the demo directory into an empty database at start."
    )

    # Errors
    sentry_dsn: SecretStr | None = None
    sentry_environment: str = "development"
    log_level: str = "INFO"


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (read once)."""
    return Settings()
