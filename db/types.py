"""Column types and defaults shared by the models and the migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.types import TypeDecorator, TypeEngine

AutoId = BigInteger().with_variant(Integer(), "sqlite")
"""BIGINT surrogate keys; SQLite only autoincrements an INTEGER PRIMARY KEY."""

LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
"""Raw Telegram updates: up to the webhook's 1 MiB, past MySQL TEXT's 64 KiB."""

MYSQL_TABLE_OPTIONS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mariadb_engine": "InnoDB",
    "mariadb_charset": "utf8mb4",
    "mariadb_collate": "utf8mb4_unicode_ci",
}


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A UTC instant: stored naive in UTC (microseconds), always returned timezone-aware.

    Neither SQLite nor MySQL DATETIME keeps a zone, so the zone is fixed by convention
    instead: aware values are converted to UTC on the way in, naive ones are taken as UTC.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None:
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value


class CurrentTimestamp(ColumnElement[datetime]):
    """Server default "now": CURRENT_TIMESTAMP(6) on MySQL (DATETIME(6) needs the same
    precision), CURRENT_TIMESTAMP (already UTC) on SQLite. MySQL sessions run in UTC."""

    inherit_cache = True
    type = UTCDateTime()


@compiles(CurrentTimestamp)
def _current_timestamp(element: CurrentTimestamp, compiler: SQLCompiler, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP"


@compiles(CurrentTimestamp, "mysql")
@compiles(CurrentTimestamp, "mariadb")
def _current_timestamp_mysql(element: CurrentTimestamp, compiler: SQLCompiler, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP(6)"
