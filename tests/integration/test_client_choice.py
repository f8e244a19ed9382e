"""The backup's PostgreSQL client on real servers of 15, 17 and 18: migrate.yml with no client setting dumps with the
client of the server's own major and says so (preflight's row, the report, the manifest); a configured client too old
for the server is refused in preflight, before anything is dumped or built."""

import json
import os
import subprocess

import pytest
from ansible.module_utils.safeindex.engines.postgresql import builds
from psycopg2 import sql

from tests.integration.conftest import HOST, index_in_catalog
from tests.integration.test_db_backup import backup_args
from tests.integration.test_preflight import SPEC, assert_refused_before_any_work, migrate

pytestmark = pytest.mark.slow


def report_of(inventory):
    return json.loads(next((inventory / "artifacts" / HOST).glob("*/report.json")).read_text())


def same_folder(a, b):
    """The playbook's Python may see the virtualenv by another path (a worktree's .venv is a link)."""
    return os.path.realpath(a) == os.path.realpath(b)


def client_row(report):
    return [c for c in report["preflight"] if c["check"] == "client tools"][0]


@pytest.mark.parametrize("pg_major_db", [18], indirect=True)
def test_a_pg18_server_is_dumped_with_pg_dump_18_and_the_report_and_manifest_name_it(pg_major_db, tmp_path):
    wheel = builds.build_of_major(18, "pg_dump", "pg_restore")
    assert wheel is not None, "make setup installs the PostgreSQL 18 wheel (requirements-postgres.txt)"
    inventory, completed = migrate(tmp_path, pg_major_db)
    assert completed.returncode == 0, completed.stdout[-3000:]

    report = report_of(inventory)
    row = client_row(report)
    server = pg_major_db.server.admin_connect()
    try:
        with server.cursor() as cur:
            cur.execute("SHOW server_version")
            server_version = cur.fetchone()[0]
    finally:
        server.close()
    assert server_version.startswith("18.")
    assert row["result"] == "ok"
    folder = row["detail"].split(" from ", 1)[1].split(" (", 1)[0]
    assert row["detail"].startswith("pg_dump %s from %s (%s" % (wheel.version, folder, wheel.source)) and same_folder(folder, wheel.bin_dir)
    assert row["detail"].endswith("the client of the server's own major, server is PostgreSQL %s" % server_version)
    report_md = next((inventory / "artifacts" / HOST).glob("*/report.md")).read_text()
    assert "| client tools | ok | %s |" % row["detail"] in report_md  # what the operator reads

    manifest = json.loads(open(report["backup"]["manifest_path"]).read())
    assert manifest["server_version"] == server_version
    assert manifest["client_version"] == "pg_dump (PostgreSQL) %s" % wheel.version
    assert same_folder(manifest["client"]["program"], wheel.program("pg_dump")) and manifest["client"]["source"] == wheel.source
    assert manifest["verified"]["result"] == "ok" and report["backup"]["verified"]
    for entry in SPEC["indexes"]:
        assert index_in_catalog(pg_major_db, entry["table"], entry["name"])["usable"], entry["name"]


@pytest.mark.parametrize("pg_major_db", [18], indirect=True)
def test_a_configured_client_too_old_for_a_pg18_server_is_refused_in_preflight_naming_one_that_fits(pg_major_db, tmp_path):
    old = builds.build_of_major(15, "pg_dump", "pg_restore")
    wheel = builds.build_of_major(18, "pg_dump", "pg_restore")
    assert old is not None and wheel is not None, "the Debian PostgreSQL 15 client and the 18 wheel"
    inventory, completed = migrate(tmp_path, pg_major_db, backup_client_bin_dir=old.bin_dir)
    assert_refused_before_any_work(  # nothing dumped (no file under backups/), no index built, report failed
        pg_major_db, inventory, completed, "client tools", "pg_dump (PostgreSQL) %s" % old.version,
        "in %s (client_bin_dir, backup_client_bin_dir in the inventory)" % old.bin_dir,
        "is older than the server (PostgreSQL 18.", "no other client is picked", "found on this controller: %s in" % wheel.version)


@pytest.mark.parametrize("pg_major_db", [17], indirect=True)
def test_a_pg17_server_gets_the_client_of_its_own_major_not_the_newest(pg_major_db, run_module, tmp_path):
    own, newest = builds.build_of_major(17, "pg_dump", "pg_restore"), builds.installed_builds()[0]
    assert own is not None and newest.major == 18, "make setup installs the 17 and 18 wheels"
    planned = run_module("db_backup", backup_args(pg_major_db, tmp_path / "backups"), check_mode=True)
    assert not planned.get("failed"), planned.get("msg")
    assert planned["plan"]["client"] == "pg_dump (PostgreSQL) %s" % own.version
    assert planned["plan"]["command"].startswith(own.program("pg_dump") + " ")
    assert not (tmp_path / "backups").exists()  # check mode writes nothing


def test_a_pg18_client_cannot_put_a_pg15_servers_dump_back_so_it_is_refused_for_it(pg_db, run_module, tmp_path):
    """The measured reason the newest client is not the one taken: pg_restore 18 begins with SET transaction_timeout,
    which PostgreSQL 15 rejects (and pg_restore 15 cannot read pg_dump 18's archive). Configured, it is refused first."""
    wheel, own = builds.build_of_major(18, "pg_dump", "pg_restore"), builds.build_of_major(15, "pg_dump", "pg_restore")
    assert wheel is not None and own is not None
    env = dict(os.environ, PGPASSWORD=pg_db.password)
    where = ["-h", pg_db.host, "-p", str(pg_db.port), "-U", pg_db.user]
    dump = str(tmp_path / "by-18.pgdump")
    subprocess.run([wheel.program("pg_dump"), *where, "-d", pg_db.name, "-Fc", "-f", dump], env=env, check=True, capture_output=True)
    copy = pg_db.name + "_by_18"
    admin = pg_db.server.admin_connect()
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(copy), sql.Identifier(pg_db.user)))
        restored = subprocess.run([wheel.program("pg_restore"), *where, "-d", copy, "--no-owner", "--exit-on-error", dump],
                                  env=env, capture_output=True, text=True)
        assert restored.returncode != 0 and 'unrecognized configuration parameter "transaction_timeout"' in restored.stderr
        older = subprocess.run([own.program("pg_restore"), "--list", dump], capture_output=True, text=True)
        assert older.returncode != 0 and "unsupported version" in older.stderr
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(copy)))
        admin.close()

    refused = run_module("db_backup", backup_args(pg_db, tmp_path / "backups", client_bin_dir=wheel.bin_dir))
    assert refused["failed"] and "makes backups that cannot be restored into this server (PostgreSQL 15." in refused["msg"]
    assert "no other client is picked" in refused["msg"] and not (tmp_path / "backups").exists()
    chosen = run_module("db_backup", backup_args(pg_db, tmp_path / "backups"), check_mode=True)
    assert chosen["plan"]["client"].startswith("pg_dump (PostgreSQL) %s" % own.version)
