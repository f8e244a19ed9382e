"""The version suite on PostgreSQL 15, the default major (the session's own server, pg_db): migrate, rerun, heal, probes,
rollback (indexes, restore_backup) end to end (tests/integration/pg_majors.py)."""

import pytest

from tests.integration.pg_majors import the_users_commands_end_to_end

pytestmark = pytest.mark.slow


def test_the_users_commands_end_to_end_on_postgresql_15(pg_db, tmp_path):
    the_users_commands_end_to_end(pg_db, tmp_path, 15)
