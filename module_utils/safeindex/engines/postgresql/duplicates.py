"""PostgreSQL's unique precheck: GROUP BY the index's keys, in a READ ONLY transaction under SET LOCAL statement_timeout.

GROUP BY compares a column with the column's collation, as the unique index does (a nondeterministic ICU collation makes
'a' and 'A' one key in both). A partial index's predicate limits the rows; a key with a NULL in it is never a duplicate
unless the index is NULLS NOT DISTINCT (then GROUP BY's own rule, NULLs equal, is the index's rule too). An operator
class does not change equality for a unique B-tree, the only access method that builds unique indexes.
"""

from __future__ import annotations

try:
    from psycopg2 import sql
except ImportError:  # reported by the module as a missing requirement
    sql = None

from ansible.module_utils.safeindex.engines.interface.duplicates import DuplicateKeys, Duplicates


def key_parts(definition) -> list:
    """Each key part as SQL: a column quoted by the driver, or the server's own text of an expression."""
    # Expressions and predicates come from the server's catalog (the canonical definition), not from free text.
    return [sql.Identifier(c.name) if c.name is not None else sql.SQL("(%s)" % c.expression) for c in definition.columns]


def grouped_sql(definition, select) -> sql.Composed:
    """SELECT <select> FROM the table WHERE <the index's rows> GROUP BY <keys> HAVING count(*) > 1."""
    keys = key_parts(definition)
    conditions = []
    if definition.where:
        conditions.append(sql.SQL("(%s)" % definition.where))
    if definition.nulls_distinct:
        conditions.extend(sql.SQL("{} IS NOT NULL").format(k) for k in keys)
    table = sql.SQL("{}.{}").format(sql.Identifier(definition.schema), sql.Identifier(definition.table))
    query = sql.SQL("SELECT {} FROM {}").format(select, table)
    if conditions:
        query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions)
    return query + sql.SQL(" GROUP BY {} HAVING count(*) > 1").format(sql.SQL(", ").join(keys))


def count_sql(definition) -> sql.Composed:
    """One row: the number of duplicate key groups and of the rows in them."""
    inner = grouped_sql(definition, sql.SQL("count(*) AS n"))
    return sql.SQL("SELECT count(*), COALESCE(sum(n), 0) FROM ({}) AS duplicate_groups").format(inner)


def samples_sql(definition, limit: int) -> sql.Composed:
    """The most repeated keys, `limit` of them: the key parts, then how many rows hold that key."""
    select = sql.SQL(", ").join(key_parts(definition) + [sql.SQL("count(*)")])
    return grouped_sql(definition, select) + sql.SQL(" ORDER BY count(*) DESC LIMIT {}").format(sql.Literal(int(limit)))


class PostgresDuplicates(Duplicates):
    def duplicate_keys(self, definition, timeout: float, samples: int = 0) -> DuplicateKeys:
        # _read_only (engines/postgresql/explain.py): SET TRANSACTION READ ONLY, SET LOCAL statement_timeout, rollback.
        with self._read_only(timeout) as cur:
            cur.execute(count_sql(definition))
            groups, rows = cur.fetchone()
            found = DuplicateKeys(groups=int(groups), rows=int(rows))
            if groups and samples:
                cur.execute(samples_sql(definition, samples))
                found.samples = [(tuple(r[:-1]), int(r[-1])) for r in cur.fetchall()]
        return found
