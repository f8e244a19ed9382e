"""PostgreSQL's partitioned tables: the partition tree (pg_partition_tree), which index is attached to which
(pg_inherits between indexes), and the statements of a part-by-part build: CREATE INDEX ... ON ONLY the parent, then
each partition's own index, ALTER INDEX ... ATTACH PARTITION.

Why part by part: CREATE INDEX CONCURRENTLY refuses a partitioned table, and a plain CREATE INDEX on it blocks writes on
every partition for the whole build.
"""

from __future__ import annotations

try:
    from psycopg2 import sql
except ImportError:  # reported by the module as a missing requirement
    sql = None

from ansible.module_utils.safeindex.engines.base import Statement
from ansible.module_utils.safeindex.engines.interface.partitions import Partition, Partitions


class PostgresPartitions(Partitions):
    def partition_tree(self, schema: str, table: str) -> list | None:
        rows = self._rows(
            "SELECT cn.nspname, c.relname, pn.nspname, p.relname, t.isleaf, t.level"
            " FROM pg_partition_tree(%s::regclass) t"
            " JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace cn ON cn.oid = c.relnamespace"
            " JOIN pg_class p ON p.oid = t.parentrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace"
            " WHERE t.level > 0 AND c.relkind IN ('r', 'p') ORDER BY t.level, c.relname",
            (self._regclass(schema, table),),
        ) if self._relkind(schema, table) == "p" else None
        if rows is None:
            return None
        return [Partition(schema=s, name=n, parent_schema=ps, parent=p, leaf=leaf, level=level)
                for s, n, ps, p, leaf, level in rows]

    def partition_build_problem(self, schema: str, table: str, definition) -> str | None:
        if self._relkind(schema, table) != "p":
            return None
        # A foreign table cannot be indexed: the parent's ON ONLY index would never become valid.
        foreign = [r[0] for r in self._rows(
            "SELECT c.relname FROM pg_partition_tree(%s::regclass) t JOIN pg_class c ON c.oid = t.relid"
            " WHERE c.relkind = 'f' ORDER BY 1", (self._regclass(schema, table),))]
        if foreign:
            return ("partition %s of %s.%s is a foreign table, which cannot be indexed: the index could only be built"
                    " without the foreign partitions by one CREATE INDEX on %s, which blocks writes on every partition for"
                    " the whole build" % (", ".join(foreign), schema, table, table))
        if not definition.unique:
            return None
        # Every level's partition key must be in a unique index: each partition can only check its own rows.
        columns = {c.name for c in definition.columns if c.name}
        for level_schema, level_table, key in self._partition_keys(schema, table):
            missing = [column for column in key if column not in columns]
            if missing or None in key:
                return ("a UNIQUE index on the partitioned table %s.%s must include all partition key columns: %s.%s is"
                        " partitioned by (%s), and the index lacks %s"
                        % (schema, table, level_schema, level_table, ", ".join(c or "an expression" for c in key),
                           ", ".join(c or "the key expression" for c in missing or [None])))
        return None

    def partition_indexes(self, schema: str, table: str) -> list:
        parents = dict(self._rows(
            "SELECT ic.relname, pc.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid"
            " JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace"
            " LEFT JOIN pg_inherits h ON h.inhrelid = i.indexrelid LEFT JOIN pg_class pc ON pc.oid = h.inhparent"
            " WHERE n.nspname = %s AND t.relname = %s",
            (schema, table),
        ))
        return [(index, parents.get(index.name)) for index in self.table_indexes(schema, table)]

    def index_parent(self, schema: str, name: str) -> str | None:
        rows = self._rows(
            "SELECT p.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_inherits h ON h.inhrelid = c.oid JOIN pg_class p ON p.oid = h.inhparent"
            " WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('i', 'I')",
            (schema, name),
        )
        return rows[0][0] if rows else None

    def attached_indexes(self, schema: str, name: str) -> list:
        return [tuple(row) for row in self._rows(
            "WITH RECURSIVE tree(oid) AS ("
            "  SELECT h.inhrelid FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhparent"
            "   JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND c.relkind = 'I'"
            "  UNION ALL SELECT h.inhrelid FROM pg_inherits h JOIN tree ON h.inhparent = tree.oid)"
            " SELECT n.nspname, t.relname, c.relname, c.relkind = 'i' FROM tree JOIN pg_class c ON c.oid = tree.oid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index i ON i.indexrelid = c.oid"
            " JOIN pg_class t ON t.oid = i.indrelid ORDER BY 1, 3",
            (schema, name),
        )]

    def parent_only_statement(self, name: str, definition) -> Statement:
        return Statement(self._index_sql(name, definition, online=False, only=True), purpose="create")

    def attach_statement(self, schema: str, parent_index: str, child_schema: str, child_index: str) -> Statement:
        return Statement(
            sql.SQL("ALTER INDEX {}.{} ATTACH PARTITION {}.{}").format(
                sql.Identifier(schema), sql.Identifier(parent_index), sql.Identifier(child_schema), sql.Identifier(child_index)
            ),
            purpose="attach",
        )

    def _relkind(self, schema, table):
        rows = self._rows(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
            (schema, table),
        )
        return rows[0][0] if rows else None

    def _regclass(self, schema, table):
        with self.conn.cursor() as cur:
            return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table)).as_string(cur)

    def _partition_keys(self, schema, table) -> list:
        """(schema, table, [key column, None for an expression]) of the table and of each partitioned partition."""
        rows = self._rows(
            "SELECT n.nspname, c.relname, (SELECT array_agg(a.attname ORDER BY k.pos) FROM unnest(pt.partattrs::int2[])"
            "  WITH ORDINALITY AS k(attnum, pos) LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum)"
            " FROM pg_partition_tree(%s::regclass) t JOIN pg_partitioned_table pt ON pt.partrelid = t.relid"
            " JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace ORDER BY t.level, c.relname",
            (self._regclass(schema, table),),
        )
        return [(s, t, list(key or [])) for s, t, key in rows]
