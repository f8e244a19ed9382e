"""The version suite's one chain, on a server of each major at once (test_pg_majors.py): the user's commands end to end
through ansible-playbook, one inventory host per major, each step checked in that server's catalog.

One chain, in as few playbook runs as is honest (each costs several seconds, whatever the number of hosts): an INVALID
leftover is there before the first migrate, so that run heals it while it builds the other 19; then the rerun; then
rollback.yml's two modes of the first run (indexes, restore_backup). What the play says is read per host.
"""

import dataclasses
import json

import ansible.module_utils.safeindex.engines.postgresql.builds as builds
import yaml
from ansible.module_utils.safeindex.backup.restore import default_target
from ansible.module_utils.safeindex.core.connection import ConnectionParams
from ansible.module_utils.safeindex.engines import open_engine
from ansible.module_utils.safeindex.engines.postgresql.features import FEATURES

from sandbox import inventory as sandbox_inventory
from sandbox.sample_app import TABLES
from tests.conftest import REPO
from tests.integration.conftest import pg_index, pg_invalid_indexes, play_recap, query, run_playbook, said_of
from tests.integration.test_db_index_postgres import cancelled_concurrent_build
from tests.integration.test_migrate_playbook import probe_plan
from tests.integration.test_rollback_indexes import catalog

SPEC = yaml.safe_load((REPO / "migrations/indexes.yml").read_text())
RUN_ID = "20261201T220000Z-a17b"
LEFTOVER = "idx_message_conversation_timestamp"

# pg_get_indexdef of every spec index, as a user reads it in the catalog: the same text on 15, 17 and 18.
DEFINITIONS = {
    "idx_user_username": 'CREATE INDEX idx_user_username ON public."user" USING btree (username)',
    "idx_user_role": 'CREATE INDEX idx_user_role ON public."user" USING btree (role)',
    "idx_user_email": 'CREATE INDEX idx_user_email ON public."user" USING btree (email)',
    "idx_conversation_user_created": "CREATE INDEX idx_conversation_user_created ON public.conversation USING btree"
                                     " (user_id, created_at)",
    "idx_conversation_updated_at": "CREATE INDEX idx_conversation_updated_at ON public.conversation USING btree (updated_at)",
    "idx_message_conversation_timestamp": "CREATE INDEX idx_message_conversation_timestamp ON public.message USING btree"
                                          ' (conversation_id, "timestamp")',
    "idx_message_timestamp": 'CREATE INDEX idx_message_timestamp ON public.message USING btree ("timestamp")',
    "idx_message_conversation_role": "CREATE INDEX idx_message_conversation_role ON public.message USING btree"
                                     " (conversation_id, role)",
    "idx_plot_message": "CREATE INDEX idx_plot_message ON public.plot USING btree (message_id)",
    "idx_plot_conversation_created": "CREATE INDEX idx_plot_conversation_created ON public.plot USING btree"
                                     " (conversation_id, created_at)",
    "idx_plot_user_created": "CREATE INDEX idx_plot_user_created ON public.plot USING btree (user_id, created_at DESC)",
    "idx_feedback_message": "CREATE INDEX idx_feedback_message ON public.feedback USING btree (message_id)",
    "idx_feedback_user_created": "CREATE INDEX idx_feedback_user_created ON public.feedback USING btree (user_id, created_at)",
    "idx_feedback_rating_created": "CREATE INDEX idx_feedback_rating_created ON public.feedback USING btree (rating, created_at)",
    "idx_query_log_user_created": "CREATE INDEX idx_query_log_user_created ON public.query_log USING btree (user_id, created_at)",
    "idx_query_log_conversation": "CREATE INDEX idx_query_log_conversation ON public.query_log USING btree (conversation_id)",
    "idx_query_log_errors": "CREATE INDEX idx_query_log_errors ON public.query_log USING btree (created_at)"
                            " WHERE ((status)::text = 'error'::text)",
    "idx_session_token": "CREATE UNIQUE INDEX idx_session_token ON public.session USING btree (token)",
    "idx_session_user_expires": "CREATE INDEX idx_session_user_expires ON public.session USING btree (user_id, expires_at)",
    "idx_session_expires_at": "CREATE INDEX idx_session_expires_at ON public.session USING btree (expires_at)",
}


def output(completed):
    return completed.stdout[-4000:] + completed.stderr[-2000:]


def row_counts(db):
    return {table: query(db, 'SELECT count(*) FROM "%s"' % table)[0][0] for table in TABLES}


def setting(db, name):
    rows = query(db, "SELECT setting FROM pg_settings WHERE name = %s", (name,))
    return rows[0][0] if rows else None


def the_servers_own_facts(db, major):
    """The engine's facts of this major (engines/postgresql/features.py) are what the server itself says."""
    version = query(db, "SHOW server_version")[0][0]
    assert version.startswith("%d." % major), version
    features = FEATURES.for_server(version)
    assert setting(db, "data_checksums") == ("on" if features.data_checksums_by_default else "off")
    assert (setting(db, "transaction_timeout") is not None) == features.transaction_timeout
    assert bool(query(db, "SELECT 1 FROM pg_proc WHERE proname = %s", (features.stats_flush_function,)))
    return version


def what_the_engine_sees(db, builder, writer):
    """What the engine reads, from a session of its own, while a concurrent build waits for a writer: the build's
    progress (pg_stat_progress_create_index), the sessions in its way and the lock waits (pg_stat_activity, pg_locks)."""
    engine = open_engine(ConnectionParams(engine="postgresql", host=db.host, port=db.port, database=db.name, user=db.user,
                                          password=db.password))
    try:
        return {"writer": writer, "progress": engine.build_progress(builder),
                "in_the_way": engine.sessions_in_the_way("public", "message", 0),
                "lock_waits": {wait["pid"]: wait["blocked_by"] for wait in engine.lock_waits()}}
    finally:
        engine.close()


def host_of(major):
    return "pg%d" % major


def before_the_run(db, major):
    """The server's own facts, and the INVALID leftover the first migrate heals; (version, catalog before, client)."""
    version = the_servers_own_facts(db, major)
    before = catalog(db)
    assert not any(name in DEFINITIONS for _table, name in before)
    # The leftover: a concurrent build cancelled while it waits for a writer; meanwhile the engine reads its progress
    # and the sessions in its way as a run would.
    seen = {}
    cancelled_concurrent_build(db, 'CREATE INDEX CONCURRENTLY %s ON message (conversation_id, "timestamp")' % LEFTOVER,
                               while_waiting=lambda builder, writer: seen.update(what_the_engine_sees(db, builder, writer),
                                                                                 builder=builder))
    assert seen["progress"]["phase"] == "waiting for writers before build", seen
    assert seen["progress"]["waiting"] == "0 of 1 sessions done, now pid %d" % seen["writer"], seen
    # In the way of another build on the table: the writer, and the waiting build itself.
    assert {s["pid"]: s["locks"] for s in seen["in_the_way"]} == {
        seen["writer"]: "RowExclusiveLock", seen["builder"]: "ShareUpdateExclusiveLock"}, seen
    assert seen["lock_waits"] == {seen["builder"]: [seen["writer"]]}, seen
    assert pg_invalid_indexes(db) == [LEFTOVER]
    # The client a user gets: the server's own major first (pg_restore 17 and 18 cannot restore into 15:
    # features.transaction_timeout); the manifest must name it.
    client = builds.build_of_major(major, "pg_dump", "pg_restore") or builds.newest_at_least(major, "pg_dump", "pg_restore")
    return version, before, client


def the_first_run_built_and_healed(db, completed, host, inventory, version, client):
    """migrate.yml on this host: the 20 indexes, the leftover dropped and built again, the backup verified by a restore;
    the backup's manifest."""
    told = said_of(completed, host)
    assert "Indexes created: 20" in told and "Total indexes in place: 20/20" in told, output(completed)
    assert "of which rebuilt from an INVALID leftover: 1" in told
    assert play_recap(completed.stdout, host)["failed"] == "0"
    for name, definition in DEFINITIONS.items():
        found = pg_index(db, name)
        assert found and found["valid"] and found["ready"], name
        assert found["definition"] == definition
        assert found["comment"] == "safeindex run_id=" + RUN_ID, name
    assert pg_invalid_indexes(db) == []
    report = json.loads((inventory / "artifacts" / host / RUN_ID / "report.json").read_text())
    assert report["status"] == "success" and report["server_version"].startswith(version.split()[0])
    assert (report["indexes_created"], report["rebuilt_invalid"], report["errors"]) == (20, 1, 0)
    assert [i["action"] for i in report["indexes"] if i["name"] == LEFTOVER] == ["rebuilt_invalid"]
    verification = report["backup"]["verification"]
    assert report["backup"]["verified"] and (verification["level"], verification["result"]) == ("restore", "ok")
    assert verification["tables_checked"] == len(TABLES) and verification["mismatches"] == []
    manifest = json.loads(open(report["backup"]["manifest_path"]).read())
    assert manifest["server_version"].startswith(version.split()[0]) and client.version in manifest["client_version"]
    # The probes: verified by the run (each uses its index, or is proven able to), and in the server's own plans.
    assert report["verify"]["failed"] == [] and len(report["verify"]["probes"]) == len(SPEC["probes"])
    assert {p["verdict"] for p in report["verify"]["probes"]} <= {"ok", "small_table"}
    for probe in SPEC["probes"]:
        assert probe["expect_index"] in probe_plan(db, probe["sql"]), probe["name"]
    return manifest


def the_users_commands_end_to_end(dbs, tmp_path):
    """dbs: {major: SandboxDB}, a database on a server of each major."""
    hosts = {host_of(major): db for major, db in dbs.items()}
    facts = {host_of(major): before_the_run(db, major) for major, db in dbs.items()}
    # No client setting: the backup picks each host's.
    inventory = sandbox_inventory.write_inventory(tmp_path / "inventory", hosts, monitor_duration_seconds=0)

    first = run_playbook("migrate.yml", inventory, "-e", "run_id=" + RUN_ID, timeout=900)
    assert first.returncode == 0, output(first)
    manifests, built = {}, {}
    for host, db in hosts.items():
        version, _before, client = facts[host]
        manifests[host] = the_first_run_built_and_healed(db, first, host, inventory, version, client)
        built[host] = catalog(db)

    # The rerun changes nothing and takes no backup.
    second = run_playbook("migrate.yml", inventory, "-e", "run_id=%s-rerun" % RUN_ID)
    assert second.returncode == 0, output(second)
    for host, db in hosts.items():
        told = said_of(second, host)
        assert play_recap(second.stdout, host)["changed"] == "0"
        assert "Indexes created: 0" in told and "Already existed: 20" in told, told[-2000:]
        assert "no backup needed" in told  # nothing to build, nothing to back up
        assert catalog(db) == built[host]

    # rollback.yml, mode indexes: exactly the catalog from before the run (the healed leftover was the run's build).
    rolled_back = run_playbook("rollback.yml", inventory, "-e", "run_id=" + RUN_ID)
    assert rolled_back.returncode == 0, output(rolled_back)
    for host, db in hosts.items():
        assert "Rollback (indexes) of run %s on %s: dropped 20" % (RUN_ID, host) in said_of(rolled_back, host)
        assert catalog(db) == facts[host][1] and pg_invalid_indexes(db) == []

    # rollback.yml, mode restore_backup: a new database with the backup's rows; the live one left alone.
    live_rows = {host: row_counts(db) for host, db in hosts.items()}
    targets = {host: default_target(db.name, RUN_ID) for host, db in hosts.items()}
    try:
        restored = run_playbook("rollback.yml", inventory, "-e", "run_id=" + RUN_ID, "-e", "rollback_mode=restore_backup")
        assert restored.returncode == 0, output(restored)
        for host, db in hosts.items():
            before = facts[host][1]
            assert "into the new database %s" % targets[host] in said_of(restored, host)
            copy = dataclasses.replace(db, name=targets[host])
            expected = {t["name"]: t["rows"] for t in manifests[host]["tables"]}
            assert row_counts(copy) == expected == live_rows[host]
            # The backup was taken before the builds: none of the run's indexes, nor the INVALID leftover (pg_dump
            # leaves invalid indexes out), only what the tables had.
            assert {name for _table, name in catalog(copy)} == {name for _table, name in before}
            assert row_counts(db) == live_rows[host] and catalog(db) == before
    finally:
        for host, db in hosts.items():
            admin = db.server.admin_connect()
            try:
                with admin.cursor() as cur:
                    cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % targets[host])
            finally:
                admin.close()
