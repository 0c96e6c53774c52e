"""Statements on the hot paths: a response's intake and its receipt (built once per
process), and bulk writes — the import, delivery's marks — straight to the driver.

SQLAlchemy's dialect-specific `on_conflict_do_nothing()` constructs carry no cache key, so
they are compiled again on every execution: ~0.25 ms, a quarter of a submission's own
work (bench/http_submissions.py, measured). The same statement written as `text()` is
compiled once. `INSERT … ON CONFLICT (…) DO NOTHING RETURNING …` is the same SQL on SQLite
(3.35+) and PostgreSQL; parameters keep the columns' types, so UTC instants and JSON are
converted exactly as the ORM would.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Connection,
    Dialect,
    Integer,
    Table,
    TextClause,
    any_,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError


@cache
def insert_new(table: Table, *, columns: tuple[str, ...], conflict: tuple[str, ...], returning: str) -> TextClause:
    """One row, skipped when it would repeat the unique key `conflict`; returns `returning`
    of the new row, or no row at all."""
    sql = _insert_new_sql(table, columns=columns, conflict=conflict, returning=returning)
    return text(sql).bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))


def _insert_new_sql(table: Table, *, columns: tuple[str, ...], conflict: tuple[str, ...], returning: str) -> str:
    names, values = ", ".join(columns), ", ".join(f":{c}" for c in columns)
    return (
        f"INSERT INTO {table.name} ({names}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING RETURNING {returning}"
    )


@cache
def insert_new_with(
    table: Table, *, columns: tuple[str, ...], conflict: tuple[str, ...], child: Table, child_key: str,
    child_columns: tuple[str, ...],
) -> TextClause:  # fmt: skip
    """PostgreSQL: `insert_new`, and a row of `child` pointing at the new row (`child_key`)
    with `child_columns`, in one statement (a data-modifying WITH); returns the new id, or
    no row. A web submission's receipt is a message and its body: one round trip fewer."""
    extra = [c for c in child_columns if c != child_key]
    sql = (
        f"WITH new AS ({_insert_new_sql(table, columns=columns, conflict=conflict, returning='id')}) "
        f"INSERT INTO {child.name} ({child_key}, {', '.join(extra)}) "
        f"SELECT id, {', '.join(f':{c}' for c in extra)} FROM new RETURNING {child_key}"
    )
    binds = [bindparam(c, type_=table.c[c].type) for c in columns]
    return text(sql).bindparams(*binds, *(bindparam(c, type_=child.c[c].type) for c in extra))


def first_row(*, connection: Connection, statement: TextClause, values: dict[str, Any]) -> tuple | None:
    """`statement` (a cached `text()` with typed binds, as `insert_new` builds) run straight
    on the driver's cursor with `values` converted as SQLAlchemy would; its first row.

    For the statements a submission runs each time: SQLAlchemy's execution around the
    driver's call (context, events, result) took longer than the call itself — profiled on
    bench/http_postgres.py, 12 % against 8 % of the web's time per submission."""
    sql, names, convert, positional = _compiled(statement, connection.dialect)
    params: Any = [f(values[n]) if f else values[n] for n, f in zip(names, convert, strict=True)]
    if not positional:
        params = dict(zip(names, params, strict=True))
    with driver_cursor(connection, sql, params) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() if cursor.description else None


# By dialect (an engine's: its JSON serializer is its own), then by statement; an entry
# keeps its statement alive, so an identity is never reused while its entry is here.
_compiled_cache: WeakKeyDictionary[Dialect, dict[int, tuple[TextClause, str, list[str], list[Any], bool]]] = (
    WeakKeyDictionary()
)


def _compiled(statement: TextClause, dialect: Dialect) -> tuple[str, list[str], list[Any], bool]:
    """(SQL in the driver's parameter style, parameter names in order, their converters,
    positional or not), once per statement and engine."""
    kept = _compiled_cache.setdefault(dialect, {})
    found = kept.get(id(statement))
    if found is None:
        compiled = statement.compile(dialect=dialect)
        positional = compiled.positiontup is not None
        names = list(compiled.positiontup) if positional else list(compiled.binds)  # type: ignore[arg-type]
        processors = compiled._bind_processors
        converters = [processors.get(n) for n in names]
        found = kept[id(statement)] = (statement, compiled.string, names, converters, positional)
    return found[1:]


def insert_rows(*, connection: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Many rows of ready values through the driver's own executemany.

    SQLAlchemy converts each row's parameters in Python (~20 µs a row for a response,
    measured): more than the insert itself. Values must already be in the driver's terms:
    instants as `bound_value` gives them, JSON as text.
    """
    if not rows:
        return
    dialect = connection.dialect
    mark = placeholder(dialect)
    marks = [f"{mark}::json" if dialect.name == "postgresql" and isinstance(table.c[c].type, JSON) else mark
             for c in columns]  # fmt: skip
    if dialect.name == "postgresql":  # COPY: the bulk path of PostgreSQL, several times an INSERT's rate
        _copy(connection=connection, sql=f"COPY {table.name} ({', '.join(columns)}) FROM STDIN", rows=rows)
        return
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(marks)})"
    driver_executemany(connection=connection, sql=sql, rows=rows)


def insert_new_rows(
    *, connection: Connection, table: Table, columns: tuple[str, ...], conflict: tuple[str, ...], returning: str,
    rows: list[tuple],
) -> list[tuple]:  # fmt: skip
    """`insert_new` for many rows of ready values (as `insert_rows` takes them), as one
    multi-row statement through the driver; returns `returning` of the rows that were new.

    A fan-out's 100,000 outbox rows went through SQLAlchemy's executemany, which converted
    each row's parameters in Python: a third of queueing them (bench/mail_delivery.py)."""
    if not rows:
        return []
    mark = placeholder(connection.dialect)
    one = f"({', '.join([mark] * len(columns))})"
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES {', '.join([one] * len(rows))} "
        f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING RETURNING {returning}"
    )
    with driver_cursor(connection, sql) as cursor:
        cursor.execute(sql, [value for row in rows for value in row])
        return list(cursor.fetchall())


def _copy(*, connection: Connection, sql: str, rows: list[tuple]) -> None:
    with driver_cursor(connection, sql) as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


@contextmanager
def driver_cursor(connection: Connection, sql: str, params: Any = None) -> Iterator[Any]:
    """A cursor of the driver on the connection's current transaction, closed after; the
    driver's errors come out as SQLAlchemy's (IntegrityError and so on), as elsewhere."""
    dbapi = connection.dialect.loaded_dbapi
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, params, exc, dbapi.Error, dialect=connection.dialect) from exc
    finally:
        cursor.close()


def placeholder(dialect: Dialect) -> str:
    """A positional parameter in the driver's own style (sqlite3: ?, psycopg: %s)."""
    return "?" if dialect.paramstyle == "qmark" else "%s"


def driver_executemany(*, connection: Connection, sql: str, rows: list[tuple]) -> int:
    """`sql` for each row, on the connection's current transaction; returns rows changed."""
    with driver_cursor(connection, sql) as cursor:
        cursor.executemany(sql, rows)
        return cursor.rowcount


def bound_value(column: Column, value: Any, dialect: Dialect) -> Any:
    """`value` as SQLAlchemy would hand it to the driver for `column` (its type's conversion)."""
    return to_driver(column, dialect)(value)


def to_driver(column: Column, dialect: Dialect) -> Callable[[Any], Any]:
    """`bound_value` for many values of one column: its type's conversion, found once."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process or _as_is


def _as_is(value: Any) -> Any:
    return value


def among(column: ColumnElement[int], values: list[int], dialect: Dialect) -> ColumnElement[bool]:
    """`column IN values` with the values as one parameter (a JSON array read by SQLite's
    `json_each`, an array on PostgreSQL): `in_()` binds each value apart, which for a
    delivery's windows of 1,000 ids cost more than the statements themselves."""
    if dialect.name == "postgresql":
        return column == any_(literal(values, ARRAY(Integer)))
    each: Any = select(literal_column("value")).select_from(func.json_each(literal(json.dumps(values))))
    return column.in_(each.scalar_subquery())


def contains(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its own `%`, `_` and `\\` taken literally
    (use with `escape="\\"`): a search for "100%" is not a search for "100"."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
