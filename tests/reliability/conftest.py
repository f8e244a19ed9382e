"""The reliability suite: what goes wrong in real operations, tried on the real sandboxes.

Every case asserts three things (tests/reliability/README.md): a clear error naming the cause; the database
left consistent (no INVALID index, no half-built state, no lost row); no secret in any output or file.
The servers and fixtures are the integration suite's (one sandbox per engine per worker, a fresh database per test).
"""

import os
import stat
from pathlib import Path

from sandbox.sample_app import TABLES
from tests.integration.conftest import (  # noqa: F401 (fixtures, re-used as they are)
    aws_credentials,
    db,
    dbs,
    moto_server,
    moto_server_process,
    my_db,
    my_sandbox,
    pg_db,
    pg_sandbox,
    query,
)


def table_counts(database):
    """Rows of every table of the sample app: what a consistent database still holds after a fault."""
    quote = '"%s"' if database.engine == "postgresql" else "`%s`"
    return {table: query(database, "SELECT count(*) FROM " + quote % table)[0][0] for table in TABLES}


def invalid_indexes(database):
    """Indexes a failed build left behind: PostgreSQL's INVALID ones (InnoDB never shows a half-built index)."""
    if database.engine != "postgresql":
        return []
    rows = query(database, "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisvalid")
    return [row[0] for row in rows]


def assert_consistent(database, counts_before):
    """No INVALID index, no lost row, no scratch database a backup check left."""
    assert invalid_indexes(database) == []
    assert table_counts(database) == counts_before
    if database.engine == "postgresql":
        leftovers = query(database, "SELECT datname FROM pg_database WHERE datname LIKE 'safeindex\\_verify\\_%%'")
    else:
        leftovers = query(database, "SHOW DATABASES LIKE 'safeindex\\_verify\\_%%'")
    assert list(leftovers) == []  # PyMySQL returns a tuple


def files_under(*folders):
    for folder in folders:
        for path in Path(folder).rglob("*"):
            if path.is_file():
                yield path


def assert_no_secret(secret, *outputs, folders=()):
    """The secret is in no output given and in no file under the folders (artifacts, backups, records)."""
    assert secret and len(secret) >= 8, "a test secret must be long enough not to match by chance"
    for number, output in enumerate(outputs):
        assert secret not in (output or ""), "the password appears in output #%d" % number
    for path in files_under(*folders):
        assert secret.encode() not in path.read_bytes(), "the password appears in %s" % path


def assert_private(*folders):
    """Every file the run wrote under the folders is readable by its owner only (0600)."""
    loose = [str(path) for path in files_under(*folders) if stat.S_IMODE(os.stat(path).st_mode) & 0o077]
    assert loose == []
