"""The version suite on PostgreSQL 18: migrate, rerun, heal, probes, rollback (indexes, restore_backup) end to end
(tests/integration/pg_majors.py; a file per major, so the two run on two workers at once)."""

import pytest

from tests.integration.pg_majors import the_users_commands_end_to_end

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("pg_major_db", [18], indirect=True)
def test_the_users_commands_end_to_end_on_postgresql_18(pg_major_db, tmp_path):
    the_users_commands_end_to_end(pg_major_db, tmp_path, 18)
