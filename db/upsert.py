"""Insert-or-update as one statement, in each dialect's own syntax.

An UPDATE-then-INSERT pair is two round trips, and on InnoDB under REPEATABLE READ the
UPDATE of a missing row takes a gap lock, so two transactions registering new rows side
by side deadlock on their INSERTs. One `INSERT ... ON DUPLICATE KEY UPDATE` (MySQL) or
`INSERT ... ON CONFLICT DO UPDATE` (SQLite) takes only the row's own lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Executable, Table
from sqlalchemy.dialects import mysql, sqlite


def upsert(
    dialect: str,
    table: Table,
    key: Mapping[str, Any],
    values: Mapping[str, Any],
    *,
    insert_only: Mapping[str, Any] | None = None,
) -> Executable:
    """INSERT key + values + insert_only, or, when a row with this key exists, set `values`.

    `key` names the columns of the primary key or of one unique constraint."""
    row = {**key, **values, **(insert_only or {})}
    if dialect in ("mysql", "mariadb"):
        return mysql.insert(table).values(row).on_duplicate_key_update(dict(values))
    if dialect == "sqlite":
        return (
            sqlite.insert(table)
            .values(row)
            .on_conflict_do_update(index_elements=list(key), set_=dict(values))
        )
    raise NotImplementedError(f"no upsert for the {dialect} dialect")


def insert_if_missing(dialect: str, table: Table, row: Mapping[str, Any]) -> Executable:
    """INSERT the row unless one with the same primary key exists (then change nothing)."""
    if dialect in ("mysql", "mariadb"):
        first = table.primary_key.columns[0]
        return mysql.insert(table).values(dict(row)).on_duplicate_key_update({first.name: first})
    if dialect == "sqlite":
        return sqlite.insert(table).values(dict(row)).on_conflict_do_nothing()
    raise NotImplementedError(f"no upsert for the {dialect} dialect")
