"""Reaching the database as the app does (its DATABASE_URL), and failing clearly when the login is wrong."""

import pytest

from tests.integration.conftest import index_args

pytestmark = pytest.mark.slow

MESSAGE_INDEX = {"name": "idx_message_conversation_timestamp", "table": "message", "columns": ["conversation_id", "timestamp"]}
SCHEMES = {"postgresql": ["postgresql", "postgres", "postgresql+psycopg2"], "mysql": ["mysql", "mysql+pymysql", "mariadb"]}
LOGIN_REFUSED = {"postgresql": "password authentication failed", "mysql": "Access denied"}


def test_the_apps_database_url_reaches_the_server_in_every_scheme(db, run_module):
    for scheme in SCHEMES[db.engine]:
        url = db.url().replace(db.engine + "://", scheme + "://", 1)
        result = run_module("db_index", dict(database_url=url, run_id="test-run-1", **MESSAGE_INDEX), check_mode=True)
        assert result["action"] == "created" and result["engine"] == db.engine, scheme
        assert db.password not in str(result)


def test_a_wrong_password_is_a_clear_error_without_the_password(db, run_module):
    result = run_module("db_index", dict(index_args(db, **MESSAGE_INDEX), db_password="not-the-password-123"))
    assert result["failed"] and LOGIN_REFUSED[db.engine] in result["msg"]
    assert "not-the-password-123" not in str(result)
