"""The network between the controller and the database cut (silence, no reset) while an online index build runs.

migrate.yml runs as a user runs it against a sandbox server behind a network the test made (netns.py); the build waits
on the app's own uncommitted write (over the unix socket), so the cut always hits a running build; then the firewall
drops every packet. Short keepalives through the settings (idle 2 s, interval 1 s, 3 probes: dead after 5 s) keep
each case to seconds. Asserted: the run ends (no hang) and names the lost connection and the index; what the server
does with the orphaned build while the network is still cut; after the network is back a rerun heals.
"""

import json
import subprocess
import threading
import time

import pytest
import yaml

from tests.integration.conftest import HOST, connection_args, index_in_catalog, run_playbook, write_inventory
from tests.reliability.conftest import (
    assert_consistent,
    assert_no_secret,
    assert_private,
    invalid_indexes,
    query,
    table_counts,
)
from tests.reliability.netns import behind_network, over_socket, wait_for
from tests.reliability.test_server_faults import BackgroundRun

pytestmark = pytest.mark.slow

INDEX = "idx_message_conversation_timestamp"
SPEC = {"indexes": [{"name": INDEX, "table": "message", "columns": ["conversation_id", "timestamp"]}]}
KEEPALIVES = dict(db_keepalive_idle=2, db_keepalive_interval=1, db_keepalive_count=3)
DEAD_AFTER = 2 + 1 * 3
# The run after the cut: the build's session sees the dead peer after DEAD_AFTER, then every later step's connect
# waits db_connect_timeout (3 s) for a server that cannot answer, and the run lock's holder tries to take the lock
# again for up to a minute (run/lock.py RETAKE_SECONDS) before the playbook's end lets it go.
RUN_ENDS_WITHIN = 120
SERVER_ENDS_ORPHAN_WITHIN = DEAD_AFTER + 10


def builds_of_run(view, run_id):
    """The run's build of INDEX on the server: PostgreSQL names the run's sessions after it, MariaDB's ALTER carries the
    run's marker in its index comment."""
    if view.engine == "postgresql":
        return query(view, "SELECT pid, state, wait_event_type FROM pg_stat_activity WHERE datname = current_database()"
                           " AND application_name LIKE %s AND query LIKE %s AND state <> 'idle'",
                     ("%% run_id=%s" % run_id, "CREATE INDEX CONCURRENTLY%%%s%%" % INDEX))
    return query(view, "SELECT ID, STATE, TIME FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()"
                       " AND COMMAND = 'Query' AND INFO LIKE %s AND INFO LIKE %s",
                 ("ALTER TABLE%%%s%%" % INDEX, "%%run_id=%s%%" % run_id))


def report_of(inventory, run_id):
    return json.loads((inventory / "artifacts" / HOST / run_id / "report.json").read_text())


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_a_network_cut_during_a_build_ends_the_run_naming_it_the_orphan_is_not_left_unseen_and_a_rerun_heals(engine, tmp_path):
    with behind_network(engine) as (db, network):
        view = over_socket(db)
        counts = table_counts(view)
        spec = tmp_path / "indexes.yml"
        spec.write_text(yaml.safe_dump(SPEC))
        # A lock timeout longer than the test: the build waits on the app's write until the cut, not until a retry.
        inventory = write_inventory(tmp_path / "inventory", db, backup_verify="checksum", indexes_lock_timeout=120,
                                    db_connect_timeout=3, **KEEPALIVES)
        app_write = view.connect(autocommit=False)
        run = None
        try:
            with app_write.cursor() as cur:
                cur.execute("UPDATE message SET content = content WHERE id = (SELECT min(id) FROM message)"
                            if engine == "postgresql" else "UPDATE message SET content = content ORDER BY id LIMIT 1")
            run = BackgroundRun(tmp_path, inventory, "-e", "index_spec_file=%s" % spec, "-e", "run_id=cut-run")
            wait_for(lambda: builds_of_run(view, "cut-run") or not run.running(), "the build never started", 240)
            assert run.running() and builds_of_run(view, "cut-run"), run.out_path.read_text()[-3000:]

            network.cut()
            cut_at = time.monotonic()
            # On the server, while the network is STILL cut: PostgreSQL's session sees its client gone (the server's
            # keepalives) and client_connection_check_interval cancels the build; MariaDB's ALTER runs on.
            if engine == "postgresql":
                wait_for(lambda: not builds_of_run(view, "cut-run"), "the orphaned CREATE INDEX ran on on the server",
                         SERVER_ENDS_ORPHAN_WITHIN)
                orphan_ended_after = time.monotonic() - cut_at
            code, out, err = run.finish(timeout=RUN_ENDS_WITHIN + 60)
            run_took = time.monotonic() - cut_at
            orphans = builds_of_run(view, "cut-run")
        finally:
            if run is not None and run.running():
                run.finish(timeout=1)
        print("%s: the run ended %.1f s after the cut" % (engine, run_took))
        assert run_took < RUN_ENDS_WITHIN, "the run hung %.0f s after the cut" % run_took
        assert code != 0, out[-3000:]
        report = report_of(inventory, "cut-run")
        failed = [row for row in report["indexes"] if row["action"] == "failed"]
        assert report["status"] == "failed" and [row["name"] for row in failed] == [INDEX], report["indexes"]
        # The index, the lost connection, the kernel's words for the keepalives' verdict, and what heals a leftover.
        for words in (INDEX + ": lost the connection to %s://%s@%s:%s/%s" % (engine, db.user, db.host, db.port, db.name),
                      "Connection timed out", "the next run drops and rebuilds it"):
            assert words in failed[0]["error"] and words in out and words in report["error"], (words, failed, out[-3000:])
        if engine == "postgresql":
            print("postgresql: the orphaned build ended on the server %.1f s after the cut" % orphan_ended_after)
            assert list(orphans) == []
        else:
            # MariaDB has no check of a running statement's client: the orphaned ALTER still waits for the app's
            # write, unseen by anyone, long after the client gave up on it.
            assert orphans and "metadata lock" in orphans[0][1], orphans

        network.restore()
        if engine == "postgresql":
            app_write.rollback()
            app_write.close()
            rerun = run_playbook("migrate.yml", inventory, "-e", "index_spec_file=%s" % spec, "-e", "run_id=after-cut")
        else:
            # The app's write still open, so the orphan still waits: the rerun's preflight must find it, name it and
            # stop it (left alone, it would build and commit behind everyone's back once the app's transaction ends).
            (tmp_path / "rerun").mkdir()
            rerun_run = BackgroundRun(tmp_path / "rerun", inventory, "-e", "index_spec_file=%s" % spec, "-e",
                                      "run_id=after-cut")
            try:
                wait_for(lambda: not builds_of_run(view, "cut-run") or not rerun_run.running(),
                         "the rerun left the orphaned ALTER running", 120)
                orphan_gone = not builds_of_run(view, "cut-run")
            finally:
                app_write.rollback()
                app_write.close()
                code2, out2, err2 = rerun_run.finish(timeout=300)
            rerun = subprocess.CompletedProcess([], code2, out2, err2)
            assert orphan_gone, out2[-3000:]
            assert "orphaned builds" in out2 and "stopped 1 build(s) of an earlier run" in out2, out2[-3000:]
            assert "session %s of run cut-run" % orphans[0][0] in out2 and INDEX in out2
        assert rerun.returncode == 0, rerun.stdout[-3000:]
        healed = report_of(inventory, "after-cut")
        assert healed["total_in_place"] == healed["total_expected"] == 1
        assert index_in_catalog(view, "message", INDEX)["usable"]
        actions = {row["name"]: row["action"] for row in healed["indexes"]}
        if engine == "postgresql":
            assert actions == {INDEX: "rebuilt_invalid"}, healed["indexes"]  # the cancelled build's INVALID index
        else:
            assert actions == {INDEX: "created"}, healed["indexes"]  # KILL QUERY rolled the orphan back: built anew
        assert list(builds_of_run(view, "cut-run")) == []
        assert_consistent(view, counts)
        folders = (inventory / "artifacts", inventory / "backups")
        assert_no_secret(db.password, out, err, rerun.stdout, rerun.stderr, folders=folders)
        assert_private(*folders)


def test_preflight_names_and_stops_a_build_an_earlier_run_left_running_and_check_mode_only_names_it(db, run_module, tmp_path):
    """The orphan as a server that does not cancel it leaves it (MariaDB; PostgreSQL 12 and 13, or 14+ before its
    keepalives declared the client dead): a build carrying an earlier run's marker, waiting on the app's write. The
    module is called directly: the playbook's path is the MariaDB case above."""
    spec = tmp_path / "indexes.yml"
    spec.write_text(yaml.safe_dump(SPEC))
    app_write = db.connect(autocommit=False)
    orphan = db.connect()
    outcome = []
    try:
        with app_write.cursor() as cur:
            cur.execute("UPDATE message SET content = content WHERE id = (SELECT min(id) FROM message)"
                        if db.engine == "postgresql" else "UPDATE message SET content = content ORDER BY id LIMIT 1")
        with orphan.cursor() as cur:
            if db.engine == "postgresql":
                cur.execute("SET application_name = 'safeindex db_index run_id=old-run'")
                build = 'CREATE INDEX CONCURRENTLY "%s" ON message (conversation_id, "timestamp")' % INDEX
            else:
                cur.execute("SET SESSION lock_wait_timeout = 120")
                build = ("ALTER TABLE message ADD INDEX `%s` (conversation_id, `timestamp`) COMMENT 'safeindex run_id=old-run',"
                         " ALGORITHM=INPLACE, LOCK=NONE" % INDEX)

        def run_the_orphan():
            try:
                with orphan.cursor() as cur:
                    cur.execute(build)
                outcome.append("finished")
            except Exception as exc:  # what the stop looks like from the orphan's side
                outcome.append(str(exc))

        thread = threading.Thread(target=run_the_orphan, daemon=True)
        thread.start()
        wait_for(lambda: builds_of_run(db, "old-run"), "the orphan's build did not start")
        (pid,) = builds_of_run(db, "old-run")[0][:1]
        args = dict(connection_args(db), spec_path=str(spec), run_id="new-run", holder_file=str(tmp_path / "lock.json"),
                    run_dir=str(tmp_path / "run"), probe_baseline=False)

        planned = run_module("db_preflight", args, check_mode=True)
        row = next(c for c in planned["checks"] if c["check"] == "orphaned builds")
        assert row["result"] == "warn" and "would stop (check mode) 1 build(s) of an earlier run" in row["detail"], row
        assert "session %s of run old-run" % pid in row["detail"] and INDEX in row["detail"]
        assert builds_of_run(db, "old-run"), "check mode stopped the orphan"

        try:
            result = run_module("db_preflight", args)
            row = next(c for c in result["checks"] if c["check"] == "orphaned builds")
            failed = [c for c in result["checks"] if c["result"] == "fail"]
            assert result["_rc"] == 0 and not failed, (result.get("msg"), failed)
            assert row["result"] == "warn" and "stopped 1 build(s)" in row["detail"], row
            assert "session %s of run old-run" % pid in row["detail"] and "%s of run old-run" % pid in " ".join(result["table"])
            thread.join(10)
            assert outcome and outcome[0] != "finished", outcome
            assert list(builds_of_run(db, "old-run")) == []
            # What the stopped orphan leaves: PostgreSQL's INVALID index, which db_index rebuilds (rebuilt_invalid, the
            # playbook case above); MariaDB rolled its ALTER back. No password in what the module returned.
            assert invalid_indexes(db) == ([INDEX] if db.engine == "postgresql" else [])
            assert db.password not in json.dumps([planned, result])
        finally:
            run_module("db_lock", dict(connection_args(db), state="released", run_id="new-run",
                                       holder_file=str(tmp_path / "lock.json")))
    finally:
        app_write.rollback()
        app_write.close()
        orphan.close()
