"""Connection settings: the app's DATABASE_URL or explicit parameters; a password never in a message."""

import pytest
from ansible.module_utils.safeindex.core.connection import connection_params, mask_url, parse_database_url
from ansible.module_utils.safeindex.core.errors import ConnectionConfigError

SECRET = "s3cr%40t:pw"


def params(**given):
    base = dict(db_engine=None, db_host=None, db_port=None, db_name=None, db_user=None, db_password=None,
                database_url=None, connect_timeout=10)
    base.update(given)
    return base


@pytest.mark.parametrize(
    "url, engine, port",
    [
        ("postgresql://app:pw@db.example:6543/chat", "postgresql", 6543),
        ("postgres://app:pw@db.example/chat", "postgresql", 5432),
        ("postgresql+psycopg2://app:pw@db.example/chat", "postgresql", 5432),
        ("mysql://app:pw@db.example/chat", "mysql", 3306),
        ("mysql+pymysql://app:pw@db.example:3307/chat", "mysql", 3307),
        ("mariadb://app:pw@db.example/chat", "mysql", 3306),
    ],
)
def test_the_apps_database_url_is_understood(url, engine, port):
    result = connection_params(params(database_url=url))
    assert (result.engine, result.host, result.port, result.database, result.user, result.password) == (
        engine, "db.example", port, "chat", "app", "pw")


def test_url_parts_are_percent_decoded_and_query_options_kept():
    result = connection_params(params(database_url="postgresql://app%40corp:" + SECRET + "@h/db?sslmode=require"))
    assert result.user == "app@corp" and result.password == "s3cr@t:pw"
    assert dict(result.options) == {"sslmode": "require"}


def test_explicit_settings_override_the_url():
    result = connection_params(params(database_url="postgresql://app:pw@h:1/db", db_host="tunnel", db_port=15432))
    assert (result.host, result.port, result.database) == ("tunnel", 15432, "db")


def test_explicit_settings_alone():
    result = connection_params(params(db_engine="mysql", db_name="chat", db_user="app", db_password="pw"))
    assert (result.engine, result.host, result.port) == ("mysql", "127.0.0.1", 3306)


@pytest.mark.parametrize(
    "url, message",
    [
        ("oracle://app:%s@h/db" % SECRET, "unknown scheme 'oracle'"),
        ("postgresql://app:%s@h:notaport/db" % SECRET, "malformed database_url"),
        ("postgresql://app:%s@h/" % SECRET, "must look like"),
        ("postgresql:///db", "must look like"),
        ("not a url", "unknown scheme"),
    ],
)
def test_a_malformed_url_is_named_without_its_password(url, message):
    with pytest.raises(ConnectionConfigError, match=message) as raised:
        parse_database_url(url)
    assert "s3cr" not in str(raised.value)


def test_missing_settings_are_named():
    with pytest.raises(ConnectionConfigError, match="no database engine"):
        connection_params(params(db_name="x", db_user="y"))
    with pytest.raises(ConnectionConfigError, match="db_name, db_user"):
        connection_params(params(db_engine="postgresql"))


def test_describe_and_mask_never_show_the_password():
    result = connection_params(params(database_url="postgresql://app:%s@h/db" % SECRET))
    assert "s3cr" not in result.describe()
    assert mask_url("postgresql://app:%s@h/db" % SECRET) == "postgresql://app:***@h/db"
