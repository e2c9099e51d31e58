"""Engine settings that keep connections healthy, and URL masking."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from db.session import create_engine, mask_url
from tests.support.db_fixtures import mysql_base_url


async def test_sqlite_engine_creates_the_directory_and_turns_on_wal(tmp_path: Path) -> None:
    database = tmp_path / "a" / "b" / "bot.db"
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        async with engine.connect() as conn:
            journal = await conn.scalar(text("PRAGMA journal_mode"))
            foreign_keys = await conn.scalar(text("PRAGMA foreign_keys"))
    finally:
        await engine.dispose()
    assert database.parent.is_dir()
    assert (journal, foreign_keys) == ("wal", 1)


async def test_mysql_engine_speaks_utf8mb4_in_utc_even_without_charset_in_the_url() -> None:
    base = mysql_base_url()
    if base is None:
        pytest.skip("MariaDB not reachable")
    url = base.split("?")[0]
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            charset = await conn.scalar(text("SELECT @@character_set_connection"))
            zone = await conn.scalar(text("SELECT @@session.time_zone"))
            emoji = await conn.scalar(text("SELECT :s"), {"s": "😀𝒳"})
    finally:
        await engine.dispose()
    assert (charset, zone, emoji) == ("utf8mb4", "+00:00", "😀𝒳")


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "mysql+aiomysql://bot:s3cr%40t@db:3306/detectx",
            "mysql+aiomysql://bot:***@db:3306/detectx",
        ),
        ("mysql+aiomysql://root@127.0.0.1/x", "mysql+aiomysql://root@127.0.0.1/x"),
        ("sqlite+aiosqlite:///data/detectbot.db", "sqlite+aiosqlite:///data/detectbot.db"),
        ("not a url://u:pw@host", "not a url://u:***@host"),
    ],
)
def test_mask_url_hides_only_the_password(url: str, masked: str) -> None:
    assert mask_url(url) == masked
