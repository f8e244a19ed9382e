"""What a restore is called and what it tells the operator: the new database's name, its URL, the rows to be lost."""

import pytest
from ansible.module_utils.safeindex.backup.restore import RestoreRefused, check_target, database_url, default_target, delta_lines
from ansible.module_utils.safeindex.core.connection import ConnectionParams


def test_the_default_name_is_the_database_and_the_run_id_made_an_identifier():
    assert default_target("chatbot", "20261124T220000Z-5e7a") == "chatbot_restored_20261124t220000z_5e7a"
    assert default_target("app", "rehearsal.2") == "app_restored_rehearsal_2"


@pytest.mark.parametrize("name", ["1app", "app-restored", "app restored", "a`b", "x" * 64, ""])
def test_a_name_that_is_not_a_plain_identifier_is_refused(name):
    with pytest.raises(RestoreRefused, match="cannot name the restored database"):
        check_target(name, "postgresql", "app")


def test_the_live_database_is_never_a_restore_target():
    with pytest.raises(RestoreRefused, match="is the live database itself"):
        check_target("app", "mysql", "app")


def test_the_url_to_switch_to_has_no_password_and_keeps_the_options():
    params = ConnectionParams("postgresql", "db.internal", 5432, "app", "app owner", password="s3cret",
                              options=(("sslmode", "require"),))
    url = database_url(params, "app_restored_r1")
    assert url == "postgresql://app%20owner@db.internal:5432/app_restored_r1?sslmode=require"
    assert "s3cret" not in url


def test_only_tables_whose_rows_changed_are_listed_as_lost():
    deltas = [{"table": "public.message", "backup_rows": 10, "rows": 12, "delta": 2},
              {"table": "public.user", "backup_rows": 5, "rows": 5, "delta": 0},
              {"table": "public.plot", "backup_rows": 3, "rows": None, "delta": None}]
    assert delta_lines(deltas) == ["public.message: 10 rows at the backup, 12 now (+2)",
                                   "public.plot: 3 rows at the backup, the table is gone now"]
