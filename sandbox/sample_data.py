"""Fill the sample app's tables in bulk: COPY on PostgreSQL, multi-row INSERTs on MariaDB.

The whole load is one transaction, so a load that fails or is interrupted leaves the tables empty
and the next call starts again.
"""

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from psycopg2 import sql

from sandbox.errors import SandboxError
from sandbox.sample_app import TABLES, check_engine, column_names, create_schema, quoted, row_counts
from sandbox.sample_rows import SampleData

__all__ = ["TABLES", "create_schema", "load_sample_data", "row_counts"]

INSERT_BATCH_ROWS = 5_000
COPY_CHUNK_CHARS = 1 << 16
# Special characters of COPY's text format.
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def print_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def load_sample_data(
    conn,
    engine: str,
    messages: int = 200_000,
    seed: int = 42,
    progress: Callable[[str], None] = print_progress,
) -> dict[str, int]:
    """Load the sample data set into the (empty) sample tables; returns the row count of each table.

    Idempotent: when `message` already has rows, returns the existing counts and loads nothing.
    """
    check_engine(engine)
    existing = row_counts(conn, engine)
    if existing["message"]:
        return existing
    if any(existing.values()):
        filled = ", ".join(f"{table}={count}" for table, count in existing.items() if count)
        raise SandboxError(f"sample tables already hold rows but `message` is empty ({filled}); recreate the database")

    started = time.monotonic()
    data = SampleData(messages, seed)
    progress(f"planned {messages} messages (seed {seed}) in {time.monotonic() - started:.1f}s")
    load_table = _copy_table if engine == "postgresql" else _insert_table
    # One transaction for the whole load; a connection already outside autocommit is used as it is.
    was_autocommit = _autocommit(conn, engine)
    if was_autocommit:
        _set_autocommit(conn, engine, False)
    try:
        for table in TABLES:
            table_started = time.monotonic()
            loaded = load_table(conn, table, data.rows(table))
            progress(f"loaded {table}: {loaded} rows in {time.monotonic() - table_started:.1f}s")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        if was_autocommit:
            _set_autocommit(conn, engine, True)

    analyze_started = time.monotonic()
    if engine == "postgresql":
        _restart_identities(conn)
    _analyze(conn, engine)
    progress(f"analyzed {len(TABLES)} tables in {time.monotonic() - analyze_started:.1f}s")
    return row_counts(conn, engine)


def _autocommit(conn, engine: str) -> bool:
    return conn.autocommit if engine == "postgresql" else conn.get_autocommit()


def _set_autocommit(conn, engine: str, value: bool) -> None:
    if engine == "postgresql":
        conn.autocommit = value
    else:
        conn.autocommit(value)


def _copy_field(value) -> str:
    if value is None:
        return "\\N"
    if type(value) is str:
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.translate(COPY_ESCAPES)
        return value
    return str(value)  # ints; True/False, which boolean input accepts


class _CopyStream:
    """A read-only file over rows in COPY text format, so COPY streams without building one big string."""

    def __init__(self, rows: Iterable[tuple]):
        self._rows = iter(rows)
        self.rows_read = 0

    def read(self, size: int = -1) -> str:
        lines = []
        length = 0
        for row in self._rows:
            line = "\t".join([_copy_field(value) for value in row]) + "\n"
            lines.append(line)
            length += len(line)
            self.rows_read += 1
            if 0 < size <= length:
                break
        return "".join(lines)


def _copy_table(conn, table: str, rows: Iterator[tuple]) -> int:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(name) for name in column_names(table))
    )
    stream = _CopyStream(rows)
    with conn.cursor() as cur:
        cur.copy_expert(statement, stream, size=COPY_CHUNK_CHARS)
    return stream.rows_read


def _insert_table(conn, table: str, rows: Iterator[tuple]) -> int:
    columns = column_names(table)
    statement = (
        f"INSERT INTO {quoted(conn, 'mysql', table)} "
        f"({', '.join(quoted(conn, 'mysql', name) for name in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    inserted = 0
    with conn.cursor() as cur:
        # PyMySQL's executemany turns an INSERT ... VALUES into multi-row statements of up to ~1 MB.
        while batch := list(islice(rows, INSERT_BATCH_ROWS)):
            cur.executemany(statement, batch)
            inserted += len(batch)
    return inserted


def _restart_identities(conn) -> None:
    """Rows came with explicit ids: move each identity past the highest, so the app can insert again."""
    with conn.cursor() as cur:
        for table in TABLES:
            cur.execute(
                sql.SQL("SELECT setval(pg_get_serial_sequence(%s, 'id'), max({id})) FROM {table}").format(
                    id=sql.Identifier("id"), table=sql.Identifier(table)
                ),
                (quoted(conn, "postgresql", table),),
            )
    conn.commit()


def _analyze(conn, engine: str) -> None:
    with conn.cursor() as cur:
        for table in TABLES:
            if engine == "postgresql":
                cur.execute(f"ANALYZE {quoted(conn, engine, table)}")
            else:
                cur.execute(f"ANALYZE TABLE {quoted(conn, engine, table)}")
                cur.fetchall()
    conn.commit()
