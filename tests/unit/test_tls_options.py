"""TLS options: db_ssl_mode / db_ssl_ca or the DATABASE_URL's query, checked before connecting, and what each engine's
driver and client tools are given for them."""

import ssl

import pytest
from ansible.module_utils.safeindex.core.connection import connection_params
from ansible.module_utils.safeindex.core.errors import ConnectionConfigError
from ansible.module_utils.safeindex.engines.mysql import tls as mysql_tls
from ansible.module_utils.safeindex.engines.postgresql import tls as postgresql_tls

from sandbox.tls import make_ca

SECRET = "s3cret-pw"


def params(**given):
    base = dict(db_engine=None, db_host=None, db_port=None, db_name=None, db_user=None, db_password=None,
                database_url=None, connect_timeout=10, db_ssl_mode=None, db_ssl_ca=None)
    base.update(given)
    return base


@pytest.fixture
def ca_file(tmp_path):
    path = tmp_path / "global-bundle.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return str(path)


def pg(**given):
    return connection_params(params(db_engine="postgresql", db_name="chat", db_user="app", db_password=SECRET, **given))


def my(**given):
    return connection_params(params(db_engine="mysql", db_name="chat", db_user="app", db_password=SECRET, **given))


def test_without_tls_options_the_driver_keeps_its_default():
    result = pg()
    assert (result.ssl_mode, result.ssl_ca) == (None, None)
    assert postgresql_tls.driver_options(result) == {}
    assert mysql_tls.driver_options(my()) == {}
    assert mysql_tls.client_options(my()) == []


@pytest.mark.parametrize(
    "given, mode",
    [("verify-full", "verify-full"), ("require", "require"), ("VERIFY_IDENTITY", "verify-full"), ("VERIFY_CA", "verify-ca"),
     ("REQUIRED", "require"), ("PREFERRED", "prefer"), ("DISABLED", "disable"), (" Verify-CA ", "verify-ca")],
)
def test_the_mode_is_read_in_postgresqls_words_and_mysqls(given, mode):
    assert pg(db_ssl_mode=given).ssl_mode == mode


def test_an_unknown_mode_is_refused_before_connecting_naming_the_modes():
    with pytest.raises(ConnectionConfigError) as raised:
        pg(db_ssl_mode="strict")
    message = str(raised.value)
    assert "'strict'" in message and "verify-full" in message and "disable" in message
    assert SECRET not in message


def test_an_unknown_mode_in_the_url_is_refused_without_the_password():
    with pytest.raises(ConnectionConfigError) as raised:
        connection_params(params(database_url="postgresql://app:%s@db.example/chat?sslmode=always" % SECRET))
    assert "'always'" in str(raised.value) and SECRET not in str(raised.value)


def test_a_ca_file_that_does_not_exist_is_refused_before_connecting(tmp_path):
    missing = str(tmp_path / "nowhere.pem")
    with pytest.raises(ConnectionConfigError) as raised:
        pg(db_ssl_mode="verify-full", db_ssl_ca=missing)
    assert missing in str(raised.value) and "CA bundle" in str(raised.value)


def test_system_means_the_cas_the_system_trusts_for_both_engines():
    result = connection_params(params(database_url="postgresql://app:pw@db.example/chat?sslmode=verify-full&sslrootcert=system"))
    assert postgresql_tls.driver_options(result) == {"sslmode": "verify-full", "sslrootcert": "system"}
    context = mysql_tls.driver_options(my(db_ssl_mode="verify-full", db_ssl_ca="system"))["ssl"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert mysql_tls.client_options(my(db_ssl_mode="verify-full", db_ssl_ca="system")) == ["ssl", "ssl-verify-server-cert"]


def test_a_ca_without_a_mode_means_verify_full(ca_file):
    result = pg(db_ssl_ca=ca_file)
    assert (result.ssl_mode, result.ssl_ca) == ("verify-full", ca_file)


def test_the_url_query_gives_the_postgresql_tls_settings(ca_file):
    result = connection_params(params(database_url="postgresql://app:pw@db.example/chat?sslmode=verify-ca&sslrootcert=" + ca_file))
    assert (result.ssl_mode, result.ssl_ca) == ("verify-ca", ca_file)
    assert postgresql_tls.driver_options(result) == {"sslmode": "verify-ca", "sslrootcert": ca_file}


def test_the_url_query_gives_the_mysql_ca(ca_file):
    result = connection_params(params(database_url="mysql://app:pw@db.example/chat?ssl_ca=" + ca_file))
    assert (result.ssl_mode, result.ssl_ca) == ("verify-full", ca_file)


def test_the_options_override_the_url_query_and_the_other_query_settings_are_kept(ca_file):
    result = connection_params(params(database_url="postgresql://app:pw@db.example/chat?sslmode=prefer&target_session_attrs=read-write",
                                      db_ssl_mode="verify-full", db_ssl_ca=ca_file))
    assert postgresql_tls.driver_options(result) == {"target_session_attrs": "read-write", "sslmode": "verify-full",
                                                     "sslrootcert": ca_file}
    # The URL keeps its query as given (a restored database's URL is built from it).
    assert dict(result.options) == {"sslmode": "prefer", "target_session_attrs": "read-write"}


def test_pg_dump_and_pg_restore_get_the_same_tls_settings_in_their_conninfo(ca_file):
    result = pg(db_ssl_mode="verify-full", db_ssl_ca=ca_file)
    assert postgresql_tls.client_options(result) == {"sslmode": "verify-full", "sslrootcert": ca_file}


@pytest.mark.parametrize("mode, verify, check_hostname", [("require", ssl.CERT_NONE, False), ("verify-ca", ssl.CERT_REQUIRED, False),
                                                          ("verify-full", ssl.CERT_REQUIRED, True)])
def test_pymysql_gets_a_tls_context_that_checks_what_the_mode_says(mode, verify, check_hostname):
    options = mysql_tls.driver_options(my(db_ssl_mode=mode))
    assert set(options) == {"ssl"}
    assert (options["ssl"].verify_mode, options["ssl"].check_hostname) == (verify, check_hostname)


def test_pymysql_without_tls_when_disabled_and_its_default_when_preferred():
    assert mysql_tls.driver_options(my(db_ssl_mode="disable")) == {"ssl_disabled": True}
    assert mysql_tls.driver_options(my(db_ssl_mode="prefer")) == {}


def test_the_urls_ssl_ca_is_not_passed_to_pymysql_beside_the_context(tmp_path):
    ca_cert, _key = make_ca(tmp_path)
    result = connection_params(params(database_url="mysql://app:pw@127.0.0.1/chat?ssl_ca=%s&charset=utf8mb4" % ca_cert,
                                      db_ssl_mode="verify-ca"))
    options = mysql_tls.driver_options(result)
    assert set(options) == {"ssl", "charset"} and options["charset"] == "utf8mb4"


def test_a_ca_file_that_is_no_certificate_is_a_clear_error_for_pymysql(ca_file):
    with pytest.raises(ConnectionConfigError) as raised:
        mysql_tls.driver_options(my(db_ssl_mode="verify-full", db_ssl_ca=ca_file))
    assert ca_file in str(raised.value) and "PEM" in str(raised.value)


@pytest.mark.parametrize(
    "mode, lines",
    [
        ("disable", ["skip-ssl"]),
        ("prefer", []),
        ("require", ["ssl", "skip-ssl-verify-server-cert"]),
        ("verify-ca", ["ssl", 'ssl-ca="%(ca)s"', "skip-ssl-verify-server-cert"]),
        ("verify-full", ["ssl", 'ssl-ca="%(ca)s"', "ssl-verify-server-cert"]),
    ],
)
def test_mariadb_dump_gets_the_mode_in_its_defaults_file(ca_file, mode, lines):
    assert mysql_tls.client_options(my(db_ssl_mode=mode, db_ssl_ca=ca_file)) == [line % {"ca": ca_file} for line in lines]
