"""PostgreSQL's catalog: tables and indexes as pg_catalog stores them, sizes, privileges, ownership marks."""

from __future__ import annotations

try:
    import psycopg2
    from psycopg2 import sql
except ImportError:  # reported by the module as a missing requirement
    psycopg2 = None

from ansible.module_utils.safeindex.core.errors import LockTimeout, NeedsWrite, ServerRefused, SpecError
from ansible.module_utils.safeindex.engines.base import CatalogIndex, ownership_marker
from ansible.module_utils.safeindex.engines.interface.catalog import Catalog, CatalogSnapshot
from ansible.module_utils.safeindex.engines.postgresql.connection import LOCK_NOT_AVAILABLE, first_line
from ansible.module_utils.safeindex.spec.definition import IndexColumn, IndexDefinition

# read_only_sql_transaction (default_transaction_read_only, a hot standby), insufficient_privilege (no TEMPORARY)
WRITE_REFUSED = ("25006", "42501")
INDOPTION_DESC = 1
INDOPTION_NULLS_FIRST = 2
EXPRESSION_WIDTH = 32  # bytes assumed for an expression key's value: the server keeps no statistics before the build

INDEX_QUERY = """
SELECT ic.relname, n.nspname, t.relname, i.indisunique, i.indisvalid AND i.indisready,
       am.amname, pg_get_expr(i.indpred, i.indrelid), obj_description(i.indexrelid, 'pg_class'),
       pg_relation_size(i.indexrelid), i.indnkeyatts, con.conname, {nulls_not_distinct},
       (SELECT json_agg(json_build_object(
                  'name', a.attname,
                  'expression', CASE WHEN i.indkey[k.pos] = 0
                                     THEN pg_get_indexdef(i.indexrelid, k.pos + 1, true) END,
                  'option', CASE WHEN k.pos < i.indnkeyatts THEN i.indoption[k.pos] END,
                  'opclass', CASE WHEN k.pos < i.indnkeyatts AND NOT opc.opcdefault THEN opc.opcname END)
               ORDER BY k.pos)
          FROM generate_series(0, i.indnatts - 1) AS k(pos)
          LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k.pos] AND i.indkey[k.pos] <> 0
          LEFT JOIN pg_opclass opc ON opc.oid = i.indclass[k.pos] AND k.pos < i.indnkeyatts)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x')
"""


class PostgresCatalog(Catalog):
    def catalog_snapshot(self, schema: str, specs) -> CatalogSnapshot:
        """Three queries for the whole batch: the tables' columns, what holds each spec name, and every index that is on
        a spec table or holds a spec name (index names are unique per schema, not per table)."""
        tables = sorted({spec.table for spec in specs})
        names = [spec.name for spec in specs]
        found = dict(self._rows(
            "SELECT c.relname, COALESCE(array_agg(a.attname ORDER BY a.attnum) FILTER (WHERE a.attnum > 0), '{}')"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
            " WHERE n.nspname = %s AND c.relname = ANY(%s) AND c.relkind IN ('r', 'p', 'm') GROUP BY c.relname",
            (schema, tables),
        ))
        columns = {table: list(found[table]) if table in found else None for table in tables}
        kinds = dict(self._rows(
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = ANY(%s)",
            (schema, names),
        ))
        indexes = {table: [] for table in tables}
        by_name = {}
        for index in self._read_indexes("WHERE n.nspname = %s AND (t.relname = ANY(%s) OR ic.relname = ANY(%s)) ORDER BY ic.relname",
                                        (schema, tables, names)):
            by_name[index.name] = index
            if index.definition.table in indexes:
                indexes[index.definition.table].append(index)
        problems = {name: "the name %s.%s is taken by another kind of relation (relkind %s), not an index" % (schema, name, kind)
                    for name, kind in kinds.items() if kind not in ("i", "I")}
        named = {name: by_name.get(name) for name in names if name not in problems}
        return CatalogSnapshot(columns, indexes, named, problems)

    def table_columns(self, schema: str, table: str) -> list | None:
        rows = self._rows(
            "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'm')"
            " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (schema, table),
        )
        if rows:
            return [r[0] for r in rows]
        exists = self._rows(
            "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'm')",
            (schema, table),
        )
        return [] if exists else None

    def find_index(self, spec, schema: str) -> CatalogIndex | None:
        kind = self._rows(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s",
            (schema, spec.name),
        )
        if not kind:
            return None
        if kind[0][0] not in ("i", "I"):
            raise SpecError(
                "the name %s.%s is taken by another kind of relation (relkind %s), not an index" % (schema, spec.name, kind[0][0])
            )
        found = self._read_indexes("WHERE n.nspname = %s AND ic.relname = %s", (schema, spec.name))
        return found[0] if found else None

    def table_indexes(self, schema: str, table: str) -> list:
        return self._read_indexes("WHERE n.nspname = %s AND t.relname = %s ORDER BY ic.relname", (schema, table))

    def _read_indexes(self, where, params, table_as=None):
        indexes = []
        # pg_index.indnullsnotdistinct exists from PostgreSQL 15: before, every unique index has NULLS DISTINCT.
        query = INDEX_QUERY.replace("{nulls_not_distinct}", "i.indnullsnotdistinct" if self.features.nulls_not_distinct
                                    else "false")
        for (name, schema, table, unique, valid, method, predicate, comment, size, nkey, constraint, not_distinct,
             columns) in self._rows(query + where, params):
            keys, include = [], []
            for position, column in enumerate(columns or []):
                if position >= nkey:
                    include.append(column["name"] or column["expression"])
                    continue
                option = column["option"] or 0
                keys.append(
                    IndexColumn(
                        name=column["name"],
                        expression=column["expression"],
                        descending=bool(option & INDOPTION_DESC),
                        nulls_first=bool(option & INDOPTION_NULLS_FIRST),
                        opclass=column["opclass"],
                    )
                )
            if table_as:
                schema, table = table_as
            definition = IndexDefinition(
                table=table, schema=schema, columns=tuple(keys), unique=unique,
                method=method, where=predicate, include=tuple(include), nulls_distinct=not not_distinct,
            )
            indexes.append(
                CatalogIndex(name=name, definition=definition, valid=valid, comment=comment,
                             size_bytes=size, constraint=constraint)
            )
        return indexes

    def canonical_definition(self, spec, schema: str) -> IndexDefinition:
        """Build the spec on an empty temporary copy of the table and read it back from the catalog.

        The server then normalises everything (column order options, the predicate's text,
        defaults), so the result compares field by field with any real index. Rolled back.
        """
        wanted = spec.definition(self.features, schema)
        shadow_table, shadow_index = "safeindex_shadow", "safeindex_shadow_idx"
        self.conn.autocommit = False
        try:
            with self.conn.cursor() as cur:
                cur.execute("SET LOCAL lock_timeout = '5s'")
                try:
                    cur.execute(
                        sql.SQL("CREATE TEMPORARY TABLE {} (LIKE {}.{}) ON COMMIT DROP").format(
                            sql.Identifier(shadow_table), sql.Identifier(schema), sql.Identifier(spec.table)
                        )
                    )
                except psycopg2.Error as exc:
                    if exc.pgcode not in WRITE_REFUSED:
                        raise
                    # A read-only login, a read-only transaction or a hot standby: the server's words alone would read
                    # as a wrong definition.
                    raise NeedsWrite("%s: cannot check the definition on an empty temporary copy of %s.%s: this session"
                                     " may not create one (%s)" % (spec.name, schema, spec.table, first_line(exc))) from None
                shadow = IndexDefinition(
                    table=shadow_table, schema=None, columns=wanted.columns, unique=wanted.unique,
                    method=wanted.method, where=wanted.where, include=wanted.include,
                    nulls_distinct=wanted.nulls_distinct,
                )
                cur.execute(self._index_sql(shadow_index, shadow, online=False))
            found = self._read_indexes(
                "WHERE ic.relname = %s AND n.oid = pg_my_temp_schema()", (shadow_index,), table_as=(schema, spec.table)
            )
            return found[0].definition
        except psycopg2.Error as exc:
            if exc.pgcode == LOCK_NOT_AVAILABLE:
                raise LockTimeout("%s: cannot read table %s.%s: another session holds an exclusive lock on it (%s)"
                                  % (spec.name, schema, spec.table, first_line(exc))) from None
            raise SpecError("%s: the server rejects this index definition: %s" % (spec.name, first_line(exc))) from None
        finally:
            self.conn.rollback()
            self.conn.autocommit = True

    def build_in_progress(self, index, schema: str) -> int | None:
        rows = self._rows(
            "SELECT p.pid FROM pg_stat_progress_create_index p"
            " JOIN pg_class c ON c.oid = p.index_relid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s",
            (schema, index.name),
        )
        return rows[0][0] if rows else None

    def index_privilege_problems(self, schema: str, tables) -> dict:
        # Only a table's owner (a member of the owning role, or a superuser) may create an index on it.
        rows = self._rows(
            "SELECT c.relname, pg_get_userbyid(c.relowner),"
            " pg_has_role(current_user, c.relowner, 'USAGE') OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = ANY(%s) AND c.relkind IN ('r', 'p', 'm')",
            (schema, list(tables)),
        )
        return {table: "owned by %s, and only a table's owner may index it" % owner for table, owner, allowed in rows if not allowed}

    def invalid_indexes(self) -> list:
        return ["%s.%s (on %s)" % (schema, name, table) for schema, name, table in self._rows(
            "SELECT n.nspname, c.relname, t.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE NOT (i.indisvalid AND i.indisready) ORDER BY 1, 2"
        )]

    def table_bytes(self, schema: str, table: str) -> int | None:
        # What a build reads: the heap's main fork; a partitioned table's is its partitions' (pg_partition_tree lists
        # nothing for a plain table).
        rows = self._rows(
            "SELECT COALESCE((SELECT sum(pg_relation_size(t.relid)) FROM pg_partition_tree(c.oid) t), pg_relation_size(c.oid))::bigint"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
            (schema, table),
        )
        return rows[0][0] if rows and rows[0][0] is not None else None

    def estimated_index_bytes(self, schema: str, definition) -> int:
        # A btree entry: the key's average width (pg_stats, else the type's width, else 32) plus
        # about 16 bytes of tuple header and item pointer; leaves are filled to 90 %.
        columns = [c.name for c in definition.columns if c.name] + list(definition.include)
        expressions = sum(1 for c in definition.columns if c.name is None)
        rows = self._rows(
            "SELECT GREATEST(c.reltuples, 0)::float8, COALESCE(sum(COALESCE(s.avg_width, NULLIF(a.attlen, -1), 32)), 0)::float8"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = ANY(%s)"
            " LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = a.attname"
            " WHERE n.nspname = %s AND c.relname = %s GROUP BY c.reltuples",
            (columns, schema, definition.table),
        )
        if not rows and expressions:  # only expression keys: no column to join, the table's row count alone
            rows = [(max(self.table_row_estimate(schema, definition.table) or 0, 0), 0.0)]
        if not rows:
            return 0
        tuples, width = rows[0]
        width += EXPRESSION_WIDTH * expressions
        return int(tuples * (width + 16) / 0.9) + 8192

    def data_directory(self) -> str | None:
        try:
            return self._rows("SELECT current_setting('data_directory')")[0][0]
        except ServerRefused:
            return None  # needs pg_read_all_settings

    def table_row_estimate(self, schema: str, table: str) -> int | None:
        rows = self._rows(
            "SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
            (schema, table),
        )
        # -1: never analyzed nor vacuumed, so the catalog has no estimate.
        return int(rows[0][0]) if rows and rows[0][0] >= 0 else None

    def marked_indexes(self) -> list:
        return self._read_indexes(
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND obj_description(i.indexrelid, 'pg_class') LIKE %s ORDER BY n.nspname, ic.relname",
            ("%" + ownership_marker("%"),),
        )

    def database_exists(self, name: str) -> bool:
        return bool(self._rows("SELECT 1 FROM pg_database WHERE datname = %s", (name,)))
