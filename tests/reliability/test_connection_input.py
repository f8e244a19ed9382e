"""Bad connection settings through migrate.yml: each refused in preflight with its cause, never with its password.

One playbook run per engine covers every case: each case is a host of its own in the inventory (all pointing at the
test's database), so each has its own report and its own line in the output, and the runs stay short.
"""

import json
import socket
import subprocess
import threading
import time
from urllib.parse import quote

import pytest
import yaml

from sandbox import inventory as sandbox_inventory
from tests.integration.conftest import connection_args, read_only_login, run_playbook
from tests.reliability.conftest import assert_consistent, assert_no_secret, table_counts
from tests.reliability.test_bad_input import USERNAME_INDEX, index_names

pytestmark = pytest.mark.slow

# Wrong passwords long and distinctive enough that finding one in any output can only mean it was echoed.
WRONG_PASSWORD = "NotThePassword-7fQ2xK9vLm3Z"
# A '#' in a password not percent-encoded cuts a URL short: the part before it would pass for a port.
HASH_PASSWORD_HEAD, HASH_PASSWORD_TAIL = "Hx7qWrongHead", "9zTWrongTail4411"
HASH_PASSWORD = HASH_PASSWORD_HEAD + "#" + HASH_PASSWORD_TAIL
READER_PASSWORD = "ReadOnly-Pw-3mV8qT2w"
CONNECT_TIMEOUT = 3
MISSING_DATABASE = "safeindex_no_such_database"
LOGIN_REFUSED = {"postgresql": "password authentication failed for user", "mysql": "Access denied for user"}
DB_VARS = ("db_engine", "db_host", "db_port", "db_name", "db_user", "db_password")


class SilentServer:
    """A local port that accepts TCP connections and never says a word: a hung server, or a proxy without a backend.

    Records how long each client waited before it gave up (closed its end)."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.waits = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                client, _address = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._hold, args=(client,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _hold(self, client):
        accepted = time.monotonic()
        client.settimeout(0.2)
        try:
            while not self.stopping.is_set():
                try:
                    if not client.recv(4096):  # the client closed the connection: it gave up
                        break
                except TimeoutError:
                    continue
                except OSError:
                    break
            self.waits.append(time.monotonic() - accepted)
        finally:
            client.close()

    def stop(self):
        """Closing every connection also frees a client that would otherwise wait forever."""
        self.stopping.set()
        self.listener.close()
        for thread in self.threads:
            thread.join(timeout=5)


@pytest.fixture
def silent_server():
    server = SilentServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def read_only_user(db):
    """A user who may read every table of the test database and change nothing."""
    with read_only_login(db, "reliability_reader", READER_PASSWORD) as name:
        yield name


def url(db, password, port=None, separator="://"):
    return "%s%s%s:%s@%s:%s/%s" % (db.engine, separator, db.user, password, db.host, port or db.port, db.name)


def cases(db, silent_server, reader):
    """host name -> (its host vars, {each preflight check that must fail: what it must say})."""
    described = "%s://%s@%s:%s/" % (db.engine, db.user, db.host, db.port)
    read_only = {"privileges": ["%s may not create indexes on" % reader,
                                "only a table's owner may index it" if db.engine == "postgresql" else "lacks ALTER and INDEX"]}
    if db.engine == "mysql":
        # The spec's definitions are checked on a temporary copy of each table, which a SELECT-only user may not make.
        read_only["index spec"] = ["idx_user_username: cannot check the definition on an empty temporary copy of user",
                                   "lacks CREATE TEMPORARY TABLES on %s" % db.name]
        # Other sessions' transactions are visible only with PROCESS: a check that cannot be made fails, and says why.
        read_only["long transactions"] = ["could not check", "PROCESS privilege"]
    return {
        "wrong_password": ({"db_password": WRONG_PASSWORD}, {"connection": [described + db.name, LOGIN_REFUSED[db.engine]]}),
        "missing_database": ({"db_name": MISSING_DATABASE}, {"connection": [
            described + MISSING_DATABASE,
            'database "%s" does not exist' % MISSING_DATABASE if db.engine == "postgresql"
            else "to database '%s'" % MISSING_DATABASE]}),
        "silent_server": ({"db_host": "127.0.0.1", "db_port": silent_server.port, "db_connect_timeout": CONNECT_TIMEOUT},
                          {"connection": ["@127.0.0.1:%d/" % silent_server.port,
                                          "no answer within connect_timeout %ds" % CONNECT_TIMEOUT]}),
        "url_bad_port": ({"database_url": url(db, WRONG_PASSWORD, port="54x32")}, {"connection": [
            "malformed database_url %s://%s:***@%s:54x32/%s" % (db.engine, db.user, db.host, db.name),
            "the port is not a number from 0 to 65535"]}),
        "url_unencoded_password": ({"database_url": url(db, HASH_PASSWORD)}, {"connection": [
            "malformed database_url %s://***@%s:%s/%s" % (db.engine, db.host, db.port, db.name),
            "the user or password holds a character that ends the host part early", "percent-encoded"]}),
        "url_scheme_typo": ({"database_url": url(db, WRONG_PASSWORD, separator="//")}, {"connection": [
            "database_url %s//***@%s:%s/%s: unknown scheme ''" % (db.engine, db.host, db.port, db.name)]}),
        "read_only_user": ({"db_user": reader, "db_password": READER_PASSWORD}, read_only),
    }


def write_case_inventory(folder, db, host_cases):
    """One host per case; a host given a database_url has no db_* variables, as an app's inventory would."""
    inventory = sandbox_inventory.write_inventory(
        folder, dict.fromkeys(host_cases, db), host_vars={host: case[0] for host, case in host_cases.items()},
        monitor_duration_seconds=0,
    )
    hosts_file = inventory / "hosts.yml"
    hosts = yaml.safe_load(hosts_file.read_text())
    for variables in hosts["all"]["children"]["databases"]["hosts"].values():
        if "database_url" in variables:
            for name in DB_VARS:
                variables.pop(name)
    hosts_file.write_text(yaml.safe_dump(hosts))  # keeps the file's 0600
    return inventory


def test_bad_connection_settings_are_refused_in_preflight_naming_the_cause(db, tmp_path, silent_server, read_only_user):
    host_cases = cases(db, silent_server, read_only_user)
    inventory = write_case_inventory(tmp_path / "inventory", db, host_cases)
    spec_path = tmp_path / "indexes.yml"
    spec_path.write_text(yaml.safe_dump({"indexes": [USERNAME_INDEX]}))
    counts_before, indexes_before = table_counts(db), index_names(db)
    started = time.monotonic()
    try:
        completed = run_playbook("migrate.yml", inventory, "-e", "index_spec_file=%s" % spec_path, timeout=240)
    except subprocess.TimeoutExpired as exc:  # a connect that ignores its timeout hangs the run
        pytest.fail("migrate.yml did not finish within 240 s (a connect ignoring connect_timeout?): %s" % exc)
    elapsed = time.monotonic() - started
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0

    for host, (_variables, expected) in host_cases.items():
        reports = list((inventory / "artifacts" / host).glob("*/report.json"))
        assert len(reports) == 1, (host, completed.stdout[-3000:])
        report = json.loads(reports[0].read_text())
        assert report["status"] == "failed" and report["backup"] is None and report["indexes_created"] == 0, host
        failed = {row["check"]: row["detail"] for row in report["preflight"] if row["result"] == "fail"}
        # Only the cause fails: a bad password is no spec problem.
        assert sorted(failed) == sorted(expected), (host, failed)
        for check, words in expected.items():
            for word in words:
                assert word in failed[check], (host, word, failed[check])
                assert word in completed.stdout, (host, word)  # on the terminal too

    # The silent server: the client gave up after connect_timeout, not at its default (10 s) nor never.
    assert silent_server.waits, "nothing connected to the silent server"
    assert all(wait < CONNECT_TIMEOUT + 3 for wait in silent_server.waits), silent_server.waits
    assert max(silent_server.waits) >= CONNECT_TIMEOUT - 0.5, silent_server.waits
    assert elapsed < 180, elapsed

    # Nothing changed, nothing backed up, no password echoed: not the wrong ones, nor a piece of one cut at its '#'.
    assert_consistent(db, counts_before)
    assert index_names(db) == indexes_before
    backups = inventory / "backups"
    assert not backups.exists() or not any(path.is_file() for path in backups.rglob("*"))
    folders = (inventory / "artifacts", backups)
    for secret in (WRONG_PASSWORD, HASH_PASSWORD, HASH_PASSWORD_HEAD, HASH_PASSWORD_TAIL, READER_PASSWORD, db.password,
                   quote(HASH_PASSWORD, safe="")):
        assert_no_secret(secret, output, folders=folders)


def test_a_statement_may_outlast_the_connect_timeout(my_db):
    """The handshake's time limit (see the silent server above) must not cut a long statement short: an index build
    or the run lock's holder, waiting inside the server, outlasts connect_timeout by hours."""
    from ansible.module_utils.safeindex.core.connection import connection_params
    from ansible.module_utils.safeindex.engines import open_engine

    params = connection_params(dict(connection_args(my_db), database_url=None, connect_timeout=1))
    dialect = open_engine(params)
    try:
        started = time.monotonic()
        dialect.idle(2.5)
        # Well past connect_timeout; MariaDB's SLEEP() keeps its own clock and was measured ending 12 ms early.
        assert time.monotonic() - started >= 2.4
        assert dialect.server_version()  # and the session is still usable after it
    finally:
        dialect.close()
