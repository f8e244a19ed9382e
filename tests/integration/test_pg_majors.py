"""The version suite on PostgreSQL 15 (the default major, the session's own server), 17 and 18 at once, one inventory
host each: migrate, rerun, heal, probes, rollback (indexes, restore_backup) end to end (tests/integration/pg_majors.py)."""

import contextlib

import pytest

from tests.integration.conftest import _database_copy
from tests.integration.pg_majors import the_users_commands_end_to_end

pytestmark = pytest.mark.slow


@pytest.fixture
def pg_majors_dbs(pg_db, pg_sandboxes):
    """A database on a server of each major: {15: pg_db, 17: ..., 18: ...}."""
    with contextlib.ExitStack() as stack:
        dbs = {15: pg_db}
        for major in (17, 18):
            dbs[major] = stack.enter_context(contextlib.contextmanager(_database_copy)(pg_sandboxes(major)))
        yield dbs


def test_the_users_commands_end_to_end_on_postgresql_15_17_and_18(pg_majors_dbs, tmp_path):
    the_users_commands_end_to_end(pg_majors_dbs, tmp_path)
