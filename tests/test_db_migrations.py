"""Alembic migrations on SQLite and MariaDB, and `detectbot db upgrade` from the shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from db.errors import DatabaseUnavailable
from db.migrate import downgrade, upgrade
from db.models import Base
from db.records import UserInfo
from db.repository import Repository
from db.session import create_engine, create_sessionmaker

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TABLES = {
    "users",
    "chats",
    "detections",
    "detected_objects",
    "feedback",
    "inbox",
    "albums",
    "album_items",
    "feedback_prompts",
    "photo_admissions",
    "forgotten_users",
}


async def table_names(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_migrations_go_down_to_empty_and_up_again(database_url: str) -> None:
    assert await table_names(database_url) >= TABLES
    await downgrade(database_url, "base")
    assert await table_names(database_url) - {"alembic_version"} == set()
    await upgrade(database_url)
    await upgrade(database_url)
    assert await table_names(database_url) >= TABLES
    engine = create_engine(database_url)
    try:
        repository = Repository(create_sessionmaker(engine))
        await repository.people.register(UserInfo(1, 1, "after_reupgrade"), None)
        assert (await repository.stats.overview()).users == 1
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    def differences(conn: Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(differences) == []
    finally:
        await engine.dispose()


async def test_mariadb_tables_are_utf8mb4(database_url: str) -> None:
    if not database_url.startswith("mysql"):
        pytest.skip("SQLite has no table collations; the check is for MariaDB")
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            collations = (
                await conn.execute(
                    text(
                        "SELECT TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES "
                        "WHERE TABLE_SCHEMA = DATABASE()"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert {name for name, _ in collations} >= TABLES
    assert {c for name, c in collations if name in TABLES} == {"utf8mb4_unicode_ci"}


def run_cli(database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(PROJECT_ROOT),
        "DATABASE_URL": database_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_db_upgrade_with_unreachable_database_fails_with_one_masked_line(tmp_path: Path) -> None:
    result = run_cli("mysql+aiomysql://u:secret@127.0.0.1:1/x", tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "mysql+aiomysql://u:***@127.0.0.1:1/x" in lines[0]
    assert "secret" not in result.stderr + result.stdout


def test_db_upgrade_creates_the_sqlite_schema(tmp_path: Path) -> None:
    database = tmp_path / "nested" / "dir" / "bot.db"
    result = run_cli(f"sqlite+aiosqlite:///{database}", tmp_path)
    assert result.returncode == 0, result.stderr
    assert database.exists()
    again = run_cli(f"sqlite+aiosqlite:///{database}", tmp_path)
    assert again.returncode == 0, again.stderr


async def test_upgrade_names_the_masked_url_when_mysql_is_unreachable() -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        await upgrade("mysql+aiomysql://bot:hunter2@127.0.0.1:1/detectx")
    message = str(caught.value)
    assert "mysql+aiomysql://bot:***@127.0.0.1:1/detectx" in message
    assert "hunter2" not in message
    assert "\n" not in message


async def test_upgrade_reports_an_sqlite_path_that_cannot_be_created() -> None:
    with pytest.raises(DatabaseUnavailable, match=r"/dev/null/sub/bot\.db"):
        await upgrade("sqlite+aiosqlite:////dev/null/sub/bot.db")
