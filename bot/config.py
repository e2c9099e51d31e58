"""The bot's configuration: one settings class, read once at start and passed down."""

from __future__ import annotations

import ipaddress
import re
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_GRPC_SCHEMES = frozenset({"dns", "ipv4", "ipv6", "unix", "unix-abstract", "vsock"})


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ConfigError(Exception):
    """Configuration that cannot be used; the message lists every bad value, one per line."""


class Settings(BaseSettings):
    """Every variable of the contract, plus tuning knobs with safe defaults."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # An empty variable means "unset" (compose passes every variable, empty when not set).
        env_ignore_empty=True,
        protected_namespaces=(),
    )

    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    database_url: str = "sqlite+aiosqlite:///data/detectbot.db"
    tfserving_address: str | None = None
    model_name: str = "detector"
    model_signature: str = "serving_default"
    canary_share: float = Field(0.0, ge=0.0, le=1.0)
    model_config_file: Path = Path("tfserving/models.config")
    tfserving_models_dir: str = "/models"
    model_latency_window: int = Field(50, ge=1)
    model_path: Path = Path("saved_model")
    model_auto_download: bool = True
    model_download_url: str | None = None
    label_map: Path | None = None
    min_score: float = Field(0.5, ge=0.0, le=1.0)
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    webhook_url: str | None = None
    webhook_secret: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))
    listen_host: str = "0.0.0.0"
    listen_port: int = Field(8080, ge=0, le=65535)
    webhook_path: str = "/telegram"
    rating_key: SecretStr | None = None

    tfserving_timeout_s: float = Field(10.0, gt=0)
    db_timeout_s: float = Field(5.0, gt=0)
    tfserving_retries: int = Field(3, ge=1, le=10)
    max_image_pixels: int = Field(50_000_000, gt=0)
    max_file_bytes: int = Field(20 * 1024 * 1024, gt=0)
    max_decode_bytes: int = Field(180_000_000, gt=0)
    max_aspect_ratio: float = Field(50.0, ge=1.0)
    reply_max_side: int = Field(2560, ge=64, le=9000)
    model_input_size: Annotated[tuple[int, int] | None, NoDecode] = None
    inference_max_side: int = Field(1024, ge=64)
    max_concurrent_detections: int = Field(4, ge=1)
    queue_notice_s: float = Field(3.0, ge=0)
    user_rate_limit_per_minute: int = Field(10, ge=1)
    album_quiet_s: float = Field(1.5, gt=0)
    feedback_wait_s: float = Field(600.0, gt=0)
    user_hourly_limit: int = Field(200, ge=1)
    feedback_hourly_limit: int = Field(20, ge=1)
    worker_concurrency: int = Field(8, ge=1)
    inbox_lease_s: float = Field(20.0, ge=1)
    inbox_retention_s: float = Field(2 * 24 * 3600.0, ge=60)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            try:
                return frozenset(int(p) for p in parts)
            except ValueError as exc:
                raise ValueError("must be comma-separated Telegram user ids, e.g. 123,456") from exc
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("model_input_size", mode="before")
    @classmethod
    def _parse_input_size(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip().lower()
        if not text:
            return None
        match = re.fullmatch(r"(\d+)(?:\s*[x×]\s*(\d+))?", text)
        if match is None or int(match.group(1)) == 0 or int(match.group(2) or 1) == 0:
            raise ValueError("must be WIDTHxHEIGHT or one side, e.g. 320x320 or 320")
        width = int(match.group(1))
        return (width, int(match.group(2) or width))

    @field_validator(
        "tfserving_address", "webhook_url", "label_map", "model_download_url", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("model_name")
    @classmethod
    def _check_model_names(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",")]
        if not all(names):
            raise ValueError("must be model names separated by commas, e.g. detector,accurate")
        if len(set(names)) != len(names):
            raise ValueError("lists a model twice")
        return ",".join(names)

    @field_validator("tfserving_address")
    @classmethod
    def _check_address(cls, value: str | None) -> str | None:
        """Any gRPC target: `host:port`, `dns:///name:port`, `ipv4:h1:p1,h2:p2`, `unix:path`."""
        if value is None:
            return None
        value = value.strip()
        scheme, colon, rest = value.partition(":")
        if colon and scheme in _GRPC_SCHEMES:
            if not rest.strip("/"):
                raise ValueError(f"{scheme}: target names no address")
            return value
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or any(c.isspace() for c in value):
            raise ValueError(
                "must be a gRPC target: host:port, dns:///name:port or ipv4:h1:p1,h2:p2"
            )
        return value

    @field_validator("telegram_api_url", "webhook_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value is not None else None

    @field_validator("webhook_path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _secret_or_random(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value):
            return secrets.token_urlsafe(32)
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr) -> SecretStr:
        if not _SECRET_TOKEN.match(value.get_secret_value()):
            raise ValueError("1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_log_format(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @property
    def bot_token(self) -> str:
        """The token, or ConfigError when it is missing (only `run` needs it)."""
        if self.telegram_bot_token is None or not self.telegram_bot_token.get_secret_value():
            raise ConfigError("TELEGRAM_BOT_TOKEN: required; get one from @BotFather")
        return self.telegram_bot_token.get_secret_value()

    @property
    def cleartext_api_warning(self) -> str | None:
        """A warning when TELEGRAM_API_URL sends the token unencrypted off this machine."""
        url = urlsplit(self.telegram_api_url)
        if url.scheme != "http" or _is_loopback(url.hostname or ""):
            return None
        return (
            f"TELEGRAM_API_URL is plain http:// to {url.hostname}: the bot token travels "
            "unencrypted; use https:// unless that host is on a network only you can read"
        )

    @property
    def model_names(self) -> tuple[str, ...]:
        """MODEL_NAME's models, the default first."""
        return tuple(self.model_name.split(","))

    @property
    def default_model(self) -> str:
        return self.model_names[0]

    @property
    def webhook_mode(self) -> bool:
        return self.webhook_url is not None


def load_settings(**overrides: Any) -> Settings:
    """Read the environment and `.env` once; raise ConfigError naming each bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = "_".join(str(p) for p in err["loc"]).upper() or "settings"
            lines.append(f"{name}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None
