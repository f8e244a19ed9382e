"""TLS to the database, as RDS users need it: servers of their own that take the app user over TCP only with TLS
(PostgreSQL `hostssl`, MariaDB `REQUIRE SSL`), certificates of a CA made for the test; the modules connect with
db_ssl_mode and db_ssl_ca (or the DATABASE_URL's query), the server confirms the session is encrypted, a wrong CA is
refused clearly, and the backup's own client tools go over TLS too."""

import os

import pytest
import yaml

import sandbox
from sandbox.tls import make_ca
from tests.integration.conftest import connection_args, index_in_catalog, quiet, run_playbook, write_inventory

pytestmark = pytest.mark.slow

MESSAGE_INDEX = {"name": "idx_message_conversation_timestamp", "table": "message", "columns": ["conversation_id", "timestamp"]}
# How each server says whether a session is encrypted: its own view of our session.
SESSION_ENCRYPTED = {
    "postgresql": "SELECT ssl::text, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    "mysql": "SHOW SESSION STATUS LIKE 'Ssl_cipher'",
}
REFUSED_PLAINTEXT = {"postgresql": "no encryption", "mysql": "Access denied"}


@pytest.fixture(scope="module", params=["postgresql", "mysql"])
def tls_db(request):
    """A TLS-only sandbox server of each engine, started for this file alone (other tests keep their plain servers)."""
    with sandbox.running(request.param, messages=2000, progress=quiet, tls=True) as db:
        yield db


@pytest.fixture(scope="module")
def wrong_ca(tmp_path_factory):
    """A CA that did not sign the server's certificate."""
    cert, _key = make_ca(tmp_path_factory.mktemp("wrong-ca"), "not the server's CA")
    return str(cert)


def tls_args(db, mode, ca=None, **extra):
    return dict(connection_args(db), db_ssl_mode=mode, db_ssl_ca=ca or db.ca_file, **extra)


def session_is_encrypted(db, **options):
    """Connect as the modules do (module_utils' connection parameters and engine) and ask the server about our session."""
    from ansible.module_utils.safeindex.core.connection import CONNECTION_ARGUMENT_SPEC, connection_params
    from ansible.module_utils.safeindex.engines import open_engine

    given = dict.fromkeys(CONNECTION_ARGUMENT_SPEC) | dict(connect_timeout=10) | options
    engine = open_engine(connection_params(given), application_name="safeindex tls test")
    try:
        with engine.conn.cursor() as cur:
            cur.execute(SESSION_ENCRYPTED[db.engine])
            row = cur.fetchone()
    finally:
        engine.close()
    return {"postgresql": lambda: row[0] == "true" and row[1].startswith("TLS"), "mysql": lambda: bool(row and row[1])}[db.engine]()


@pytest.mark.parametrize("mode", ["verify-ca", "verify-full"])
def test_with_the_ca_the_modules_connect_and_the_server_sees_an_encrypted_session(tls_db, run_module, mode):
    assert session_is_encrypted(tls_db, **tls_args(tls_db, mode))
    result = run_module("db_index", tls_args(tls_db, mode, run_id="tls-run-1", **MESSAGE_INDEX), check_mode=True)
    assert result["action"] == "created" and result["engine"] == tls_db.engine, result.get("msg")


def test_prefer_encrypts_when_the_server_offers_tls(tls_db):
    # MariaDB: the one TLS context of the process (engines/mysql/tls.py preferred_context), here too and again.
    for _ in range(2):
        assert session_is_encrypted(tls_db, **dict(connection_args(tls_db), db_ssl_mode="prefer"))


def test_require_encrypts_without_a_ca(tls_db):
    assert session_is_encrypted(tls_db, **dict(connection_args(tls_db), db_ssl_mode="require"))


def test_the_database_url_query_carries_the_tls_settings(tls_db, run_module):
    query = {"postgresql": "?sslmode=verify-full&sslrootcert=", "mysql": "?ssl_ca="}[tls_db.engine] + tls_db.ca_file
    assert session_is_encrypted(tls_db, database_url=tls_db.url() + query)
    result = run_module("db_index", dict(database_url=tls_db.url() + query, run_id="tls-run-1", **MESSAGE_INDEX), check_mode=True)
    assert result["action"] == "created", result.get("msg")
    assert tls_db.password not in str(result)


def test_the_server_refuses_a_session_without_tls(tls_db, run_module):
    """What makes the tests above mean something: these servers take no plaintext login."""
    result = run_module("db_index", dict(connection_args(tls_db), db_ssl_mode="disable", run_id="tls-run-1", **MESSAGE_INDEX),
                        check_mode=True)
    assert result["failed"] and REFUSED_PLAINTEXT[tls_db.engine] in result["msg"]
    assert tls_db.password not in str(result)


@pytest.mark.parametrize("mode", ["verify-ca", "verify-full"])
def test_a_wrong_ca_is_refused_clearly_without_the_password(tls_db, run_module, wrong_ca, mode):
    result = run_module("db_index", tls_args(tls_db, mode, wrong_ca, run_id="tls-run-1", **MESSAGE_INDEX), check_mode=True)
    assert result["failed"] and result["action"] == "failed"
    assert "cannot connect to" in result["msg"] and "certificate verify failed" in result["msg"].lower()
    assert tls_db.password not in str(result)


def test_a_missing_ca_file_is_refused_before_connecting(tls_db, run_module, tmp_path):
    missing = str(tmp_path / "global-bundle.pem")
    result = run_module("db_index", tls_args(tls_db, "verify-full", missing, run_id="tls-run-1", **MESSAGE_INDEX), check_mode=True)
    assert result["failed"] and missing in result["msg"] and "cannot connect" not in result["msg"]


def test_a_backup_goes_over_tls_and_lists(tls_db, run_module, tmp_path):
    """MariaDB's REQUIRE SSL refuses a mariadb-dump without TLS; pg_dump gets the same sslmode and CA (its conninfo)."""
    args = tls_args(tls_db, "verify-full", run_id="tls-run-1", host_name="test_db", backup_dir=str(tmp_path / "backups"), verify="list")
    planned = run_module("db_backup", args, check_mode=True)
    if tls_db.engine == "postgresql":
        assert "sslmode='verify-full'" in planned["plan"]["command"]
        assert "sslrootcert='%s'" % tls_db.ca_file in planned["plan"]["command"]
    result = run_module("db_backup", args)
    assert not result.get("failed"), result.get("msg")
    assert result["verified"]["result"] == "ok"
    assert os.path.getsize(result["path"]) > 0
    assert tls_db.password not in str(result)


@pytest.mark.parametrize("tls_db", ["mysql"], indirect=True)
def test_mariadb_dump_gets_tls_in_its_private_defaults_file(tls_db, tmp_path):
    from ansible.module_utils.safeindex.core.connection import CONNECTION_ARGUMENT_SPEC, connection_params
    from ansible.module_utils.safeindex.engines import dumper_for

    given = dict.fromkeys(CONNECTION_ARGUMENT_SPEC) | dict(connect_timeout=10) | tls_args(tls_db, "verify-full")
    dumper = dumper_for(connection_params(given))
    path = dumper._defaults_file(str(tmp_path))
    lines = open(path).read().splitlines()
    assert "ssl" in lines and 'ssl-ca="%s"' % tls_db.ca_file in lines and "ssl-verify-server-cert" in lines
    assert lines.index("ssl") < lines.index("[mysql]")  # in [client], which mariadb-dump reads too
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_the_dump_tool_itself_checks_the_servers_certificate(tls_db, tmp_path, wrong_ca):
    """The module's driver refuses a wrong CA first; here the dump tool alone is given one, and refuses it too:
    the TLS settings reach pg_dump's conninfo and mariadb-dump's defaults file."""
    from ansible.module_utils.safeindex.backup.clients import ClientError, private_dir
    from ansible.module_utils.safeindex.core.connection import CONNECTION_ARGUMENT_SPEC, connection_params
    from ansible.module_utils.safeindex.engines import dumper_for

    def dump(ca):
        given = dict.fromkeys(CONNECTION_ARGUMENT_SPEC) | dict(connect_timeout=10) | tls_args(tls_db, "verify-ca", ca)
        dumper = dumper_for(connection_params(given))
        target = str(tmp_path / ("dump-%s" % os.path.basename(os.path.dirname(ca))))
        with private_dir() as secrets:
            dumper.dump(target, dumper.default_format, 1, 1, secrets)
        return target

    assert os.path.getsize(dump(tls_db.ca_file)) > 0
    with pytest.raises(ClientError) as refused:
        dump(wrong_ca)
    assert "certificate" in str(refused.value).lower() and tls_db.password not in str(refused.value)


def migrate(folder, db, index, **host_vars):
    """migrate.yml with a one-index spec, the inventory's host vars as given."""
    spec = folder / "indexes.yml"
    spec.write_text(yaml.safe_dump({"indexes": [index]}))
    inventory = write_inventory(folder / "inventory", db, **host_vars)
    return run_playbook("migrate.yml", inventory, "-e", "index_spec_file=%s" % spec)


def test_a_whole_run_goes_over_tls_with_the_inventorys_ssl_settings(tls_db, tmp_path):
    index = dict(MESSAGE_INDEX, name="idx_tls_whole_run")
    completed = migrate(tmp_path, tls_db, index, db_ssl_mode="verify-full", db_ssl_ca=tls_db.ca_file)
    try:
        assert completed.returncode == 0, completed.stdout[-3000:]
        assert "Total indexes in place: 1/1" in completed.stdout
        assert index_in_catalog(tls_db, index["table"], index["name"])["usable"]
        assert tls_db.password not in completed.stdout + completed.stderr
    finally:
        # The server is shared by this file's tests, which expect the index still to build.
        conn = tls_db.connect()
        with conn.cursor() as cur:
            cur.execute("DROP INDEX IF EXISTS %s" % index["name"] if tls_db.engine == "postgresql"
                        else "DROP INDEX IF EXISTS %s ON %s" % (index["name"], index["table"]))
        conn.close()


def test_a_run_with_the_wrong_ca_in_the_inventory_is_refused_at_preflight(tls_db, tmp_path, wrong_ca):
    index = dict(MESSAGE_INDEX, name="idx_tls_refused")
    completed = migrate(tmp_path, tls_db, index, db_ssl_mode="verify-ca", db_ssl_ca=wrong_ca)
    assert completed.returncode != 0
    assert "preflight refused the run" in completed.stdout and "certificate verify failed" in completed.stdout.lower()
    assert not index_in_catalog(tls_db, index["table"], index["name"])
    assert tls_db.password not in completed.stdout + completed.stderr
