"""The backup's PostgreSQL client on real servers of other majors: migrate.yml with no client setting dumps with the
client of the server's own major and says so (preflight's row, the report, the manifest); a configured client too old
for the server is refused in preflight, before anything is dumped or built."""

import json
import os

import pytest
from ansible.module_utils.safeindex.engines.postgresql import builds

from tests.integration.conftest import HOST, index_in_catalog
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
