"""migrate.yml on a fleet in serial batches (-e migrate_serial, -e migrate_max_fail_percentage), three databases of one server."""

import contextlib
import dataclasses
import json
import os

import pytest
import yaml
from psycopg2 import sql

from sandbox import inventory as sandbox_inventory
from tests.conftest import REPO
from tests.integration.conftest import play_recap, query, run_playbook

pytestmark = pytest.mark.slow

HOSTS = ("fleet_1", "fleet_2", "fleet_3")
# db_free_bytes: 1 makes preflight's disk-space check fail on that host: a refusal before any backup or build.
NO_ROOM = {"db_free_bytes": 1}
SPEC_NAMES = [entry["name"] for entry in yaml.safe_load((REPO / "migrations/indexes.yml").read_text())["indexes"]]


@pytest.fixture
def fleet(pg_sandbox):
    """Three databases of the loaded sample app on the session's server, one per host (CREATE DATABASE ... TEMPLATE)."""
    names = ["fleet_%d_%d" % (os.getpid(), number) for number in range(1, len(HOSTS) + 1)]
    admin = pg_sandbox.server.admin_connect()
    try:
        with admin.cursor() as cur:
            for name in names:
                cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(pg_sandbox.name), sql.Identifier(pg_sandbox.user)))
        yield {host: dataclasses.replace(pg_sandbox, name=name) for host, name in zip(HOSTS, names, strict=True)}
    finally:
        with admin.cursor() as cur:
            for name in names:
                with contextlib.suppress(Exception):
                    cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def write_fleet_inventory(folder, fleet, failing_host):
    return sandbox_inventory.write_inventory(folder, fleet, host_vars={failing_host: NO_ROOM}, monitor_duration_seconds=0)


def report_of(inventory, host):
    """The host's report.json, or None when the host never ran."""
    reports = list((inventory / "artifacts" / host).glob("*/report.json"))
    assert len(reports) <= 1
    return json.loads(reports[0].read_text()) if reports else None


def spec_indexes_built(db):
    return query(db, "SELECT count(*) FROM pg_indexes WHERE indexname = ANY(%s)", (SPEC_NAMES,))[0][0]


def test_batches_share_one_run_id_and_a_failed_host_does_not_stop_later_batches(tmp_path, fleet):
    inventory = write_fleet_inventory(tmp_path / "inventory", fleet, failing_host="fleet_1")
    completed = run_playbook("migrate.yml", inventory, "-e", "migrate_serial=2")
    assert completed.returncode != 0, completed.stdout[-2000:]
    # Two batches ([fleet_1, fleet_2], [fleet_3]): the play starts twice.
    assert completed.stdout.count("PLAY [Add indexes online, safely]") == 2
    reports = {host: report_of(inventory, host) for host in HOSTS}
    assert len({report["run_id"] for report in reports.values()}) == 1, "one run id across the batches"
    assert reports["fleet_1"]["status"] == "failed" and reports["fleet_1"]["indexes_created"] == 0
    assert spec_indexes_built(fleet["fleet_1"]) == 0
    for host in ("fleet_2", "fleet_3"):
        assert reports[host]["status"] == "success" and reports[host]["total_in_place"] == 20
        assert play_recap(completed.stdout, host)["failed"] == "0"
    assert play_recap(completed.stdout, "fleet_1")["failed"] == "1"


def test_max_fail_percentage_stops_the_later_batches(tmp_path, fleet):
    inventory = write_fleet_inventory(tmp_path / "inventory", fleet, failing_host="fleet_1")
    completed = run_playbook("migrate.yml", inventory, "-e", "migrate_serial=1", "-e", "migrate_max_fail_percentage=0",
                             "-e", "run_id=stop-on-first")
    assert completed.returncode != 0
    assert "NO MORE HOSTS LEFT" in completed.stdout
    assert report_of(inventory, "fleet_1")["status"] == "failed"
    # The failed host's batch ended the play: the later batches never started, their databases are untouched.
    for host in ("fleet_2", "fleet_3"):
        assert report_of(inventory, host) is None
        assert spec_indexes_built(fleet[host]) == 0
        assert host + " " not in completed.stdout.split("PLAY RECAP", 1)[1]
