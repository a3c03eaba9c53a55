"""The one typed settings object, read from the environment and an optional ``.env``.

Every variable is listed in ``docs/configuration.md``. Secrets are ``SecretStr``
so that they never appear in a repr, a log line or a Sentry event.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Language = Literal["en", "sq", "sr", "mk"]
LANGUAGES: tuple[Language, ...] = ("en", "sq", "sr", "mk")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIN_PEPPER_LENGTH = 32


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
    first_reply_deadline_seconds: float = Field(
        default=4.0, gt=0,
        description="Past this the app answers her itself (numbers first), so she has them within 5 s.",
    )
    rasa_timeout_seconds: float = Field(
        default=60.0, gt=0,
        description="How long the app waits, behind the deadline, for a slow turn's late replies.",
    )
    action_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long Rasa waits for one call to the action server."
    )
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
    sweep_interval_seconds: float = Field(
        default=60.0, gt=0, description="How often expired conversations are looked for."
    )

    # Channels: a platform whose credentials are absent is off. Each *_api_base
    # defaults to the platform's real API; tests point it at a local stand-in.
    address_key: SecretStr | None = Field(
        default=None,
        description="Fernet key(s), comma-separated (newest first), encrypting reply addresses.",
    )
    public_url: str | None = Field(
        default=None, description="The app's public HTTPS address, for registering webhooks."
    )
    gateway_workers: int = Field(
        default=64, ge=1,
        description="Conversations one instance answers (and sends to) at the same time.",
    )
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org"
    viber_auth_token: SecretStr | None = None
    viber_api_base: str = "https://chatapi.viber.com"
    viber_bot_name: str = Field(default="Helpline", description="Sender name of the Viber bot.")
    whatsapp_access_token: SecretStr | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_api_base: str = "https://graph.facebook.com/v23.0"
    counsellor_bot_token: SecretStr | None = Field(
        default=None, description="Token of the counsellors' Telegram bot (off when unset)."
    )
    counsellor_webhook_secret: SecretStr | None = Field(
        default=None, description="Secret Telegram sends with the counsellor bot's webhooks."
    )
    counsellor_group_chat_id: int | None = Field(
        default=None, description="Telegram group where new requests are posted for counsellors."
    )

    # Counsellor handoff (bot.handoff)
    handoff_hours_file: Path = Field(
        default=PROJECT_ROOT / "bot" / "data" / "handoff_hours.yml",
        description="Counsellors' weekly schedule and holidays, in the helpline's time zone.",
    )
    handoff_wait_seconds: float = Field(
        default=600.0, gt=0,
        description="Nobody took her chat in this time: she is told, given the numbers, and may leave a message.",
    )
    handoff_counsellor_timeout_seconds: float = Field(
        default=600.0, gt=0,
        description="Her message unanswered this long: the chat returns to the queue and she is told.",
    )
    handoff_minutes_per_place: float = Field(
        default=5.0, gt=0, description="The expected wait she is told, per place in the queue."
    )
    handoff_message_hours: int = Field(
        default=96, ge=1,
        description="A message she left when nobody was free (or outside the hours) waits this long for a "
                    "counsellor, her conversation kept meanwhile; she is told so.",
    )
    handoff_topics: str = Field(
        default="", description="Comma-separated service categories that go to a counsellor (with consent)."
    )
    transcript_retention_days: float = Field(
        default=30.0, gt=0, description="Transcripts of handed-off chats are deleted after this."
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

    @model_validator(mode="after")
    def _timeouts_are_consistent(self) -> Settings:
        # A turn runs up to a few remote actions (slot validation, then up to three more).
        if self.rasa_timeout_seconds < 4 * self.action_timeout_seconds:
            raise ValueError("RASA_TIMEOUT_SECONDS must be at least 4 x ACTION_TIMEOUT_SECONDS")
        if self.rasa_timeout_seconds <= self.first_reply_deadline_seconds:
            raise ValueError("RASA_TIMEOUT_SECONDS must exceed FIRST_REPLY_DEADLINE_SECONDS")
        return self

    @property
    def uses_shared_services(self) -> bool:
        """Whether other instances may share this one's stores (Redis, PostgreSQL)."""
        return bool(self.redis_url) or not self.database_url.startswith("sqlite")

    def pepper_problem(self) -> str | None:
        """Why the helpline must not start with this pepper, or None."""
        pepper = self.pseudonym_pepper.get_secret_value() if self.pseudonym_pepper else ""
        if self.uses_shared_services and len(pepper) < MIN_PEPPER_LENGTH:
            return (
                f"PSEUDONYM_PEPPER must be set (at least {MIN_PEPPER_LENGTH} characters) with "
                "REDIS_URL or DATABASE_URL: instances and restarts must share one pepper"
            )
        return None

    def address_key_problem(self) -> str | None:
        """Why reply addresses cannot be kept with this configuration, or None.

        Shared stores outlive a process and serve several: what one instance sealed
        there, every instance and every restart must open. The embedded default
        keeps a key of its own beside its SQLite file (``bot.gateway.sealing``).
        """
        if self.uses_shared_services and self.address_key is None:
            return "ADDRESS_KEY must be set with REDIS_URL or DATABASE_URL (see docs/configuration.md)"
        return None


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (read once)."""
    return Settings()
