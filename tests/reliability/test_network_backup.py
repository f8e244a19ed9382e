"""The network between the controller and the database during the backup: cut while the dump is written, cut while
the restore check restores, and slow and lossy for a whole migrate.yml.

The server runs behind a network the test makes (netns.py); the test's own checks go over the unix socket, which the
cut does not reach. A cut is silence (no RST): what ends the client's wait is the backup's stall_timeout (libpq
keepalives and tcp_user_timeout for pg_dump / pg_restore, a watchdog on the bytes for mariadb-dump / mariadb).
"""

import json
import os
import signal
import subprocess
import time

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.conftest import (
    HOST,
    ansible_command,
    database_names,
    index_in_catalog,
    query,
    run_playbook,
    write_inventory,
)
from tests.integration.test_migrate_playbook import probe_plan
from tests.reliability.conftest import assert_consistent, assert_no_secret, assert_private, table_counts
from tests.reliability.netns import behind_network, over_socket, wait_for

pytestmark = pytest.mark.slow

SPEC = yaml.safe_load((REPO / "migrations/indexes.yml").read_text())
STALL_SECONDS = 10  # backup_stall_timeout in these runs: a cut ends the dump within about this
CONNECT_SECONDS = 3  # db_connect_timeout: what the failed run still tries over the cut network gives up this soon
# Enough rows that the dump is still being written when the test sees it start.
MESSAGES = 20000
# From the cut to the failed run's end: the stall timeout, the guard's own connections timing out (connect_timeout),
# the report; a hang would be the kernel's quarter of an hour.
FAIL_WITHIN_SECONDS = 150
# One index per table of the app's probes, not the 20 of migrations/indexes.yml: over the slow network every round trip
# costs 200 ms and more, and the reruns need no more to show they heal.
SMALL_NAMES = ("idx_user_username", "idx_conversation_user_created", "idx_message_conversation_timestamp")
SMALL_SPEC = {"indexes": [entry for entry in SPEC["indexes"] if entry["name"] in SMALL_NAMES],
             "probes": [probe for probe in SPEC["probes"] if probe["expect_index"] in SMALL_NAMES]}


# pg_dump's session, and any of this tool's that holds a snapshot (the dump's exported one): what CREATE INDEX
# CONCURRENTLY would wait for.
DUMP_SESSIONS = ("SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND (application_name = 'safeindex backup'"
                 " OR backend_xmin IS NOT NULL AND application_name LIKE 'safeindex%%')")
DUMP_CLIENTS = ("pg_dump", "mariadb-dump", "mysqldump")
RESTORE_CLIENTS = ("pg_restore", "mariadb", "mysql")


def children_of(pid):
    """{pid: argv} of the processes below `pid` (Ansible's workers, the module, its clients)."""
    parents, argv = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                parents.setdefault(int(handle.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                argv[int(entry)] = [part.decode("utf-8", "replace") for part in handle.read().split(b"\0") if part]
        except (OSError, IndexError, ValueError):
            continue
    found, pending = {}, [pid]
    while pending:
        for child in parents.get(pending.pop(), []):
            found[child] = argv.get(child, [])
            pending.append(child)
    return found


def client_of(playbook, names, database_word):
    """The pid of the run's client among `names` whose argv names `database_word` (the restore check's scratch
    database, or the app database), or None."""
    for pid, argv in children_of(playbook.pid).items():
        if argv and os.path.basename(argv[0]) in names and any(database_word in part for part in argv):
            return pid
    return None


def small_spec_file(folder):
    spec = folder / "indexes.yml"
    spec.write_text(yaml.safe_dump(SMALL_SPEC))
    return spec


def start_migrate(folder, inventory, run_id):
    out = (folder / ("%s.out" % run_id)).open("w")
    process = subprocess.Popen([ansible_command("ansible-playbook"), "migrate.yml", "-i", str(inventory), "-e", "run_id=" + run_id,
                                "-e", "index_spec_file=%s" % small_spec_file(folder)],
                               cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    out.close()
    return process


def output_of(folder, run_id):
    return (folder / ("%s.out" % run_id)).read_text()


def cut_while(playbook, network, caught, what, seconds=240):
    """Wait until caught() gives the client's pid, hold that client (SIGSTOP) while the network is cut, let it go on:
    the cut falls in the middle of its work, however fast the machine."""
    deadline = time.monotonic() + seconds
    while True:
        pid = caught()
        if pid:
            break
        assert playbook.poll() is None and time.monotonic() < deadline, "the run ended before %s could be cut" % what
        time.sleep(0.01)
    os.kill(pid, signal.SIGSTOP)  # our own run's client, by its pid
    try:
        network.cut()
    finally:
        os.kill(pid, signal.SIGCONT)
    return time.monotonic()


def looks_like_a_backup(backup_dir):
    """Files in backup_dir a user could take for a backup: a dump, a .partial, a manifest."""
    return sorted(str(path) for path in backup_dir.rglob("*") if path.is_file())


def assert_failed_and_nothing_started(db, inventory, run_id, playbook, cut_at, folder, *words):
    """Bounded, named, nothing left that looks like a backup, no index work, no secret."""
    try:
        playbook.wait(FAIL_WITHIN_SECONDS)
    except subprocess.TimeoutExpired:
        playbook.kill()  # our own child
        playbook.wait()
        pytest.fail("the run hung after the cut:\n" + output_of(folder, run_id)[-3000:])
    failed_after = time.monotonic() - cut_at
    out = output_of(folder, run_id)
    assert playbook.returncode != 0, out[-3000:]
    report = json.loads((inventory / "artifacts" / HOST / run_id / "report.json").read_text())
    assert report["status"] == "failed" and report["backup"] is None and report["indexes"] == [], report
    assert "indexes" not in [phase["name"] for phase in report["phases"]]
    for word in words:
        assert word in report["error"] and word in out, (word, report["error"])
    assert looks_like_a_backup(inventory / "backups") == []
    socket_view = over_socket(db)
    assert not any(index_in_catalog(socket_view, entry["table"], entry["name"]) for entry in SMALL_SPEC["indexes"])
    assert_no_secret(db.password, out, folders=(inventory / "artifacts", inventory / "backups"))
    return failed_after, report


def run_lock_free_within(db, seconds=180):
    """Seconds until the failed run's lock is let go on the server, once the network is back. Its holder's session was
    cut off as well: the holder's own unlock (or close) reaches the server when TCP retransmits it (issue 21, helper
    A: keepalives on the modules' own connections bound this)."""
    started = time.monotonic()
    wait_for(lambda: not query(over_socket(db), "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")[0][0]
             if db.engine == "postgresql" else
             query(over_socket(db), "SELECT IS_USED_LOCK(%s)", ("safeindex:%s" % db.name,))[0][0] is None,
             "the failed run's lock was still held %d s after the network came back" % seconds, seconds)
    return time.monotonic() - started


def assert_rerun_heals(db, inventory, folder, run_id, counts):
    print("%s: the failed run's lock was let go %.1f s after the network came back" % (db.engine, run_lock_free_within(db)))
    started = time.monotonic()
    rerun = run_playbook("migrate.yml", inventory, "-e", "run_id=" + run_id, "-e", "index_spec_file=%s" % small_spec_file(folder))
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert "Total indexes in place: 3/3" in rerun.stdout
    manifest = json.loads(next((inventory / "backups").rglob("manifest.json")).read_text())
    assert manifest["run_id"] == run_id and manifest["verified"]["result"] == "ok"
    socket_view = over_socket(db)
    assert all(index_in_catalog(socket_view, entry["table"], entry["name"])["usable"] for entry in SMALL_SPEC["indexes"])
    assert_consistent(socket_view, counts)
    folders = (inventory / "artifacts", inventory / "backups")
    assert_no_secret(db.password, rerun.stdout, rerun.stderr, folders=folders)
    assert_private(*folders)
    return time.monotonic() - started


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_a_cut_during_the_dump_fails_naming_the_lost_connection_leaves_no_backup_and_a_rerun_heals(engine, tmp_path):
    with behind_network(engine, messages=MESSAGES) as (db, network):
        counts = table_counts(over_socket(db))
        inventory = write_inventory(tmp_path / "inventory", db, backup_stall_timeout=STALL_SECONDS, db_connect_timeout=CONNECT_SECONDS)
        backup_dir = inventory / "backups"
        playbook = start_migrate(tmp_path, inventory, "cut-dump")
        try:
            def dump_growing():
                pid = client_of(playbook, DUMP_CLIENTS, db.name)
                written = [path.stat().st_size for path in backup_dir.rglob("*.partial") if path.is_file()]
                return pid if pid and written and max(written) > 0 else None

            cut_at = cut_while(playbook, network, dump_growing, "the dump")
            lost = ("The connection to %s:%s was lost" % (db.host, db.port) if engine == "postgresql"
                    else "no byte of the dump moved for %d s" % STALL_SECONDS)
            failed_after, _report = assert_failed_and_nothing_started(db, inventory, "cut-dump", playbook, cut_at, tmp_path,
                                                                      lost)
            assert failed_after < FAIL_WITHIN_SECONDS
            if engine == "postgresql":
                # The server ends the dump's sessions on its own, the network still cut: their keepalives go unanswered.
                # Before, pg_dump's stayed idle in transaction with its snapshot, and the rerun's builds waited on it.
                wait_for(lambda: not query(over_socket(db), DUMP_SESSIONS), "the cut-off dump's sessions stayed on the server",
                         STALL_SECONDS * 3)
        finally:
            if playbook.poll() is None:
                playbook.kill()
                playbook.wait()
            network.restore()
        healed_in = assert_rerun_heals(db, inventory, tmp_path, "after-cut-dump", counts)
        print("%s: failed %.1f s after the cut; the rerun took %.1f s" % (engine, failed_after, healed_in))


def scratch_databases(db):
    """The restore check's scratch databases on the server, as its superuser sees them (over the unix socket)."""
    return sorted(name for name in database_names(db) if name.startswith("safeindex_verify_"))


def test_a_cut_during_the_restore_check_on_the_server_fails_naming_it_and_the_rerun_drops_its_scratch_database(tmp_path):
    """backup_verify_target: server restores into a scratch database on the production server, over the network: the
    cut reaches it (the default, `scratch`, restores on the controller, where no cut can). PostgreSQL: MySQL 8 has no
    comment to mark a scratch database with, so a rerun could not tell a leftover from another database's."""
    # Five times the data of the dump case: a restore of 20,000 messages could end between two looks for its session
    # on a quiet machine (seen in CI: "the run ended before the restore check could be cut").
    with behind_network("postgresql", messages=5 * MESSAGES) as (db, network):
        counts = table_counts(over_socket(db))
        inventory = write_inventory(tmp_path / "inventory", db, backup_stall_timeout=STALL_SECONDS, db_connect_timeout=CONNECT_SECONDS,
                                    backup_verify_target="server")
        playbook = start_migrate(tmp_path, inventory, "cut-check")
        try:
            def restoring():
                """pg_restore, once its session is in the scratch database (a cut before would be a connect timeout)."""
                pid = client_of(playbook, RESTORE_CLIENTS, "safeindex_verify_")
                return pid if pid and query(over_socket(db), "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE"
                                            " 'safeindex\\_verify\\_%%' AND application_name = 'safeindex backup'")[0][0] else None

            cut_at = cut_while(playbook, network, restoring, "the restore check")
            failed_after, report = assert_failed_and_nothing_started(
                db, inventory, "cut-check", playbook, cut_at, tmp_path,
                "restore check into safeindex_verify_", "lost its connection to the server",
                "The connection to %s:%s was lost" % (db.host, db.port))
            # The copy could not be dropped while the network was gone: the error says so, and who drops it.
            assert "could not be dropped now" in report["error"] and "the next restore check on this server drops it" in report["error"]
            assert not list((inventory / "backups").rglob("manifest.json"))
        finally:
            if playbook.poll() is None:
                playbook.kill()
                playbook.wait()
            network.restore()
        left = scratch_databases(db)
        assert len(left) == 1, left  # this run's, marked as the restore check's copy of chatbot
        healed_in = assert_rerun_heals(db, inventory, tmp_path, "after-cut-check", counts)
        assert scratch_databases(db) == []
        print("postgresql: failed %.1f s after the cut; the rerun took %.1f s" % (failed_after, healed_in))


@pytest.mark.timeout(600)
def test_a_whole_migration_over_a_slow_lossy_network_succeeds_with_no_false_failure(tmp_path):
    """100 ms each way (a relay in the namespace) and 5 % of the packets dropped, with the default timeouts (one timed
    run per probe instead of five: a count, not a timeout)."""
    spec = small_spec_file(tmp_path)
    with behind_network("postgresql") as (db, network):
        counts = table_counts(over_socket(db))
        relay = network.delayed(100, db.port)
        network.lossy(0.05)
        inventory = write_inventory(tmp_path / "inventory", db, db_host=relay.host, db_port=relay.port, verify_probe_runs=1)
        started = time.monotonic()
        completed = run_playbook("migrate.yml", inventory, "-e", "run_id=slow-lossy", "-e", "index_spec_file=%s" % spec,
                                 timeout=540)
        took = time.monotonic() - started
        assert completed.returncode == 0, completed.stdout[-4000:]
        assert "Total indexes in place: 3/3" in completed.stdout
        report = json.loads((inventory / "artifacts" / HOST / "slow-lossy" / "report.json").read_text())
        assert report["status"] == "success" and report["errors"] == 0 and report["indexes_created"] == 3
        assert report["backup"]["verified"] and report["backup"]["verification"]["level"] == "restore"
        socket_view = over_socket(db)
        for entry in SMALL_SPEC["indexes"]:
            assert index_in_catalog(socket_view, entry["table"], entry["name"])["usable"], entry["name"]
        for probe in SMALL_SPEC["probes"]:
            plan = probe_plan(socket_view, probe.get(db.engine, {}).get("sql", probe["sql"]))
            assert probe["expect_index"] in plan, (probe["name"], plan)
        assert_consistent(socket_view, counts)
        folders = (inventory / "artifacts", inventory / "backups")
        assert_no_secret(db.password, completed.stdout, completed.stderr, folders=folders)
        assert_private(*folders)
        print("postgresql over 200 ms round trips and 5 %% loss: migrate.yml took %.1f s" % took)
