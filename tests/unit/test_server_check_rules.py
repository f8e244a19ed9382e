"""Known server bugs and traps (run/server_checks.py): the version rule, the rows' wording and the online log's arithmetic,
with the engine's answers given (the integration test test_server_checks.py reads them from real servers)."""

from types import SimpleNamespace

import pytest
from ansible.module_utils.safeindex.engines import features_for
from ansible.module_utils.safeindex.report.html import render_html
from ansible.module_utils.safeindex.report.markdown import render_markdown
from ansible.module_utils.safeindex.run import server_checks
from ansible.module_utils.safeindex.spec.definition import IndexColumn, IndexDefinition

from tests.unit.report_samples import VERIFY

DEFINITION = IndexDefinition(table="message", schema="app", columns=(IndexColumn(name="conversation_id"),), unique=False,
                             method="btree")


class FakeEngine:
    """The engine's answers as given: what run/server_checks.py asks of a real one."""

    def __init__(self, engine="postgresql", version="15.18", host="127.0.0.1", **answers):
        self.features = features_for(engine).for_server(version)
        self.version = version
        self.params = SimpleNamespace(host=host, user="app", database="app")
        self.answers = answers

    def server_version(self):
        return self.version

    def __getattr__(self, name):
        answer = self.answers[name]
        return answer if callable(answer) else (lambda *args: answer)


@pytest.mark.parametrize("version", ["14.0", "14.3 (Debian 14.3-1.pgdg110+1)", "14.2", "14beta1"])
def test_postgresql_14_0_to_14_3_have_the_concurrent_build_bug(version):
    bug = features_for("postgresql").for_server(version).concurrent_build_bug
    assert bug and "14.4" in bug and "REINDEX" in bug and "upgrade" in bug


@pytest.mark.parametrize("version", ["14.4", "14.11", "13.15", "12.20", "15.18 (Debian 15.18-0+deb12u1)", "17.10", "18.6"])
def test_other_postgresql_versions_build_concurrently(version):
    assert features_for("postgresql").for_server(version).concurrent_build_bug is None


def test_mysql_has_no_concurrent_build_bug_and_no_index_check():
    features = features_for("mysql").for_server("10.11.6-MariaDB-0+deb12u1")
    assert features.concurrent_build_bug is None and features.index_check_function is None
    assert features.online_alter_log_setting == "innodb_online_alter_log_max_size"


def test_a_buggy_server_refuses_concurrent_builds_and_names_the_fix():
    engine = FakeEngine(version="14.2")
    refused = server_checks.known_bugs(engine, [("public", DEFINITION)])
    assert refused["result"] == "fail"
    assert "CREATE INDEX CONCURRENTLY builds refused" in refused["detail"] and "14.2" in refused["detail"]
    assert "upgrade to 14.4 or later" in refused["detail"]
    # Nothing to build: no refusal, but the indexes built there may be corrupt.
    assert server_checks.known_bugs(engine, [])["result"] == "warn"
    # A blocking build (indexes_allow_blocking) is not touched by the bug: a warning, for the indexes built before.
    blocking = server_checks.known_bugs(engine, [("public", DEFINITION)], blocking_builds=True)
    assert blocking["result"] == "warn" and "REINDEX" in blocking["detail"]
    assert server_checks.known_bugs(FakeEngine(version="14.4"), [("public", DEFINITION)])["result"] == "ok"


PREPARED = {"gid": "payment-42", "owner": "app", "database": "app", "age_seconds": 912.4, "this_database": True}


@pytest.mark.parametrize("action,result", [("fail", "fail"), ("warn", "warn")])
def test_prepared_transactions_are_listed_with_gid_age_owner_and_database(action, result):
    engine = FakeEngine(prepared_transactions=[PREPARED])
    found = server_checks.prepared_transactions(engine, 300, action)
    assert found["result"] == result
    assert "gid 'payment-42' (owner app, database app, prepared 912s ago)" in found["detail"]
    assert "waits for them forever" in found["detail"] and "ROLLBACK PREPARED" in found["detail"]


def test_prepared_transactions_of_other_databases_only_warn():
    engine = FakeEngine(prepared_transactions=[dict(PREPARED, database="billing", this_database=False)])
    found = server_checks.prepared_transactions(engine, 300, "fail")
    assert found["result"] == "warn" and "do not stop this build" in found["detail"] and "billing" in found["detail"]
    assert server_checks.prepared_transactions(FakeEngine(prepared_transactions=[]), 300, "fail")["result"] == "ok"


def mariadb(**answers):
    return FakeEngine("mysql", "10.11.6-MariaDB-0+deb12u1", **answers)


def test_the_sort_directory_needs_room_for_the_biggest_index():
    engine = mariadb(sort_directory="/srv/mysql-tmp", estimated_index_bytes=lambda schema, d: 100 * 1024 * 1024, host="db.internal")
    engine.params.host = "db.internal"
    to_build = [("app", DEFINITION), ("app", DEFINITION)]
    # The builds run one at a time: the biggest one's sort files, not the sum, times the headroom.
    assert server_checks.sort_space(engine, to_build, 2.0, free_bytes=250 * 1024 * 1024)["result"] == "ok"
    short = server_checks.sort_space(engine, to_build, 2.0, free_bytes=150 * 1024 * 1024)
    assert short["result"] == "fail" and "tmpdir /srv/mysql-tmp" in short["detail"] and "150.0 MB free" in short["detail"]
    unknown = server_checks.sort_space(engine, to_build, 2.0)
    assert unknown["result"] == "warn" and "tmpdir_free_bytes" in unknown["detail"]


def test_the_online_log_estimate_is_writes_times_build_time_times_entry_size():
    # 40 MB of table at 20 MB/s: 2 s; 500 changes/s of 50-byte entries, each logged twice: 100 kB.
    estimate = server_checks.online_log_estimate(500, 40 * 1024 * 1024, 50, 20 * 1024 * 1024)
    assert estimate == {"build_seconds": 2.0, "log_bytes": 100000}
    assert server_checks.online_log_estimate(0, 40 * 1024 * 1024, 50, 20 * 1024 * 1024)["log_bytes"] == 0
    # "May overflow": the estimate must stay under half the limit.
    assert server_checks.online_log_verdict(100000, 200001) == "ok"
    assert server_checks.online_log_verdict(100000, 199999) == "warn"


def counter(values):
    """write_counter's answers, one per call."""
    remaining = list(values)
    return lambda schema, table: (remaining.pop(0), "row changes counted")


def test_the_online_log_row_warns_when_the_writes_may_overflow_it():
    engine = mariadb(online_alter_log_limit=65536, table_row_estimate=1000, estimated_index_bytes=lambda s, d: 50000,
                     table_bytes=10 * 1024 * 1024, write_counter=counter([0, 100000]))
    found = server_checks.online_log(engine, [("app", DEFINITION)], 0, 1024 * 1024)
    assert found["result"] == "warn", found
    assert "innodb_online_alter_log_max_size = 64.0 KB" in found["detail"] and "may overflow" in found["detail"]
    assert "about 10s to build (assumed 1.0 MB/s of table data)" in found["detail"]
    quiet = mariadb(online_alter_log_limit=134217728, table_row_estimate=1000, estimated_index_bytes=lambda s, d: 50000,
                    table_bytes=10 * 1024 * 1024, write_counter=counter([0, 0]))
    assert server_checks.online_log(quiet, [("app", DEFINITION)], 0, 1024 * 1024)["result"] == "ok"


def test_a_log_no_server_could_fill_during_the_build_is_not_sampled():
    # 1 MB at 20 MB/s (0.05 s), 50-byte entries: 128 MB would take about 13M changes/s to half fill.
    assert server_checks.filling_rate(128 * 1024 * 1024, 1024 * 1024, 50, 20 * 1024 * 1024) > 10000000
    assert server_checks.filling_rate(65536, 0, 50, 20 * 1024 * 1024) == float("inf")

    def never(schema, table):
        raise AssertionError("sampled")

    engine = mariadb(online_alter_log_limit=134217728, table_row_estimate=1000, estimated_index_bytes=lambda s, d: 50000,
                     table_bytes=1024 * 1024, write_counter=never)
    found = server_checks.online_log(engine, [("app", DEFINITION)], 5, 20 * 1024 * 1024)
    assert found["result"] == "ok" and "not sampled" in found["detail"]


def test_an_unmeasurable_write_rate_is_a_warning_not_a_pass():
    engine = mariadb(online_alter_log_limit=65536, table_row_estimate=1000, estimated_index_bytes=lambda s, d: 50000,
                     table_bytes=1024 * 1024, write_counter=lambda s, t: (None, "no counter readable"))
    found = server_checks.online_log(engine, [("app", DEFINITION)], 0, 1024 * 1024)
    assert found["result"] == "warn" and "no counter readable" in found["detail"]


def test_only_the_traps_of_the_server_get_a_row():
    pg = FakeEngine(prepared_transactions=[])
    assert [r["check"] for r in server_checks.server_checks(pg, [], server_checks.TrapOptions())] == [
        "known server bugs", "prepared transactions"]
    my = mariadb(sort_directory="/tmp", online_alter_log_limit=65536)
    assert [r["check"] for r in server_checks.server_checks(my, [], server_checks.TrapOptions())] == [
        "known server bugs", "sort directory space", "online log size"]


def test_the_indexes_a_run_built_come_from_its_index_results():
    results = [{"name": "a", "action": "created"}, {"name": "b", "action": "exists"}, {"name": "c", "action": "rebuilt_invalid"},
               {"name": "d", "action": "created", "failed": True}, {"item": {"name": "e"}, "action": "created"}]
    assert server_checks.built_index_names(results) == ["a", "c", "e"]


def test_a_corrupt_index_is_a_problem_that_names_it():
    leaves = {"idx_a": [{"name": "public.idx_a", "oid": 1, "method": "btree"}],
              "idx_gin": [{"name": "public.idx_gin", "oid": 2, "method": "gin"}]}
    error = 'heap tuple (0,3) from table "message" lacks matching index tuple within index "idx_a"'
    engine = FakeEngine(index_check_ready=(True, None), checkable_indexes=lambda schema, name: leaves[name],
                        check_index=lambda oid: error)
    outcome = server_checks.index_checks(engine, [("public", "idx_a"), ("public", "idx_gin")])
    assert outcome["ran"] and [i["result"] for i in outcome["indexes"]] == ["corrupt", "skipped"]
    assert outcome["problems"] == ["public.idx_a failed bt_index_check: %s (the index does not match its table: REINDEX INDEX"
                                   " CONCURRENTLY it)" % error]
    assert "1 B-tree indexes the run built: 0 sound, 1 corrupt" in outcome["note"]


def test_without_amcheck_the_note_says_how_to_install_it_and_nothing_fails():
    why = "the amcheck extension is not installed in database app: " + features_for("postgresql").index_check_install
    outcome = server_checks.index_checks(FakeEngine(index_check_ready=(False, why)), [("public", "idx_a")])
    assert not outcome["ran"] and outcome["problems"] == []
    assert "CREATE EXTENSION amcheck;" in outcome["note"] and "contrib" in outcome["note"]


def test_amcheck_on_mysql_is_a_note_not_a_failure():
    outcome = server_checks.index_checks(mariadb(), [("app", "idx_a")])
    assert outcome["function"] is None and outcome["problems"] == [] and "PostgreSQL-only" in outcome["note"]


def test_the_report_shows_each_index_checked_and_its_result():
    amcheck = {"function": "bt_index_check", "ran": True, "problems": ["public.idx_a failed bt_index_check: corrupt"],
               "note": "bt_index_check(heapallindexed => true) on 2 B-tree indexes the run built: 1 sound, 1 corrupt",
               "indexes": [{"name": "public.idx_b", "spec_index": "idx_b", "function": "bt_index_check", "result": "ok",
                            "error": None, "duration_seconds": 0.01},
                           {"name": "public.idx_a", "spec_index": "idx_a", "function": "bt_index_check", "result": "corrupt",
                            "error": "lacks matching index tuple", "duration_seconds": 0.02}]}
    report = {"run_id": "r1", "host": "h", "status": "failed", "phases": [], "indexes": [], "backup": None, "snapshot": None,
              "verify": dict(VERIFY, amcheck=amcheck)}
    markdown = render_markdown(report)
    assert "## Index check (amcheck)" in markdown and "1 sound, 1 corrupt" in markdown
    assert "| public.idx_a | idx_a | bt_index_check | corrupt | 0.02 | lacks matching index tuple |" in markdown
    assert "| public.idx_b | idx_b | bt_index_check | ok | 0.01 | - |" in markdown
    html = render_html(report)
    assert '<section id="index-check">' in html and '<td class="fail">corrupt</td>' in html
