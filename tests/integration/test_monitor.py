"""Monitoring after the migration (the runbook's step 4) on real servers: smoke checks against a local HTTP
server, the app's error log, the database's lock waits, and CloudWatch on a moto server."""

import contextlib
import http.server
import threading
import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import yaml

from tests.integration.conftest import (
    HOST,
    connection_args,
    moto_backend,
    play_recap,
    query,
    run_playbook,
    write_inventory,
)

pytestmark = pytest.mark.slow

# One index and its probe: the migration stays quick, and monitoring is what these tests watch.
SPEC = {
    "indexes": [{"name": "idx_user_username", "table": "user", "columns": ["username"]}],
    "probes": [{"name": "login_by_username", "sql": "SELECT * FROM \"user\" WHERE username = 'user_00042'",
                "expect_index": "idx_user_username",
                "mysql": {"sql": "SELECT * FROM `user` WHERE username = 'user_00042'"}}],
}
OLD_ERROR = "2026-11-24 21:58:00 ERROR payment webhook timed out (written before the run)"
NEW_ERROR = "ERROR conversation 42: query failed while serving /api/send"


class AppHandler(http.server.BaseHTTPRequestHandler):
    """The sample app as its smoke checks see it: / answers, /broken is down, /api/send logs an error."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path == "/broken":
            return self.answer(500, "Internal Server Error")
        if self.path == "/api/send":
            with open(self.server.error_log, "a") as log:
                log.write("2026-11-24 22:31:07 %s\n" % NEW_ERROR)
            return self.answer(200, '{"answer": "sent"}')
        return self.answer(200, "<title>Welcome to the chat app</title>")

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        """Quiet: the test output is the playbook's."""


@pytest.fixture
def app(tmp_path):
    """A local HTTP server on a free loopback port, and the error log its handler writes to."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AppHandler)
    server.error_log = tmp_path / "app" / "error.log"
    server.error_log.parent.mkdir()
    server.error_log.write_text("2026-11-24 21:57:59 INFO started\n%s\n" % OLD_ERROR)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def url(app, path):
    return "http://127.0.0.1:%d%s" % (app.server_address[1], path)


def monitor_inventory(tmp_path, db, app, **settings):
    """write_inventory's inventory with the one-index spec, an `app` group whose host runs locally and has the
    test server's error log, and the monitoring settings given."""
    inventory = write_inventory(tmp_path / "inventory", db)
    spec = tmp_path / "spec.yml"
    spec.write_text(yaml.safe_dump(SPEC))
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    hosts["all"]["children"]["app"] = {"hosts": {"app1": {"ansible_connection": "local", "app_error_log": str(app.error_log)}}}
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    group_vars = inventory / "group_vars/all/vars.yml"
    values = yaml.safe_load(group_vars.read_text())
    # The backup's checksum proof is enough here (monitoring is what these tests watch): a restore check would start a
    # scratch server for every run.
    values.update({"index_spec_file": str(spec), "monitor_duration_seconds": 1, "monitor_interval_seconds": 0.5,
                   "backup_verify": "checksum", **settings})
    group_vars.write_text(yaml.safe_dump(values))
    return inventory


def rollback_line(inventory, run_id):
    return "ansible-playbook rollback.yml -i %s -e run_id=%s --limit %s" % (inventory, run_id, HOST)


def output(completed):
    return completed.stdout + completed.stderr


def test_a_passing_smoke_check_with_a_body_check_passes_and_old_error_lines_are_not_reported(pg_db, app, tmp_path):
    inventory = monitor_inventory(tmp_path, pg_db, app, smoke_checks=[
        {"name": "home page", "url": url(app, "/"), "status": 200, "body": "Welcome to the chat app"},
    ])

    run = run_playbook("migrate.yml", inventory, "-e", "run_id=monitor-ok")

    assert run.returncode == 0, output(run)[-4000:]
    assert play_recap(run.stdout)["failed"] == "0"
    assert "smoke check home page (GET %s): ok" % url(app, "/") in run.stdout
    assert "body has 'Welcome to the chat app'" in run.stdout
    assert "app1:%s: 0 new error lines" % app.error_log in run.stdout
    assert OLD_ERROR not in run.stdout
    assert "database: " in run.stdout and "samples: connections max" in run.stdout


def test_a_smoke_check_answering_500_fails_the_run_names_it_and_prints_the_rollback_command(pg_db, app, tmp_path):
    inventory = monitor_inventory(tmp_path, pg_db, app, monitor_duration_seconds=600, smoke_checks=[
        {"name": "home page", "url": url(app, "/"), "body": "Welcome"},
        {"name": "login", "url": url(app, "/broken"), "status": 200},
    ])

    run = run_playbook("migrate.yml", inventory, "-e", "run_id=monitor-500")

    assert run.returncode != 0
    assert play_recap(run.stdout)["failed"] == "1"
    assert "smoke check login: start of the window: HTTP 500, expected 200" in run.stdout
    assert "smoke check home page:" not in run.stdout.split("found problems")[-1]  # only the failed one is named
    assert rollback_line(inventory, "monitor-500") in run.stdout
    # A broken app is not watched for the whole window: the operator gets the rollback command at once.
    assert "A smoke check failed at the start: not waiting 600 s" in run.stdout


def test_a_new_error_line_in_the_app_log_fails_the_run_and_an_older_one_is_not_reported(pg_db, app, tmp_path):
    inventory = monitor_inventory(tmp_path, pg_db, app, smoke_checks=[
        {"name": "send a query", "url": url(app, "/api/send"), "body": "sent"},  # the handler logs NEW_ERROR
    ])

    run = run_playbook("migrate.yml", inventory, "-e", "run_id=monitor-errors")

    assert run.returncode != 0
    failure = run.stdout.split("found problems")[-1]
    assert "new error line" in failure and "app1:%s" % app.error_log in failure
    assert NEW_ERROR in failure
    assert OLD_ERROR not in run.stdout
    assert rollback_line(inventory, "monitor-errors") in failure
    assert NEW_ERROR in app.error_log.read_text()  # the scan only reads


def test_check_mode_marks_the_logs_but_monitors_nothing(pg_db, app, tmp_path):
    inventory = monitor_inventory(tmp_path, pg_db, app, smoke_checks=[{"name": "login", "url": url(app, "/broken")}])

    run = run_playbook("migrate.yml", inventory, "--check", "-e", "run_id=monitor-check")

    assert run.returncode == 0, output(run)[-4000:]
    assert "ok: [test_db -> app1] => (item=app1)" in run.stdout  # the mark only reads, so it runs
    assert "Check mode: nothing was changed, so there is nothing to monitor on test_db" in run.stdout
    assert "smoke check login" not in run.stdout


# Database health: a statement waiting for a lock another session holds.

@contextlib.contextmanager
def waiting_for_a_lock(db, holder_sql, waiter_sql, waiter_setup=()):
    """One session holds a lock in an open transaction; another's statement waits for it (in a thread) until the
    block ends and the holder rolls back."""
    holder, waiter = db.connect(autocommit=False), db.connect(autocommit=False)
    failures = []

    def wait():
        try:
            with waiter.cursor() as cur:
                for statement in waiter_setup:
                    cur.execute(statement)
                cur.execute(waiter_sql)
            waiter.rollback()
        except Exception as exc:  # shown by the test if the wait ended otherwise than by the holder's rollback
            failures.append(exc)

    thread = threading.Thread(target=wait)
    try:
        with holder.cursor() as cur:
            cur.execute(holder_sql)
        thread.start()
        yield failures
    finally:
        holder.rollback()
        thread.join(timeout=30)
        holder.close()
        waiter.close()


def until_waiting(db, fragment, failures):
    """Until the server shows the waiting statement waiting for its lock (it starts in a thread). On MariaDB a statement
    is in the PROCESSLIST before it waits (opening the table, checking permissions): only its state or INNODB_TRX says
    that it waits."""
    statement = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s" if db.engine == "postgresql"
                 else "SELECT count(*) FROM information_schema.PROCESSLIST p WHERE p.INFO LIKE %s AND (p.STATE LIKE 'Waiting for%%lock'"
                      " OR p.ID IN (SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'))")
    for _ in range(100):
        if query(db, statement, ("%" + fragment + "%",))[0][0]:
            return
        assert failures == [], "the waiting statement failed"
        time.sleep(0.1)
    raise AssertionError("the statement never started waiting")


def quoted_user(db):
    return '"user"' if db.engine == "postgresql" else "`user`"


def test_db_health_samples_the_window_and_records_a_row_lock_wait(db, run_module):
    waiter_sql = "UPDATE %s SET role = 'mon-waiter' WHERE id = 1" % quoted_user(db)
    setup = ("SET SESSION innodb_lock_wait_timeout = 30",) if db.engine == "mysql" else ()
    with waiting_for_a_lock(db, "UPDATE %s SET role = role WHERE id = 1" % quoted_user(db), waiter_sql, setup) as failures:
        until_waiting(db, "mon-waiter", failures)
        health = run_module("db_health", dict(connection_args(db), duration_seconds=1.5, interval_seconds=0.5, max_lock_waits=0))

    assert failures == []
    assert health["_rc"] == 0 and health["changed"] is False
    assert len(health["samples"]) >= 3 and health["samples"][-1]["seconds"] >= 1.5
    assert all(s["lock_waits"] >= 1 for s in health["samples"])
    assert health["max_lock_waits"] >= 1 and health["max_connections"] >= 2
    waiter = next(w for w in health["lock_waiters"] if "mon-waiter" in w["query"])
    assert waiter["waiting_seconds"] >= 0
    assert any("lock waits reached" in w for w in health["threshold_warnings"])  # a threshold warns, never fails


def test_db_health_with_no_duration_takes_one_sample_and_sees_no_lock_wait(db, run_module):
    health = run_module("db_health", dict(connection_args(db), duration_seconds=0))

    assert health["_rc"] == 0
    assert len(health["samples"]) == 1 and health["max_lock_waits"] == 0
    assert health["detail"].startswith("1 samples: connections max")


def test_db_health_records_a_statement_waiting_for_a_metadata_lock_on_mariadb(my_db, run_module):
    waiter_sql = "ALTER TABLE `user` ADD COLUMN monitor_test_column INT"
    with waiting_for_a_lock(my_db, "SELECT id FROM `user` LIMIT 1", waiter_sql, ("SET SESSION lock_wait_timeout = 30",)) as failures:
        until_waiting(my_db, "monitor_test_column", failures)
        health = run_module("db_health", dict(connection_args(my_db), duration_seconds=0))

    assert failures == []
    waiter = next(w for w in health["lock_waiters"] if "monitor_test_column" in w["query"])
    assert "metadata lock" in waiter["lock"]


def test_db_health_keeps_sampling_when_the_server_cannot_be_reached(pg_db, run_module):
    health = run_module("db_health", dict(connection_args(pg_db), db_port=1, duration_seconds=0.6, interval_seconds=0.3, connect_timeout=1))

    assert health["_rc"] == 0  # monitoring reports, it does not stop the run
    assert len(health["samples"]) >= 2 and all("cannot connect" in s["error"] for s in health["samples"])
    assert health["max_connections"] is None and health["detail"].startswith("no sample succeeded")


# CloudWatch, on a moto server.

REGION = "eu-west-1"


@pytest.fixture
def cloudwatch(moto_server, aws_credentials):
    client = boto3.client("cloudwatch", endpoint_url=moto_server, region_name=REGION)
    backend = moto_backend("cloudwatch", REGION)
    backend.reset()
    yield client
    backend.reset()


def put(client, metric, unit, value, times):
    client.put_metric_data(Namespace="AWS/RDS", MetricData=[
        {"MetricName": metric, "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "app-db"}],
         "Timestamp": moment, "Value": value, "Unit": unit} for moment in times
    ])


def test_rds_metrics_compares_the_baseline_before_the_run_with_the_monitoring_window(cloudwatch, moto_server, run_module):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    before = [now - timedelta(minutes=m) for m in range(40, 20, -1)]
    after = [now - timedelta(minutes=m) for m in range(10, 0, -1)]
    put(cloudwatch, "CPUUtilization", "Percent", 60.0, before)
    put(cloudwatch, "CPUUtilization", "Percent", 20.0, after)
    put(cloudwatch, "DatabaseConnections", "Count", 30.0, before)
    put(cloudwatch, "DatabaseConnections", "Count", 12.0, after)
    put(cloudwatch, "WriteLatency", "Seconds", 0.004, before)  # nothing in the window: CloudWatch lags

    result = run_module("rds_metrics", dict(
        instance_id="app-db", run_started=(now - timedelta(minutes=15)).isoformat(), baseline_seconds=1800,
        monitor_started=str((now - timedelta(minutes=12)).timestamp()), monitor_ended=now.isoformat(),
        aws_region=REGION, aws_endpoint_url=moto_server,
    ))

    assert result["_rc"] == 0 and result["changed"] is False, result
    metrics = result["metrics"]
    assert metrics["CPUUtilization"] == {"before": 60.0, "after": 20.0, "unit": "Percent",
                                         "change_percent": -66.7, "note": None}
    assert (metrics["DatabaseConnections"]["before"], metrics["DatabaseConnections"]["after"]) == (30.0, 12.0)
    assert metrics["WriteLatency"]["before"] == 0.004 and metrics["WriteLatency"]["after"] is None
    assert "after: no data" in metrics["WriteLatency"]["note"]
    assert metrics["ReadLatency"]["before"] is None and metrics["ReadLatency"]["after"] is None
    assert "before: no data" in metrics["ReadLatency"]["note"]
