"""TCP keepalives and user timeouts (issue 21): checked settings, and exactly what goes to each driver and server."""

import socket

import pytest
from ansible.module_utils.safeindex.core.connection import CONNECTION_ARGUMENT_SPEC, connection_params
from ansible.module_utils.safeindex.core.errors import ConnectionConfigError
from ansible.module_utils.safeindex.engines import features_for
from ansible.module_utils.safeindex.engines.mysql import connection as mysql_connection
from ansible.module_utils.safeindex.engines.postgresql import connection as pg_connection


def params(**given):
    base = dict(db_engine="postgresql", db_host="db.example", db_port=None, db_name="chat", db_user="app",
                db_password="pw", database_url=None, connect_timeout=10)
    base.update(given)
    return base


def test_the_defaults_declare_a_silent_peer_dead_after_about_30_seconds():
    result = connection_params(params())
    assert (result.keepalive_idle, result.keepalive_interval, result.keepalive_count, result.tcp_user_timeout) == (15, 5, 3, None)
    assert result.dead_after_seconds == 30
    # The module options' defaults are the same numbers (the doc fragment says them too).
    assert {key: CONNECTION_ARGUMENT_SPEC[key].get("default") for key in
            ("keepalive_idle", "keepalive_interval", "keepalive_count", "tcp_user_timeout")} == {
        "keepalive_idle": 15, "keepalive_interval": 5, "keepalive_count": 3, "tcp_user_timeout": None}


def test_settings_given_are_used_and_tcp_user_timeout_overrides_the_sum():
    short = connection_params(params(keepalive_idle=2, keepalive_interval=1, keepalive_count=3))
    assert short.dead_after_seconds == 5
    assert connection_params(params(keepalive_idle="2", tcp_user_timeout="9")).dead_after_seconds == 9
    assert connection_params(params(tcp_user_timeout=0)).dead_after_seconds == 0  # the kernel's own


@pytest.mark.parametrize("key, value", [("keepalive_idle", 0), ("keepalive_interval", -1), ("keepalive_count", "three"),
                                        ("keepalive_idle", "1.5"), ("keepalive_count", 40000), ("tcp_user_timeout", -5),
                                        ("keepalive_idle", True)])
def test_a_setting_that_is_not_a_whole_number_in_range_is_refused_naming_it(key, value):
    with pytest.raises(ConnectionConfigError) as error:
        connection_params(params(**{key: value}))
    assert key in str(error.value) and "db_" + key in str(error.value) and "whole number" in str(error.value)


def test_libpq_gets_keepalives_and_a_user_timeout_in_milliseconds():
    options = pg_connection.driver_options(connection_params(params(keepalive_idle=2, keepalive_interval=1)), "safeindex")
    assert {key: options[key] for key in ("keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                                          "tcp_user_timeout")} == {
        "keepalives": 1, "keepalives_idle": 2, "keepalives_interval": 1, "keepalives_count": 3, "tcp_user_timeout": 5000}


def test_a_keepalive_setting_in_the_apps_url_wins_over_the_default():
    url = "postgresql://app:pw@db.example/chat?keepalives_idle=120"
    options = pg_connection.driver_options(connection_params(params(database_url=url)), "safeindex")
    assert options["keepalives_idle"] == "120" and options["keepalives_count"] == 3


@pytest.mark.parametrize("version, checks", [("12.20", False), ("13.16", False), ("14.0", True), ("15.18 (Debian)", True),
                                             ("18.6", True)])
def test_the_server_checks_a_running_statements_client_from_14_on(version, checks):
    assert features_for("postgresql").for_server(version).client_connection_check is checks
    assert features_for("mysql").for_server("10.11.6-MariaDB").client_connection_check is False


def test_the_postgresql_session_sets_the_servers_keepalives_and_on_14_the_client_check():
    settings = connection_params(params(keepalive_idle=2, keepalive_interval=1, keepalive_count=3))
    query, values = pg_connection.server_keepalive_statement(settings, features_for("postgresql").for_server("15.18"))
    assert query == "SELECT " + ", ".join(["set_config(%s, %s, false)"] * 5)
    assert dict(zip(values[::2], values[1::2], strict=True)) == {
        "tcp_keepalives_idle": "2", "tcp_keepalives_interval": "1", "tcp_keepalives_count": "3",
        "tcp_user_timeout": "5000", "client_connection_check_interval": "1000"}
    query, values = pg_connection.server_keepalive_statement(settings, features_for("postgresql").for_server("13.16"))
    assert "client_connection_check_interval" not in values and query.count("set_config") == 4


class FakeSocket:
    def __init__(self, family):
        self.family = family
        self.options = {}

    def setsockopt(self, level, option, value):
        self.options[(level, option)] = value


def test_the_mysql_socket_gets_keepalives_and_a_user_timeout():
    sock = FakeSocket(socket.AF_INET)
    mysql_connection.set_keepalives(sock, connection_params(params(db_engine="mysql", keepalive_idle=2, keepalive_interval=1)))
    assert sock.options[(socket.SOL_SOCKET, socket.SO_KEEPALIVE)] == 1
    assert sock.options[(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)] == 2
    assert sock.options[(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL)] == 1
    assert sock.options[(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)] == 3
    assert sock.options[(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT)] == 5000


def test_a_unix_socket_gets_no_tcp_options():
    sock = FakeSocket(socket.AF_UNIX)
    mysql_connection.set_keepalives(sock, connection_params(params(db_engine="mysql")))
    assert sock.options == {}


def test_a_real_socket_takes_the_options():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        mysql_connection.set_keepalives(sock, connection_params(params(db_engine="mysql", keepalive_idle=7)))
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 7
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 7000 + 5 * 3 * 1000
