"""Many rows written at once: on PostgreSQL one statement, one array a column.

``executemany`` on PostgreSQL sends one INSERT or UPDATE a row: pipelined, but
the server parses and plans each (Echo prepares no statements), and that, not
the writing, is most of a batch's time there. Here a batch is one statement:
each column's values travel as one array, ``unnest`` turns them back into rows,
and the server plans the statement once. On SQLite, whose library reuses one
compiled statement for many rows, the rows go to ``executemany`` as plain
tuples, past SQLAlchemy's per-row parameter handling.

The rows are the same dictionaries the Core ``insert()`` / ``update()`` take:
column defaults computed in Python (``default=``) are filled in here as
SQLAlchemy would fill them, and every value goes through its column type's bind
processing (times to UTC, JSON), so both paths store the same values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Column, Table, insert
from sqlalchemy.engine import Connection

Row = dict[str, Any]
_MISSING = object()
#: Rows one PostgreSQL statement carries at most: a batch's text travels whole in
#: each statement (and is copied on its way), so a large batch is sent in parts.
ROWS_A_STATEMENT = 100


def insert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[Row],
    *,
    conflict: Sequence[str] | None = None,
    inputs: Mapping[str, str] = {},
    computed: Mapping[str, str] = {},
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Insert every row: on PostgreSQL ``INSERT ... SELECT FROM unnest(...)``, one
    statement a ``ROWS_A_STATEMENT`` rows; on SQLite one compiled statement run for
    each row.

    ``conflict``: the unique columns whose clash skips a row (ON CONFLICT DO
    NOTHING; not with ``returning``); empty: a clash on any unique column skips
    it. ``returning``: the columns returned, one tuple per inserted row, in no
    promised order. PostgreSQL only: ``inputs``, keys of the rows that are not
    columns, with their SQL type, for ``computed``, columns whose value is an SQL
    expression over ``v.<key>`` (a search vector made from the row's text).
    """
    if not rows:
        return []
    if conn.dialect.name != "postgresql":
        if inputs or computed:
            raise ValueError("inputs and computed columns are PostgreSQL's")
        if returning:  # SQLAlchemy sends these as multi-row INSERT ... RETURNING
            stmt = insert(table).returning(*(table.c[c] for c in returning))
            return [tuple(r) for r in conn.execute(stmt, list(rows))]
        _insert_sqlite(conn, table, rows, conflict)
        return []
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), ROWS_A_STATEMENT):
        part = rows[start : start + ROWS_A_STATEMENT]
        found += _insert_pg(conn, table, part, conflict, inputs, computed, returning)
    return found


def _insert_sqlite(
    conn: Connection, table: Table, rows: Sequence[Row], conflict: Sequence[str] | None
) -> None:
    """``INSERT ... VALUES (?, ...)`` run for each row, by the library."""
    q = conn.dialect.identifier_preparer.quote
    columns = _insert_columns(table, rows, exclude=set())
    values = _values(conn, rows, [(c.name, c) for c in columns], fill=True)
    marks = ", ".join("?" for _ in columns)
    targets = ", ".join(q(c.name) for c in columns)
    sql = f"INSERT INTO {q(table.name)} ({targets}) VALUES ({marks}){_clash(conn, conflict)}"
    conn.exec_driver_sql(sql, list(zip(*values, strict=True)))


def _insert_pg(
    conn: Connection,
    table: Table,
    rows: Sequence[Row],
    conflict: Sequence[str] | None,
    inputs: Mapping[str, str],
    computed: Mapping[str, str],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    """One ``INSERT ... SELECT FROM unnest(...)`` of these rows: the server plans it once."""
    q = conn.dialect.identifier_preparer.quote
    columns = _insert_columns(table, rows, exclude=set(inputs) | set(computed))
    values = _values(conn, rows, [(c.name, c) for c in columns], fill=True)
    types = [_sql_type(conn, c) for c in columns]
    for name, sql_type in inputs.items():
        values.append([row.get(name) for row in rows])
        types.append(sql_type)
    names = [c.name for c in columns] + list(inputs)
    targets = ", ".join(q(name) for name in [c.name for c in columns] + list(computed))
    chosen = ", ".join([f"v.{q(c.name)}" for c in columns] + list(computed.values()))
    sql = f"INSERT INTO {q(table.name)} ({targets}) SELECT {chosen} FROM "
    sql += _unnest(conn, types, names) + _clash(conn, conflict)
    if returning:
        sql += f" RETURNING {', '.join(q(c) for c in returning)}"
    result = conn.exec_driver_sql(sql, tuple(values))
    return [tuple(r) for r in result] if returning else []


def _clash(conn: Connection, conflict: Sequence[str] | None) -> str:
    """The ON CONFLICT clause that skips a clashing row ('' when a clash is an error)."""
    if conflict is None:
        return ""
    q = conn.dialect.identifier_preparer.quote
    target = f"({', '.join(q(c) for c in conflict)}) " if conflict else ""
    return f" ON CONFLICT {target}DO NOTHING"


def update_rows(
    conn: Connection, table: Table, rows: Sequence[Row], *, also: Mapping[str, str] = {}
) -> None:
    """Update rows by id: each row names its row by ``b_id`` and sets its other keys
    (the same keys in every row); on PostgreSQL ``UPDATE ... FROM unnest(...)``,
    one statement. ``also``: more assignments, as SQL over the row's old values
    (``attempts + 1``).

    A row named twice gets the last values given, as one UPDATE a row would leave it.
    """
    if not rows:
        return
    last: dict[Any, Row] = {}
    for row in rows:
        last.pop(row["b_id"], None)
        last[row["b_id"]] = row
    chosen = list(last.values())
    setting = [k for k in chosen[0] if k != "b_id"]
    keyed = [(k, table.c[k]) for k in setting] + [("b_id", table.c.id)]
    values = _values(conn, chosen, keyed, fill=False)
    q = conn.dialect.identifier_preparer.quote
    where = f"{q(table.name)}.id"
    if conn.dialect.name != "postgresql":
        assignments = [f"{q(k)} = ?" for k in setting] + [f"{q(k)} = {e}" for k, e in also.items()]
        sql = f"UPDATE {q(table.name)} SET {', '.join(assignments)} WHERE {where} = ?"
        conn.exec_driver_sql(sql, list(zip(*values, strict=True)))
        return
    assignments = [f"{q(k)} = v.{q(k)}" for k in setting] + [
        f"{q(k)} = {e}" for k, e in also.items()
    ]
    types = [_sql_type(conn, column) for _, column in keyed]
    names = [k for k, _ in keyed]
    sql = f"UPDATE {q(table.name)} SET {', '.join(assignments)} "
    sql += f"FROM {_unnest(conn, types, names)} WHERE {where} = v.b_id"
    conn.exec_driver_sql(sql, tuple(values))


def _insert_columns(table: Table, rows: Sequence[Row], exclude: set[str]) -> list[Column[Any]]:
    """The columns an insert of these rows writes: those any row names, and those
    with a default computed in Python (the server fills in its own defaults)."""
    named = {key for row in rows for key in row}
    return [
        c
        for c in table.columns
        if c.name not in exclude and (c.name in named or _python_default(c) is not None)
    ]


def _python_default(column: Column[Any]) -> Callable[[], Any] | None:
    """How SQLAlchemy would fill this column in a row that leaves it out, if in Python."""
    default: Any = column.default
    if default is None:
        return None
    arg = getattr(default, "arg", None)
    if default.is_scalar:
        return lambda: arg
    if default.is_callable and arg is not None:
        return lambda: arg(None)
    return None


def _values(
    conn: Connection, rows: Sequence[Row], keyed: Sequence[tuple[str, Column[Any]]], *, fill: bool
) -> list[list[Any]]:
    """One list of bound values per column (``fill``: a column's default where a row
    leaves it out), each value as the column's type binds it."""
    pg = conn.dialect.name == "postgresql"
    out: list[list[Any]] = []
    for key, column in keyed:
        default = _python_default(column) if fill else None
        values = [row.get(key, _MISSING) for row in rows]
        if default is not None:
            values = [default() if v is _MISSING else v for v in values]
        else:
            values = [None if v is _MISSING else v for v in values]
        if pg and isinstance(column.type, JSON):
            # psycopg adapts a list as an array: a JSON value travels as its text.
            keep_null = column.type.none_as_null  # else None is stored as JSON null
            values = [None if v is None and keep_null else json.dumps(v) for v in values]
        elif (process := column.type.bind_processor(conn.dialect)) is not None:
            values = [process(v) for v in values]
        out.append(values)
    return out


def _sql_type(conn: Connection, column: Column[Any]) -> str:
    return str(column.type.compile(dialect=conn.dialect))


def _unnest(conn: Connection, types: Sequence[str], names: Sequence[str]) -> str:
    """``unnest(array, ...) AS v(name, ...)``: the arrays, as rows named ``v``."""
    q = conn.dialect.identifier_preparer.quote
    casts = ", ".join(f"CAST(%b AS {t}[])" for t in types)
    return f"unnest({casts}) AS v({', '.join(q(n) for n in names)})"
