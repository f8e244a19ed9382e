"""MariaDB may stop a build over its max_statement_time with plain 1317 "Query execution was interrupted"."""

from types import SimpleNamespace

import pymysql
from ansible.module_utils.safeindex.core.errors import StatementTimeout
from ansible.module_utils.safeindex.engines.base import Statement
from ansible.module_utils.safeindex.engines.mysql.dialect import MysqlEngine

INTERRUPTED = pymysql.err.OperationalError(1317, "Query execution was interrupted")


def dialect_with_an_open_connection():
    dialect = MysqlEngine.__new__(MysqlEngine)  # no server needed: only the error mapping is under test
    dialect.conn = SimpleNamespace(open=True)
    return dialect


def test_an_interruption_of_a_statement_with_a_timeout_is_its_timeout():
    error = dialect_with_an_open_connection()._error(INTERRUPTED, Statement("ALTER TABLE ...", timeout=0.5))
    assert isinstance(error, StatementTimeout) and "statement_timeout" in str(error)


def test_an_interruption_without_a_timeout_is_not_called_a_timeout():
    error = dialect_with_an_open_connection()._error(INTERRUPTED, Statement("ALTER TABLE ..."))
    assert not isinstance(error, StatementTimeout) and "interrupted" in str(error)
