"""Settings: the contract's variables and defaults, and one clear line per bad value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings

PROJECT = Path(__file__).resolve().parents[1]
CONTRACT_VARIABLES = (
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_API_URL",
    "DATABASE_URL",
    "TFSERVING_ADDRESS",
    "MODEL_NAME",
    "MODEL_SIGNATURE",
    "MODEL_PATH",
    "LABEL_MAP",
    "MIN_SCORE",
    "ADMIN_IDS",
    "WEBHOOK_URL",
    "WEBHOOK_SECRET",
    "LISTEN_HOST",
    "LISTEN_PORT",
    "WEBHOOK_PATH",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in CONTRACT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_the_contracts() -> None:
    settings = load_settings()
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.database_url == "sqlite+aiosqlite:///data/detectbot.db"
    assert settings.tfserving_address is None
    assert settings.model_name == "detector"
    assert settings.model_signature == "serving_default"
    assert settings.model_path == Path("saved_model")
    assert settings.label_map is None
    assert settings.min_score == 0.5
    assert settings.admin_ids == frozenset()
    assert settings.webhook_url is None
    assert not settings.webhook_mode
    assert (settings.listen_host, settings.listen_port) == ("0.0.0.0", 8080)
    assert settings.webhook_path == "/telegram"


def test_webhook_secret_is_random_per_start_when_unset() -> None:
    first = load_settings().webhook_secret.get_secret_value()
    second = load_settings().webhook_secret.get_secret_value()
    assert first != second
    assert len(first) >= 32


def test_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "TELEGRAM_BOT_TOKEN=123:abc\nADMIN_IDS=11, 5000000000\nWEBHOOK_URL=https://bot.example.org/telegram/\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("MIN_SCORE", "0.3")
    monkeypatch.setenv("TFSERVING_ADDRESS", "tfserving:8500")
    settings = load_settings()
    assert settings.bot_token == "123:abc"
    assert settings.admin_ids == frozenset({11, 5_000_000_000})
    assert settings.webhook_url == "https://bot.example.org/telegram"
    assert settings.webhook_mode
    assert settings.min_score == 0.3
    assert settings.tfserving_address == "tfserving:8500"


def test_empty_optional_variables_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFSERVING_ADDRESS", "")
    monkeypatch.setenv("WEBHOOK_URL", "")
    monkeypatch.setenv("ADMIN_IDS", "")
    monkeypatch.setenv("WEBHOOK_SECRET", "")
    settings = load_settings()
    assert settings.tfserving_address is None
    assert settings.webhook_url is None
    assert settings.admin_ids == frozenset()
    assert settings.webhook_secret.get_secret_value()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MIN_SCORE", "1.5"),
        ("MIN_SCORE", "high"),
        ("ADMIN_IDS", "12,bob"),
        ("TFSERVING_ADDRESS", "tfserving"),
        ("TELEGRAM_API_URL", "api.telegram.org"),
        ("WEBHOOK_URL", "ftp://example.org/hook"),
        ("WEBHOOK_SECRET", "has spaces!"),
        ("WEBHOOK_PATH", "telegram"),
        ("LISTEN_PORT", "70000"),
    ],
)
def test_each_bad_value_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    lines = str(caught.value).splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{variable}: ")


def test_several_bad_values_give_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIN_SCORE", "-1")
    monkeypatch.setenv("LISTEN_PORT", "http")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert sorted(line.split(":")[0] for line in str(caught.value).splitlines()) == [
        "LISTEN_PORT",
        "MIN_SCORE",
    ]


def test_missing_token_is_refused_only_when_needed() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        _ = settings.bot_token


def test_cli_reports_bad_configuration_and_exits_2(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(PROJECT),
        "MIN_SCORE": "2",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "detect", "missing.jpg"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "MIN_SCORE: " in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("https://api.telegram.org", False),
        ("http://127.0.0.1:8081", False),
        ("http://127.8.9.10:8081", False),
        ("http://localhost:8081", False),
        ("http://[::1]:8081", False),
        ("http://telegram-bot-api:8081", True),
        ("http://10.0.0.5:8081", True),
    ],
)
def test_plain_http_bot_api_off_this_machine_gets_a_warning(url: str, warned: bool) -> None:
    warning = load_settings(telegram_api_url=url).cleartext_api_warning
    assert (warning is not None) is warned
    if warning is not None:
        assert "unencrypted" in warning
