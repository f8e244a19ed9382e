"""db_backup on real PostgreSQL and MariaDB servers: the dump restores, proves itself, and keeps its secrets."""

import dataclasses
import gzip
import json
import os
import stat
import subprocess
import threading
import time

import boto3
import pytest
from psycopg2 import sql

from tests.integration.conftest import connection_args, query

pytestmark = pytest.mark.slow

RUN_ID = "backup-run-1"


def backup_args(db, folder, **extra):
    return dict(connection_args(db), run_id=RUN_ID, host_name="test_db", backup_dir=str(folder)) | extra


def live_counts(db, tables):
    quote = (lambda t: '"%s"' % t) if db.engine == "postgresql" else (lambda t: "`%s`" % t)
    return {t: query(db, "SELECT count(*) FROM %s" % quote(t))[0][0] for t in tables}


def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def restore_by_hand(db, dump, copy):
    """Restore the dump the way an operator would, into a new database, with the engine's own client."""
    if db.engine == "postgresql":
        admin = db.server.admin_connect()
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(copy), sql.Identifier(db.user)))
        admin.close()
        env = dict(os.environ, PGPASSWORD=db.password)
        subprocess.run(["pg_restore", "-h", db.host, "-p", str(db.port), "-U", db.user, "-d", copy, "--no-owner", dump],
                       env=env, check=True, capture_output=True)
        return
    admin = db.server.admin_connect()
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE `%s`" % copy)
        cur.execute("GRANT ALL ON `%s`.* TO %%s@'127.0.0.1'" % copy, (db.user,))
    admin.close()
    with gzip.open(dump, "rb") as source:
        subprocess.run(["mariadb", "-h", db.host, "-P", str(db.port), "-u", db.user, "-p" + db.password, copy],
                       input=source.read(), check=True, capture_output=True)


def drop_database(db, name):
    admin = db.server.admin_connect()
    with admin.cursor() as cur:
        if db.engine == "postgresql":
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        else:
            cur.execute("DROP DATABASE IF EXISTS `%s`" % name)
    admin.close()


def test_the_backup_restores_with_every_row_and_its_files_are_private(db, run_module, tmp_path):
    result = run_module("db_backup", backup_args(db, tmp_path / "backups"))
    assert result["changed"] and not result.get("failed"), result.get("msg")
    assert result["verified"]["result"] == "ok" and result["verified"]["level"] == "restore"
    assert result["verified"]["tables_checked"] == 7 and result["verified"]["mismatches"] == []

    folder = tmp_path / "backups/test_db" / RUN_ID
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["tool"] == "safeindex" and manifest["engine"] == db.engine and manifest["database"] == db.name
    assert manifest["server_version"] and manifest["client_version"] and manifest["started"] and manifest["finished"]
    assert manifest["format"] == ("custom" if db.engine == "postgresql" else "sql")
    assert manifest["size_bytes"] == os.path.getsize(result["path"]) > 0
    assert manifest["sha256"] == result["sha256"] == subprocess.run(
        ["sha256sum", result["path"]], capture_output=True, text=True, check=True).stdout.split()[0]
    tables = [t["name"] for t in manifest["tables"]]
    assert sorted(tables) == sorted(["user", "session", "conversation", "message", "plot", "feedback", "query_log"])
    counts = live_counts(db, tables)
    assert {t["name"]: t["rows"] for t in manifest["tables"]} == counts
    # No scratch database is left behind by the restore check.
    if db.engine == "postgresql":
        assert query(db, "SELECT count(*) FROM pg_database WHERE datname LIKE 'safeindex_verify%%'")[0][0] == 0
    else:
        assert query(db, "SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'safeindex\\\\_verify%%'")[0][0] == 0

    copy = db.name + "_by_hand"
    try:
        restore_by_hand(db, result["path"], copy)
        assert live_counts(dataclasses.replace(db, name=copy), tables) == counts
    finally:
        drop_database(db, copy)

    again = run_module("db_backup", backup_args(db, tmp_path / "backups"))
    assert not again["changed"] and again["reused"] and again["sha256"] == result["sha256"]


def test_a_flipped_byte_fails_verification(db, run_module, tmp_path):
    result = run_module("db_backup", backup_args(db, tmp_path / "backups", verify="list"))
    assert result["verified"]["result"] == "ok"
    with open(result["path"], "r+b") as dump:
        dump.seek(os.path.getsize(result["path"]) // 2)
        byte = dump.read(1)
        dump.seek(-1, os.SEEK_CUR)
        dump.write(bytes([byte[0] ^ 0xFF]))
    checked = run_module("db_backup", dict(connection_args(db), state="verified", manifest_path=result["manifest_path"], verify="checksum"))
    assert checked["failed"] and "checksum mismatch" in checked["msg"]


def test_a_failing_dump_fails_the_task_and_leaves_no_backup(db, run_module, tmp_path):
    if db.engine == "postgresql":
        # A sequence of the superuser's that the migration user may not read: pg_dump stops on it.
        admin = db.server.admin_connect(db.name)
        with admin.cursor() as cur:
            cur.execute("CREATE SEQUENCE invoice_numbers")
        admin.close()
    else:
        # A view whose table is gone: mariadb-dump stops on it.
        query(db, "CREATE TABLE doomed (id INT)")
        query(db, "CREATE VIEW broken_view AS SELECT id FROM doomed")
        query(db, "DROP TABLE doomed")
    result = run_module("db_backup", backup_args(db, tmp_path / "backups"))
    assert result["failed"]
    assert ("pg_dump exited with 1" in result["msg"] and "permission denied" in result["msg"]) or "mariadb-dump exited" in result["msg"]
    assert files_under(tmp_path / "backups") in ([], ["test_db", "test_db/" + RUN_ID])


def test_the_password_is_in_no_command_line_no_environment_and_no_file(db, run_module, tmp_path):
    seen, done = [], threading.Event()

    def watch():
        while not done.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit() or int(pid) == os.getpid():
                    continue
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as handle:
                        argv = handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
                    if "dump" not in argv and "restore" not in argv and "mariadb " not in argv:
                        continue
                    with open("/proc/%s/environ" % pid, "rb") as handle:
                        environment = handle.read().decode("utf-8", "replace")
                except OSError:
                    continue
                seen.append((argv, environment))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = run_module("db_backup", backup_args(db, tmp_path / "backups"))
    finally:
        done.set()
        watcher.join()
    assert result["verified"]["result"] == "ok"
    dumps = [argv for argv, _ in seen if "pg_dump" in argv or "mariadb-dump" in argv]
    assert dumps, "the dump process was never seen: the test proves nothing"
    for argv, environment in seen:
        assert db.password not in argv and db.password not in environment
    assert db.password not in json.dumps(result)
    for path in (tmp_path / "backups").rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                content = gzip.decompress(handle.read()) if path.name.endswith(".gz") else handle.read()
            assert db.password.encode() not in content, path
    # The secret files went with their folder (named after the process that made it: this one).
    assert not [p for p in os.listdir("/tmp") if p.startswith("safeindex-secrets-%d-" % os.getpid())]


def test_check_mode_says_what_and_how_big_and_writes_nothing(db, run_module, tmp_path):
    result = run_module("db_backup", backup_args(db, tmp_path / "backups"), check_mode=True)
    assert result["changed"] and result["plan"]["database_size_bytes"] > 0
    assert result["plan"]["path"].startswith(str(tmp_path / "backups/test_db" / RUN_ID))
    assert db.password not in result["plan"]["command"]
    assert not (tmp_path / "backups").exists()


def test_no_room_for_the_dump_is_a_refusal_before_anything_is_written(db, run_module, tmp_path):
    result = run_module("db_backup", backup_args(db, tmp_path / "backups", space_factor=1e9))
    assert result["failed"] and "not enough space for the backup" in result["msg"]
    assert not (tmp_path / "backups").exists()


def test_a_client_older_than_the_server_is_refused_before_anything_runs(pg_db, run_module, tmp_path):
    old_client = tmp_path / "old-client"
    old_client.mkdir()
    for tool in ("pg_dump", "pg_restore"):
        script = old_client / tool
        script.write_text('#!/bin/sh\necho "%s (PostgreSQL) 9.6.24"\n[ "$1" = "--version" ] || touch "%s/ran"\n' % (tool, old_client))
        script.chmod(0o755)
    result = run_module("db_backup", backup_args(pg_db, tmp_path / "backups", client_bin_dir=str(old_client)))
    assert result["failed"] and "9.6.24" in result["msg"] and "older than the server" in result["msg"]
    assert not (old_client / "ran").exists() and not (tmp_path / "backups").exists()


def test_a_parallel_directory_dump_restores(pg_db, run_module, tmp_path):
    result = run_module("db_backup", backup_args(pg_db, tmp_path / "backups", format="directory", jobs=2))
    assert result["verified"]["result"] == "ok" and os.path.isdir(result["path"])
    assert stat.S_IMODE(os.stat(result["path"]).st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (tmp_path / "backups").rglob("*") if p.is_file())
    reverified = run_module("db_backup", dict(connection_args(pg_db), state="verified", manifest_path=result["manifest_path"],
                                              verify="restore", jobs=2))
    assert reverified["verified"]["result"] == "ok"


def test_restore_verification_on_the_server_without_the_right_to_create_a_database_says_what_to_grant(pg_db, run_module,
                                                                                                     tmp_path):
    admin = pg_db.server.admin_connect(pg_db.name)
    with admin.cursor() as cur:
        cur.execute("CREATE ROLE reader LOGIN PASSWORD 'reader-pw-42' NOCREATEDB")
        cur.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
        cur.execute("GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO reader")
    admin.close()
    try:
        args = dict(backup_args(pg_db, tmp_path / "backups"), db_user="reader", db_password="reader-pw-42", verify_target="server")
        result = run_module("db_backup", args)
        assert result["failed"] and "grant CREATEDB" in result["msg"] and "verify=list" in result["msg"]
        assert files_under(tmp_path / "backups") in ([], ["test_db", "test_db/" + RUN_ID])
        listed = run_module("db_backup", dict(args, verify="list"))
        assert listed["verified"]["result"] == "ok"
        # The default restores on a scratch server of the controller's own: the user needs no right to create a database.
        scratch = run_module("db_backup", dict(args, verify_target="scratch", run_id="backup-run-scratch"))
        assert scratch["verified"]["result"] == "ok" and scratch["verified"]["level"] == "restore", scratch.get("msg")
        assert scratch["verified"]["target"].startswith("scratch PostgreSQL ")
    finally:
        admin = pg_db.server.admin_connect(pg_db.name)
        with admin.cursor() as cur:
            cur.execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM reader")
            cur.execute("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM reader")
            cur.execute("DROP ROLE reader")
        admin.close()


def test_the_verified_backup_goes_to_s3_encrypted_with_its_checksum(db, run_module, tmp_path, moto_server, aws_credentials):
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="eu-west-1")
    bucket = "backups-%s" % db.engine
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    result = run_module("db_backup", backup_args(db, tmp_path / "backups", verify="list", s3_bucket=bucket, s3_prefix="nightly",
                                                  aws_endpoint_url=moto_server, aws_region="eu-west-1"))
    assert not result.get("failed"), result.get("msg")
    name = os.path.basename(result["path"])
    assert result["s3"] == ["s3://%s/nightly/test_db/%s/%s" % (bucket, RUN_ID, n) for n in (name, "manifest.json")]
    head = s3.head_object(Bucket=bucket, Key="nightly/test_db/%s/%s" % (RUN_ID, name))
    assert head["ServerSideEncryption"] == "AES256" and head["Metadata"]["sha256"] == result["sha256"]
    assert head["ContentLength"] == result["size_bytes"]
    body = s3.get_object(Bucket=bucket, Key="nightly/test_db/%s/manifest.json" % RUN_ID)["Body"].read()
    assert json.loads(body)["sha256"] == result["sha256"]

    missing = run_module("db_backup", backup_args(db, tmp_path / "other", verify="checksum", s3_bucket="no-such-bucket",
                                                   aws_endpoint_url=moto_server, aws_region="eu-west-1"))
    assert missing["failed"] and "NoSuchBucket" in missing["msg"]


def test_a_table_the_user_cannot_read_is_named_before_anything_is_dumped(pg_db, run_module, tmp_path):
    admin = pg_db.server.admin_connect(pg_db.name)
    with admin.cursor() as cur:
        cur.execute("CREATE TABLE secret_ledger (id int)")
    admin.close()
    result = run_module("db_backup", backup_args(pg_db, tmp_path / "backups"))
    assert result["failed"] and "cannot count the rows of public.secret_ledger: permission denied" in result["msg"]
    assert files_under(tmp_path / "backups") in ([], ["test_db", "test_db/" + RUN_ID])
