"""The restore check off production (db_backup verify_target): an ephemeral server on the controller loads the dump
while it is written; the production server only serves it. Real servers: the sandbox's, and the scratch servers the
module starts itself."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from ansible.module_utils.safeindex.backup import scratch_check
from ansible.module_utils.safeindex.engines.mysql.scratch import MariadbScratch
from ansible.module_utils.safeindex.engines.postgresql import builds

from tests.conftest import REPO
from tests.integration.conftest import connection_args, database_names, databases_seen, query

pytestmark = pytest.mark.slow

RUN_ID = "scratch-run-1"


@pytest.fixture(autouse=True)
def short_scratch_dir(tmp_path):
    """The test's scratch folder: short, for the server's unix socket (108 bytes at most), which pytest's tmp_path is not."""
    folder = Path(tempfile.mkdtemp(prefix="sx-", dir="/tmp"))
    os.chmod(folder, 0o711)  # the postgres system user passes through to its server's folder (as root)
    (tmp_path / "scratch").symlink_to(folder)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def backup_args(db, tmp_path, **extra):
    return dict(connection_args(db), run_id=RUN_ID, host_name="test_db", backup_dir=str(tmp_path / "backups"),
                verify_scratch_dir=str(scratch_dir(tmp_path))) | extra


def scratch_dir(tmp_path):
    return (tmp_path / "scratch").resolve()


def processes_in(folder):
    """Pids whose command line names `folder` (a scratch server, its workers, its clients)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(folder).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def assert_no_scratch_left(tmp_path):
    folder = scratch_dir(tmp_path)
    assert processes_in(folder) == [], "a scratch server outlived its check"
    assert list(folder.iterdir()) == [], "the scratch server's folder was left behind"


def assert_no_backup_left(tmp_path):
    backups = tmp_path / "backups"
    left = [p for p in backups.rglob("*") if p.is_file()] if backups.exists() else []
    assert left == [], left


def test_a_default_restore_check_runs_on_a_scratch_server_and_creates_no_database_on_the_server(db, run_module, tmp_path):
    before = database_names(db)
    with databases_seen(db) as during:
        result = run_module("db_backup", backup_args(db, tmp_path))
    assert not result.get("failed"), result.get("msg")
    assert during == before == database_names(db), sorted(during ^ before)
    verified = result["verified"]
    assert verified["result"] == "ok" and verified["level"] == "restore" and verified["mismatches"] == []
    assert verified["tables_checked"] == 7 and verified["streamed"] is True and "scratch_database" not in verified
    label = "PostgreSQL" if db.engine == "postgresql" else "MariaDB"
    assert verified["target"].startswith("scratch %s " % label) and verified["target"].endswith(" on the controller")
    manifest = json.loads(Path(result["manifest_path"]).read_text())
    assert manifest["verified"]["target"] == verified["target"]
    assert_no_scratch_left(tmp_path)
    # The streamed dump is a whole dump: the module proves it again from the file alone, on a new scratch server.
    again = run_module("db_backup", dict(connection_args(db), state="verified", manifest_path=result["manifest_path"],
                                         verify="restore", verify_scratch_dir=str(scratch_dir(tmp_path))))
    assert again["verified"]["result"] == "ok" and again["verified"]["streamed"] is False, again.get("msg")
    assert_no_scratch_left(tmp_path)


def test_verify_target_server_restores_into_a_scratch_database_on_the_server(db, run_module, tmp_path):
    before = database_names(db)
    with databases_seen(db) as during:
        result = run_module("db_backup", backup_args(db, tmp_path, verify_target="server"))
    assert result["verified"]["result"] == "ok" and result["verified"]["target"] == "server", result.get("msg")
    assert during - before == {result["verified"]["scratch_database"]}  # there while it ran ...
    assert database_names(db) == before  # ... and dropped afterwards
    assert list(scratch_dir(tmp_path).iterdir()) == []


def test_a_directory_dump_is_restored_on_the_scratch_server_once_it_is_whole(pg_db, run_module, tmp_path):
    before = database_names(pg_db)
    result = run_module("db_backup", backup_args(pg_db, tmp_path, format="directory", jobs=2))
    assert result["verified"]["result"] == "ok" and result["verified"]["streamed"] is False, result.get("msg")
    assert result["verified"]["target"].startswith("scratch PostgreSQL ")
    assert database_names(pg_db) == before
    assert_no_scratch_left(tmp_path)


def test_a_dump_the_scratch_server_cannot_load_fails_naming_the_cause_and_what_works(pg_db, run_module, tmp_path, monkeypatch):
    # pgcrypto is Debian's contrib; the PostgreSQL 18 wheel has none. With no build of the source's own major on the
    # controller, the check's server is that 18: the dump's CREATE EXTENSION cannot load there.
    if not builds.newest_at_least(18, "initdb", "postgres", "pg_ctl"):
        pytest.fail("PostgreSQL 18 (make setup) is needed for this test")
    admin = pg_db.server.admin_connect(pg_db.name)
    with admin.cursor() as cur:
        cur.execute("CREATE EXTENSION pgcrypto")
    admin.close()
    source_major = int(pg_db.server.version().split()[1].split(".")[0])
    assert source_major < 18
    real = builds.build_of_major
    monkeypatch.setattr(builds, "build_of_major", lambda major, *p: None if major == source_major else real(major, *p))
    result = run_module("db_backup", backup_args(pg_db, tmp_path))
    assert result["failed"]
    assert "does not load into the restore check's scratch PostgreSQL 18" in result["msg"] and "pgcrypto" in result["msg"]
    assert "backup_verify_target: server" in result["msg"] and "backup_verify: list" in result["msg"]
    assert_no_backup_left(tmp_path)
    assert_no_scratch_left(tmp_path)
    # What the message says works, works: the server has pgcrypto.
    on_server = run_module("db_backup", backup_args(pg_db, tmp_path, verify_target="server"))
    assert on_server["verified"]["result"] == "ok", on_server.get("msg")


def test_no_postgresql_build_that_can_load_the_dump_fails_before_anything_is_dumped(pg_db, run_module, tmp_path, monkeypatch):
    monkeypatch.setattr(builds, "build_of_major", lambda major, *p: None)
    monkeypatch.setattr(builds, "newest_at_least", lambda major, *p: None)
    result = run_module("db_backup", backup_args(pg_db, tmp_path))
    assert result["failed"] and "no PostgreSQL server build" in result["msg"], result
    assert "backup_verify_target: server" in result["msg"] and "backup_verify: list" in result["msg"]
    assert_no_backup_left(tmp_path)
    assert_no_scratch_left(tmp_path)


def test_a_controller_without_room_for_the_scratch_copy_is_refused_before_anything_is_dumped(db, run_module, tmp_path,
                                                                                               monkeypatch):
    real = scratch_check._free_bytes
    folder = str(scratch_dir(tmp_path))
    monkeypatch.setattr(scratch_check, "_free_bytes", lambda path: 1000 if path == folder else real(path))
    result = run_module("db_backup", backup_args(db, tmp_path))
    assert result["failed"] and "not enough space on the controller for the restore check's scratch server" in result["msg"]
    assert folder in result["msg"] and "1000 bytes free" in result["msg"]
    assert "backup_verify_scratch_dir" in result["msg"] and "backup_verify_target: server" in result["msg"]
    assert_no_backup_left(tmp_path)
    assert list(Path(folder).iterdir()) == []
    planned = run_module("db_backup", backup_args(db, tmp_path), check_mode=True)
    assert "not enough space" in planned["plan"]["scratch_space_problem"]


RUNNER = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, %(repo)r)
    from tests.conftest import load_module
    from ansible.module_utils.testing import patch_module_args
    with patch_module_args(json.loads(sys.argv[1])):
        load_module("db_backup").main()
""")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_module_stopped_during_the_check_removes_its_scratch_server_and_leaves_no_backup(pg_db, tmp_path, signum):
    folder = scratch_dir(tmp_path)
    args = backup_args(pg_db, tmp_path)
    module = subprocess.Popen([sys.executable, "-c", RUNNER % {"repo": str(REPO)}, json.dumps(args)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        # Stopped once its scratch server runs: a postmaster on a data dir in the scratch folder.
        while not any(_program(pid).endswith("/postgres") for pid in processes_in(folder)):
            assert module.poll() is None, module.communicate()
            assert time.monotonic() < deadline, "no scratch server started"
            time.sleep(0.01)
        module.send_signal(signum)
        out, err = module.communicate(timeout=60)
    finally:
        if module.poll() is None:
            module.kill()
            module.wait()
    result = json.loads(out.strip().splitlines()[-1])
    assert result["failed"] and "interrupted by %s" % signal.Signals(signum).name in result["msg"], (out, err)
    assert_no_scratch_left(tmp_path)
    assert_no_backup_left(tmp_path)


def _program(pid):
    # A process can end between the listing and this read (initdb's children do): then it is no program at all.
    try:
        return Path("/proc/%d/cmdline" % pid).read_bytes().decode(errors="replace").split("\0")[0]
    except OSError:
        return ""


def test_a_scratch_server_left_by_a_killed_module_is_removed_by_the_next_check(pg_db, run_module, tmp_path):
    from ansible.module_utils.safeindex.engines.postgresql import scratch

    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs: the owner of the folder below, killed with SIGKILL
    orphan = scratch_dir(tmp_path) / ("%s%d-left" % (scratch_check.PREFIX, dead.pid))
    orphan.mkdir()
    os.chmod(orphan, 0o711)
    (orphan / "owner").write_text(str(dead.pid))
    (orphan / "engine").write_text("postgresql")
    server = scratch.check_server(pg_db.server.version().split()[1], orphan)
    server.start()
    assert processes_in(orphan)
    result = run_module("db_backup", backup_args(pg_db, tmp_path))
    assert result["verified"]["result"] == "ok", result.get("msg")
    assert not orphan.exists() and processes_in(orphan) == []
    assert_no_scratch_left(tmp_path)


def test_each_mariadb_server_we_start_sorts_in_a_tmpdir_of_its_own(my_db):
    # mariadbd deletes every #sql* file of its tmpdir when it starts: in a shared /tmp, a scratch server's start removed
    # the open temporary tables of the servers already running (and crashed one).
    tmpdir = query(my_db, "SELECT @@tmpdir")[0][0]
    assert Path(tmpdir).parent == my_db.server.root and Path(tmpdir).is_dir()
    # A query whose temporary table goes to disk (a TEXT column in an I_S table) works there.
    assert query(my_db, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE()")[0][0] == 0


def test_mariadb_install_db_bootstraps_in_a_tmpdir_of_its_own(short_scratch_dir, monkeypatch):
    # Its bootstrap mariadbd clears its tmpdir's #sql* files too: in the shared /tmp, two data folders initialised at
    # once deleted each other's temporary tables (CI: "Unknown table 'mysql.tmp_user_sys'", the template not made).
    shared = short_scratch_dir / "shared-tmp"
    shared.mkdir()
    another_servers_table = shared / "#sql-temptable-4242-1-0.MAI"
    another_servers_table.write_text("")
    monkeypatch.setenv("TMPDIR", str(shared))  # the bootstrap's tmpdir when given none: the system's temporary folder
    server = MariadbScratch(short_scratch_dir / "server")
    server.root.mkdir()
    server._initialise(server.data_dir)
    assert (server.data_dir / "mysql" / "user.frm").exists() or (server.data_dir / "mysql" / "global_priv.frm").exists()
    assert another_servers_table.exists()
