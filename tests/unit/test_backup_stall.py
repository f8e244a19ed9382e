"""The backup's clients against a network that goes silent: the stall_timeout settings each engine's clients get, the
watchdog of the clients that have no timeout of their own, and what a restore check cut off by the network says."""

import gzip
import time
from types import SimpleNamespace

import pytest
from ansible.module_utils.safeindex.backup import take
from ansible.module_utils.safeindex.backup.clients import ClientError, ConnectionLost
from ansible.module_utils.safeindex.core.connection import ConnectionParams
from ansible.module_utils.safeindex.core.errors import DatabaseUnavailable
from ansible.module_utils.safeindex.engines.mysql.dump import MysqlDumper
from ansible.module_utils.safeindex.engines.postgresql.dump import PostgresDumper

MARIADB_VERSION = "mariadb-dump  Ver 10.19 Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)"


def fake_mariadb_tools(tmp_path, dump_body, client_body="cat > /dev/null"):
    """mariadb-dump and mariadb as shell scripts: --version answers, anything else runs the body."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name, body in (("mariadb-dump", dump_body), ("mariadb", client_body)):
        script = folder / name
        script.write_text('#!/bin/sh\nif [ "$2" = --version ] || [ "$1" = --version ]; then echo "%s"; exit 0; fi\n%s\n'
                          % (MARIADB_VERSION, body))
        script.chmod(0o755)
    return str(folder)


def mysql_dumper(tmp_path, dump_body, client_body="cat > /dev/null", stall=1):
    params = ConnectionParams(engine="mysql", host="10.213.7.2", port=3306, database="chatbot", user="app", password="s3cret-pw")
    dumper = MysqlDumper(params, fake_mariadb_tools(tmp_path, dump_body, client_body))
    dumper.stall_timeout = stall
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    return dumper, str(secrets)


def test_a_dump_whose_output_stops_is_stopped_after_the_stall_timeout_naming_the_lost_connection(tmp_path):
    dumper, secrets = mysql_dumper(tmp_path, "echo '-- MariaDB dump'; exec sleep 60")
    started = time.monotonic()
    with pytest.raises(ConnectionLost) as raised:
        dumper.dump(str(tmp_path / "chatbot.sql.gz"), "sql", 1, 1, secrets)
    assert time.monotonic() - started < 10  # not the sleep's minute
    assert "no byte of the dump moved for 1 s (stall_timeout, backup_stall_timeout in the inventory)" in str(raised.value)
    assert "the connection to 10.213.7.2:3306 was lost" in str(raised.value)


def test_a_slow_dump_that_keeps_moving_is_not_taken_for_a_lost_connection(tmp_path):
    dumper, secrets = mysql_dumper(tmp_path, "for i in 1 2 3 4 5; do echo \"-- line $i\"; sleep 0.25; done", stall=1)
    target = tmp_path / "chatbot.sql.gz"
    dumper.dump(str(target), "sql", 1, 1, secrets)  # 1.25 s in all, never 1 s without a byte
    assert gzip.decompress(target.read_bytes()).decode().splitlines()[-1] == "-- line 5"


def test_a_restore_whose_client_stops_reading_is_stopped_after_the_stall_timeout(tmp_path):
    dumper, secrets = mysql_dumper(tmp_path, "true", client_body="exec sleep 60")
    dump = tmp_path / "chatbot.sql.gz"
    dump.write_bytes(gzip.compress(b"INSERT INTO t VALUES (1);\n" * 200000, compresslevel=1))  # more than a pipe holds
    started = time.monotonic()
    with pytest.raises(ConnectionLost, match="the connection to 10.213.7.2:3306 was lost"):
        dumper.restore(str(dump), "safeindex_verify_x", 1, secrets)
    assert time.monotonic() - started < 10


def test_no_watchdog_when_the_stall_timeout_is_zero(tmp_path):
    dumper, secrets = mysql_dumper(tmp_path, "echo '-- MariaDB dump'; sleep 0.3; echo done", stall=0)
    dumper.dump(str(tmp_path / "chatbot.sql.gz"), "sql", 1, 1, secrets)


def pg_dumper(options=(), stall=20):
    params = ConnectionParams(engine="postgresql", host="10.213.7.2", port=5432, database="chatbot", user="app",
                              password="s3cret-pw", options=options)
    dumper = PostgresDumper(params)
    dumper.stall_timeout = stall
    return dumper


def conninfo_words(dumper):
    return dumper._conninfo("chatbot")


def test_pg_dump_and_pg_restore_give_a_silent_connection_up_on_both_sides_after_the_stall_timeout():
    words = conninfo_words(pg_dumper())
    for setting in ("keepalives='1'", "keepalives_idle='5'", "keepalives_interval='5'", "keepalives_count='3'",
                    "tcp_user_timeout='20000'"):
        assert setting in words
    # The server's side of the session too, or it would keep the dump's snapshot for the server's two hours.
    assert ("options='-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"
            " -c tcp_user_timeout=20000'") in words


def test_the_database_urls_own_options_are_kept_after_ours():
    words = conninfo_words(pg_dumper(options=(("options", "-c search_path=app"),)))
    assert "-c tcp_user_timeout=20000 -c search_path=app'" in words


def test_a_stall_timeout_of_zero_leaves_libpqs_defaults():
    assert "keepalive" not in conninfo_words(pg_dumper(stall=0)) and "options=" not in conninfo_words(pg_dumper(stall=0))


def test_a_clients_connection_timed_out_is_named_as_the_lost_connection():
    dumper = pg_dumper()
    assert "The connection to 10.213.7.2:5432 was lost: no answer for about 20 s" in dumper._lost(
        "pg_restore: error: could not send data to server: Connection timed out")
    assert "The server at 10.213.7.2:5432 did not answer within connect_timeout 10 s: the network to it is down" in dumper._lost(
        'pg_restore: error: connection to server at "10.213.7.2", port 5432 failed: timeout expired')
    assert "The connection to 10.213.7.2:5432 was lost: the server ended it, or the network to it failed" in dumper._lost(
        "pg_restore: error: error returned by PQputCopyData: server closed the connection unexpectedly")
    assert dumper._lost("pg_restore: error: relation \"x\" already exists") == ""


class FakeEngine:
    """The SQL side of a restore check on the server; its copies fail to connect once the network is gone."""

    def __init__(self):
        self.params = SimpleNamespace(database="chatbot")
        self.calls = []

    def drop_scratch_databases_left(self, database):
        self.calls.append(("sweep", database))
        return []

    def drop_scratch_database(self, name):
        self.calls.append(("drop", name))

    def create_scratch_database(self, name):
        self.calls.append(("create", name))

    def mark_scratch_database(self, name, database):
        self.calls.append(("mark", name, database))

    def connect_to(self, database):
        raise DatabaseUnavailable("cannot connect to postgresql://app@10.213.7.2:5432/chatbot: no answer within connect_timeout 10s")


class CutOffDumper:
    progress_file = None
    progress_log = None

    def __init__(self, error):
        self.error = error

    def restore(self, path, database, jobs, secrets, clean=False):
        raise self.error


def test_a_restore_check_cut_off_by_the_network_says_so_and_who_drops_its_scratch_database():
    engine = FakeEngine()
    lost = ConnectionLost("pg_restore exited with 1: could not send data to server: Connection timed out. The connection"
                          " to 10.213.7.2:5432 was lost")
    with pytest.raises(take.BackupFailed) as raised:
        take._restore_and_count(engine, CutOffDumper(lost), "/backups/chatbot.pgdump", [("public", "user")], "run-1", 1)
    name = take.scratch_name("run-1", "chatbot")
    message = str(raised.value)
    assert message.startswith("the restore check into %s lost its connection to the server: pg_restore exited" % name)
    assert ("the scratch database %s could not be dropped now (cannot connect to postgresql://app@10.213.7.2:5432/chatbot:"
            " no answer within connect_timeout 10s): the next restore check on this server drops it" % name) in message
    # An earlier run's copy is swept first; this one is marked as the restore check's, so the next run finds it.
    assert engine.calls == [("sweep", "chatbot"), ("drop", name), ("create", name), ("mark", name, "chatbot")]


def test_a_dump_that_does_not_restore_is_still_named_as_such():
    with pytest.raises(take.BackupFailed, match="^the dump does not restore: pg_restore exited with 1: syntax error"):
        take._restore_and_count(FakeEngine(), CutOffDumper(ClientError("pg_restore exited with 1: syntax error")),
                                "/backups/chatbot.pgdump", [("public", "user")], "run-1", 1)


class SlowScratchRestore:
    """The restore check's client on the controller, slow over one chunk (a big statement)."""

    def __init__(self):
        self.chunks = []

    def write(self, chunk):
        if not self.chunks:
            time.sleep(1.6)
        self.chunks.append(chunk)


def test_the_scratch_servers_slow_restore_is_not_taken_for_a_stalled_dump(tmp_path):
    # The dump goes on writing (every 0.2 s) while the first chunk waits 1.6 s in feed.write, more than stall_timeout 1.
    dumper, secrets = mysql_dumper(tmp_path, "echo '-- first'; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.2; echo \"-- $i\"; done")
    feed = SlowScratchRestore()
    dumper.dump(str(tmp_path / "chatbot.sql.gz"), "sql", 1, 1, secrets, feed=feed)
    assert b"".join(feed.chunks).splitlines()[-1] == b"-- 10"


class FakeHolder:
    """The session that exports the dump's snapshot (engines/postgresql/backup.py), recording what it is sent."""

    def __init__(self):
        from ansible.module_utils.safeindex.engines.postgresql.backup import PostgresBackup

        self.sent, self.closed = [], False
        self.conn = SimpleNamespace(closed=False)
        self.snapshot = PostgresBackup.exported_snapshot.__get__(self)

    def execute(self, statement):
        self.sent.append((str(statement.sql), statement.params))

    def _rows(self, query, params=None):
        return [("00000003-1",)] if "pg_export_snapshot" in query else [(5,)]

    def row_counts(self, tables):
        return {"public.user": 5}

    def close(self):
        self.closed = self.conn.closed = True


def test_a_failed_dump_closes_the_snapshots_session_instead_of_sending_a_rollback_the_dead_network_would_hold():
    holder = FakeHolder()
    with pytest.raises(ConnectionLost):
        with holder.snapshot():
            raise ConnectionLost("pg_dump exited with 1: … Connection timed out")
    assert holder.closed and not any("ROLLBACK" in sql for sql, _params in holder.sent)
    finished = FakeHolder()
    with finished.snapshot():
        pass
    assert finished.sent[-1][0] == "ROLLBACK" and not finished.closed


def test_the_snapshots_session_ends_on_the_server_too_once_the_network_is_gone():
    holder = FakeHolder()
    dumper = pg_dumper()
    dumper.dump = lambda *args, **kwargs: None
    engine = SimpleNamespace(params=SimpleNamespace(database="chatbot"), connect_to=lambda database: holder)
    holder.exported_snapshot = holder.snapshot
    assert dumper.dump_with_counts(engine, "/backups/x.pgdump", "custom", 1, 1, [("public", "user")], "/secrets") == (
        {"public.user": 5}, None)
    settings = [params for sql, params in holder.sent if "set_config" in sql]
    assert settings == [("tcp_keepalives_idle", "5"), ("tcp_keepalives_interval", "5"), ("tcp_keepalives_count", "3"),
                        ("tcp_user_timeout", "20000")]
