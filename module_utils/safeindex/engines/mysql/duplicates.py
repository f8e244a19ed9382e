"""MySQL's and MariaDB's unique precheck: GROUP BY the index's keys, in a READ ONLY transaction under the flavour's
statement timeout (MariaDB max_statement_time, MySQL max_execution_time).

GROUP BY compares a column with the column's collation, as the unique index does: under a case-insensitive collation
(MariaDB's default utf8mb4_general_ci) 'a' and 'A' are one key, and under a PAD SPACE one 'a' and 'a ' are too. A
prefix key part of n is LEFT(column, n): n characters of a string, n bytes of a binary string, as the index stores it.
A key with a NULL in it is never a duplicate (MySQL's unique indexes have no NULLS NOT DISTINCT).
"""

from __future__ import annotations

from ansible.module_utils.safeindex.core.errors import ServerRefused, StatementTimeout
from ansible.module_utils.safeindex.engines.interface.duplicates import DuplicateKeys, Duplicates
from ansible.module_utils.safeindex.engines.mysql.connection import QUERY_INTERRUPTED, quote


def key_parts(definition) -> list:
    """Each key part as SQL: a quoted column (LEFT() of it for a prefix), or the server's text of a functional key."""
    parts = []
    for column in definition.columns:
        if column.name is None:
            # A functional key part (MySQL 8) as the catalog gives it, not free text.
            parts.append("(%s)" % column.expression)
        elif column.length:
            parts.append("LEFT(%s, %d)" % (quote(column.name), int(column.length)))
        else:
            parts.append(quote(column.name))
    return parts


def grouped_sql(definition, select: str) -> str:
    """SELECT <select> FROM the table WHERE <no NULL key part> GROUP BY <keys> HAVING COUNT(*) > 1."""
    keys = key_parts(definition)
    conditions = ["%s IS NOT NULL" % k for k in keys] if definition.nulls_distinct else []
    table = "%s.%s" % (quote(definition.schema), quote(definition.table)) if definition.schema else quote(definition.table)
    query = "SELECT %s FROM %s" % (select, table)
    if conditions:
        query += " WHERE " + " AND ".join(conditions)
    return query + " GROUP BY %s HAVING COUNT(*) > 1" % ", ".join(keys)


def count_sql(definition) -> str:
    """One row: the number of duplicate key groups and of the rows in them."""
    return "SELECT COUNT(*), COALESCE(SUM(n), 0) FROM (%s) AS duplicate_groups" % grouped_sql(definition, "COUNT(*) AS n")


def samples_sql(definition, limit: int) -> str:
    """The most repeated keys, `limit` of them: the key parts, then how many rows hold that key."""
    select = ", ".join(key_parts(definition) + ["COUNT(*)"])
    return grouped_sql(definition, select) + " ORDER BY COUNT(*) DESC LIMIT %d" % int(limit)


class MysqlDuplicates(Duplicates):
    def duplicate_keys(self, definition, timeout: float, samples: int = 0) -> DuplicateKeys:
        try:
            # _read_only (engines/mysql/explain.py): the flavour's timeout, START TRANSACTION READ ONLY, rollback.
            with self._read_only(timeout):
                groups, rows = self._rows(count_sql(definition))[0]
                found = DuplicateKeys(groups=int(groups), rows=int(rows or 0))
                if groups and samples:
                    found.samples = [(tuple(r[:-1]), int(r[-1])) for r in self._rows(samples_sql(definition, samples))]
        except ServerRefused as exc:
            # MariaDB stops some SELECTs over max_statement_time with plain "Query execution was interrupted".
            if timeout and exc.details.get("code") == QUERY_INTERRUPTED:
                raise StatementTimeout("the scan ran over its statement timeout and was stopped: %s" % exc,
                                       code=QUERY_INTERRUPTED) from None
            raise
        return found
