"""Faults of the backup step: the backup directory's disk full, pg_dump missing from PATH or from the configured folder.

Each must stop the run before the index phase (safety rule 1: no verified backup, no index), say what is wrong and
where, and leave nothing that looks like a backup; all but pg_dump missing from PATH only, which the backup gets over
by finding the client where PostgreSQL installs it (engines/postgresql/client_choice.py).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.safeindex.engines.postgresql import builds

from tests.conftest import REPO
from tests.integration.conftest import HOST, index_in_catalog, query, run_playbook, write_inventory
from tests.reliability.conftest import assert_consistent, assert_no_secret, files_under, table_counts

pytestmark = pytest.mark.slow

SPEC = yaml.safe_load((REPO / "migrations/indexes.yml").read_text())
# Far smaller than any dump of the test database, big enough for the run's folders.
SMALL_FS_SIZE = "256k"


@pytest.fixture
def small_fs(tmp_path):
    """A size-limited file system (tmpfs), unmounted however the test ends."""
    mount_point = tmp_path / "small-fs"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % SMALL_FS_SIZE, "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail("this test needs to mount a small tmpfs (root, or CAP_SYS_ADMIN): mount said %s" % mounted.stderr.strip())
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def report_of(inventory, run_id):
    return json.loads((inventory / "artifacts" / HOST / run_id / "report.json").read_text())


def assert_stopped_before_the_index_phase(db, inventory, run_id, completed, counts, *words):
    """The run failed, its error names the cause, no spec index was built, the database is as it was, no secret shown."""
    assert completed.returncode != 0, completed.stdout[-3000:]
    report = report_of(inventory, run_id)
    assert report["status"] == "failed" and report["backup"] is None and report["indexes"] == []
    assert "indexes" not in [phase["name"] for phase in report["phases"]]
    for words_expected in words:
        assert words_expected in report["error"] and words_expected in completed.stdout, words_expected
    assert not any(index_in_catalog(db, entry["table"], entry["name"]) for entry in SPEC["indexes"])
    assert_consistent(db, counts)
    assert_no_secret(db.password, completed.stdout, completed.stderr, folders=(inventory / "artifacts", inventory / "backups"))
    return report


def test_a_backup_dir_without_room_for_the_estimate_is_refused_before_anything_is_written(pg_db, tmp_path, small_fs):
    counts = table_counts(pg_db)
    inventory = write_inventory(tmp_path / "inventory", pg_db, backup_dir=str(small_fs))
    completed = run_playbook("migrate.yml", inventory, "-e", "run_id=no-room")
    assert_stopped_before_the_index_phase(pg_db, inventory, "no-room", completed, counts,
                                          "not enough space for the backup: %s has" % small_fs, "bytes free, the dump needs about")
    assert list(small_fs.iterdir()) == []
    assert_no_secret(pg_db.password, folders=(small_fs,))


def test_a_dump_that_fills_the_backup_dir_fails_naming_it_and_leaves_no_partial_backup(db, tmp_path, small_fs):
    counts = table_counts(db)
    # The estimate (database size x backup_space_factor) lets the dump start; the dump is bigger than the room.
    inventory = write_inventory(tmp_path / "inventory", db, backup_dir=str(small_fs), backup_space_factor=0.001)
    completed = run_playbook("migrate.yml", inventory, "-e", "run_id=disk-full")
    assert_stopped_before_the_index_phase(db, inventory, "disk-full", completed, counts,
                                          "backup_dir %s ran out of space while the dump was written" % small_fs,
                                          "No space left on device", "backup_space_factor 0.001")
    # Nothing that looks like a backup: no dump, no .partial, no manifest (empty folders may stay).
    assert list(files_under(small_fs)) == []
    assert_no_secret(db.password, folders=(small_fs,))


def path_without(tools, folder):
    """A PATH that hides `tools`: this Python's bin (ansible-playbook) and a folder of links to everything else on PATH."""
    folder.mkdir()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(directory) or Path(directory) == Path(sys.executable).parent:
            continue
        for name in os.listdir(directory):
            target = os.path.join(directory, name)
            if name not in tools and not (folder / name).exists() and os.access(target, os.X_OK) and not os.path.isdir(target):
                (folder / name).symlink_to(target)
    return os.pathsep.join([str(Path(sys.executable).parent), str(folder)])


def test_pg_dump_missing_from_path_is_found_where_postgresql_installs_it_and_named(pg_db, tmp_path):
    """PATH is one place of three (the wheels of `make setup`, /usr/lib/postgresql/*/bin): a controller whose PATH has
    no pg_dump still backs up, with the client of the server's own major, and preflight says which and from where."""
    path = path_without({"pg_dump", "pg_restore"}, tmp_path / "bin")
    assert shutil.which("pg_dump", path=path) is None and shutil.which("sh", path=path)
    own = builds.build_of_major(int(query(pg_db, "SHOW server_version")[0][0].split(".")[0]), "pg_dump", "pg_restore")
    assert own is not None and own.source != "PATH", "the server's own major is installed outside PATH"
    spec = tmp_path / "indexes.yml"
    spec.write_text(yaml.safe_dump({"indexes": SPEC["indexes"][:1]}))
    inventory = write_inventory(tmp_path / "inventory", pg_db)
    completed = run_playbook("migrate.yml", inventory, "-e", "run_id=no-pg-dump-on-path", "-e", "index_spec_file=%s" % spec,
                             env={"PATH": path})
    assert completed.returncode == 0, completed.stdout[-3000:]
    report = report_of(inventory, "no-pg-dump-on-path")
    row = [c for c in report["preflight"] if c["check"] == "client tools"][0]
    assert row["result"] == "ok" and row["detail"].startswith("pg_dump %s from " % own.version)
    assert "(%s): the client of the server's own major" % own.source in row["detail"]
    manifest = json.loads(Path(report["backup"]["manifest_path"]).read_text())
    assert os.path.realpath(manifest["client"]["program"]) == os.path.realpath(own.program("pg_dump"))
    assert manifest["verified"]["result"] == "ok"
    assert index_in_catalog(pg_db, SPEC["indexes"][0]["table"], SPEC["indexes"][0]["name"])["usable"]


def test_a_client_folder_without_pg_dump_refuses_the_run_before_any_work_naming_it_and_where_it_looked(pg_db, tmp_path):
    counts = table_counts(pg_db)
    empty = tmp_path / "no-client"
    empty.mkdir()
    inventory = write_inventory(tmp_path / "inventory", pg_db, backup_client_bin_dir=str(empty))
    completed = run_playbook("migrate.yml", inventory, "-e", "run_id=no-pg-dump")
    report = assert_stopped_before_the_index_phase(pg_db, inventory, "no-pg-dump", completed, counts,
                                                   "preflight refused the run", "client tools",
                                                   "pg_dump not found in %s" % empty, "backup_client_bin_dir")
    assert [c["result"] for c in report["preflight"] if c["check"] == "client tools"] == ["fail"]
    assert not (inventory / "backups").exists()
