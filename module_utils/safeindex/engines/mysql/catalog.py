"""MySQL's and MariaDB's catalog: tables and indexes from information_schema and SHOW INDEX, sizes, privileges."""

from __future__ import annotations

from ansible.module_utils.safeindex.core.errors import NeedsWrite, OptionError, ServerRefused, SpecError
from ansible.module_utils.safeindex.engines.base import CatalogIndex, ownership_marker
from ansible.module_utils.safeindex.engines.interface.catalog import Catalog, CatalogSnapshot
from ansible.module_utils.safeindex.engines.mysql.connection import quote
from ansible.module_utils.safeindex.spec.definition import IndexColumn, IndexDefinition

ACCESS_DENIED_TO_DATABASE = 1044
LONG_TYPES = ("tinytext", "text", "mediumtext", "longtext", "tinyblob", "blob", "mediumblob", "longblob")
# About how many bytes a key part of each fixed-size type takes.
FIXED_WIDTHS = {"tinyint": 1, "smallint": 2, "mediumint": 3, "int": 4, "bigint": 8, "float": 4, "double": 8, "decimal": 8,
                "date": 3, "time": 3, "datetime": 8, "timestamp": 4, "year": 1, "bit": 8}


class MysqlCatalog(Catalog):
    def catalog_snapshot(self, schema: str, specs) -> CatalogSnapshot:
        """Each spec table read once; an index name belongs to its table, compared without case as the server does."""
        tables = sorted({spec.table for spec in specs})
        columns = {table: self.table_columns(schema, table) for table in tables}
        indexes = {table: self.table_indexes(schema, table) if columns[table] is not None else [] for table in tables}
        named = {spec.name: next((i for i in indexes[spec.table] if i.name.lower() == spec.name.lower()), None) for spec in specs}
        return CatalogSnapshot(columns, indexes, named)

    def _column_types(self, schema, table):
        return dict(self._rows(
            "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (schema, table),
        ))

    def table_columns(self, schema: str, table: str) -> list | None:
        exists = self._rows(
            "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND TABLE_TYPE = 'BASE TABLE'",
            (schema, table),
        )
        return list(self._column_types(schema, table)) if exists else None

    def find_index(self, spec, schema: str) -> CatalogIndex | None:
        if not spec.table:
            raise OptionError("%s: on MySQL an index belongs to a table: give its table" % spec.name)
        if self.table_columns(schema, spec.table) is None:
            return None
        # The server compares index names without case: IDX_A is the index idx_a.
        found = [i for i in self.table_indexes(schema, spec.table) if i.name.lower() == spec.name.lower()]
        return found[0] if found else None

    def table_indexes(self, schema: str, table: str) -> list:
        return self._read_indexes(schema, table, quote(schema) + "." + quote(table), with_sizes=True)

    def _read_indexes(self, schema, table, relation, with_sizes=False):
        """SHOW INDEX reads real and temporary tables alike, so the spec's shadow reads back the same way."""
        keys = {}
        for row in self._rows("SHOW INDEX FROM %s" % relation, as_dict=True):
            keys.setdefault(row["Key_name"], []).append(row)
        indexes = []
        for name, rows in keys.items():
            rows.sort(key=lambda r: r["Seq_in_index"])
            columns = tuple(
                IndexColumn(
                    name=r["Column_name"],
                    expression=None if r["Column_name"] else (r.get("Expression") or "functional key part"),
                    descending=r["Collation"] == "D",
                    length=r["Sub_part"],
                )
                for r in rows
            )
            definition = IndexDefinition(
                table=table, schema=schema, columns=columns, unique=not int(rows[0]["Non_unique"]),
                method=rows[0]["Index_type"].lower(),
            )
            indexes.append(CatalogIndex(
                name=name, definition=definition, valid=True, comment=rows[0].get("Index_comment") or None,
                size_bytes=self._index_size(schema, table, name) if with_sizes else None,
                constraint="PRIMARY KEY" if name == "PRIMARY" else None,
            ))
        return sorted(indexes, key=lambda i: i.name)

    def _index_size(self, schema, table, name):
        """From InnoDB's persistent statistics, where this user may read them."""
        try:
            rows = self._rows(
                "SELECT stat_value * @@innodb_page_size FROM mysql.innodb_index_stats"
                " WHERE database_name = %s AND table_name = %s AND index_name = %s AND stat_name = 'size'",
                (schema, table, name),
            )
        except ServerRefused:
            return None
        return int(rows[0][0]) if rows else None

    def canonical_definition(self, spec, schema: str) -> IndexDefinition:
        """Build the spec on an empty temporary copy of the table and read it back, as for PostgreSQL.

        The server then checks what only it knows (key length limits, prefix lengths against column
        types) and says how it will store the definition; dropped at once.
        """
        wanted = spec.definition(self.features, schema)
        types = self._column_types(schema, spec.table)
        for column in wanted.columns:
            if types.get(column.name) in LONG_TYPES and not column.length:
                raise SpecError(
                    "%s: column %s is %s: give a prefix length, e.g. %s(100)" % (spec.name, column.name, types[column.name], column.name)
                )
        shadow_table, shadow_index = "safeindex_shadow", "safeindex_shadow_idx"
        try:
            self._rows("DROP TEMPORARY TABLE IF EXISTS %s" % quote(shadow_table))
            try:
                self._rows(self.shadow_copy_sql(shadow_table, schema, spec.table))  # engines/mysql/partitions.py
            except ServerRefused as exc:
                if exc.details.get("code") != ACCESS_DENIED_TO_DATABASE:
                    raise
                # The server's own words ("Access denied ... to database") would read as a failed login.
                raise NeedsWrite("%s: cannot check the definition on an empty temporary copy of %s: %s lacks CREATE TEMPORARY"
                                 " TABLES on %s" % (spec.name, spec.table, self._grantee(), schema)) from None
            try:
                self._rows("ALTER TABLE %s ADD %s" % (quote(shadow_table), self._index_clause(shadow_index, wanted)))
            except ServerRefused as exc:
                raise SpecError("%s: the server rejects this index definition: %s" % (spec.name, exc)) from None
            found = [i for i in self._read_indexes(schema, spec.table, quote(shadow_table)) if i.name == shadow_index]
        finally:
            self._rows("DROP TEMPORARY TABLE IF EXISTS %s" % quote(shadow_table))
        canonical = found[0].definition
        if any(w.descending and not c.descending for w, c in zip(wanted.columns, canonical.columns, strict=True)):
            raise SpecError("%s: this server ignores DESC in indexes (it needs MySQL 8.0 or MariaDB 10.8)" % spec.name)
        return canonical

    def build_in_progress(self, index, schema: str) -> int | None:
        return None  # an online build is invisible in the catalog until it commits

    def _grantee(self):
        user, host = self._rows("SELECT CURRENT_USER()")[0][0].rsplit("@", 1)
        return "'%s'@'%s'" % (user, host)

    def index_privilege_problems(self, schema: str, tables) -> dict:
        # ALTER TABLE ... ADD INDEX needs ALTER and INDEX on the table, granted at any level.
        grantee = self._grantee()
        granted = {r[0] for r in self._rows(
            "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = %s"
            " UNION SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = %s AND TABLE_SCHEMA = %s",
            (grantee, grantee, schema),
        )}
        problems = {}
        for table in tables:
            on_table = granted | {r[0] for r in self._rows(
                "SELECT PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = %s AND TABLE_SCHEMA = %s"
                " AND TABLE_NAME = %s", (grantee, schema, table))}
            missing = [p for p in ("ALTER", "INDEX") if p not in on_table]
            if missing:
                problems[table] = "%s lacks %s on it" % (grantee, " and ".join(missing))
        return problems

    def estimated_index_bytes(self, schema: str, definition) -> int:
        # An InnoDB secondary entry holds the key and the primary key, about 14 bytes of record
        # overhead, on pages filled to about 70 %.
        rows = self._rows("SELECT COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                          (schema, definition.table))
        if not rows:
            return 0
        types = {name: (kind, length) for name, kind, length in self._rows(
            "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (schema, definition.table))}
        primary = [r[0] for r in self._rows(
            "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"
            " AND INDEX_NAME = 'PRIMARY'", (schema, definition.table))]
        width = sum(_column_width(*types.get(c.name, ("varchar", 64)), prefix=c.length) for c in definition.columns)
        width += sum(_column_width(*types.get(c, ("bigint", None))) for c in primary)
        return int(int(rows[0][0]) * (width + 14) / 0.7) + 16384

    def data_directory(self) -> str | None:
        return self._rows("SELECT @@datadir")[0][0]

    def table_row_estimate(self, schema: str, table: str) -> int | None:
        rows = self._rows("SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                          (schema, table))
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def marked_indexes(self) -> list:
        schema = self.default_schema()
        tables = self._rows(
            "SELECT DISTINCT TABLE_NAME FROM information_schema.STATISTICS"
            " WHERE TABLE_SCHEMA = %s AND INDEX_COMMENT LIKE %s ORDER BY TABLE_NAME",
            (schema, "%" + ownership_marker("%")),
        )
        return [index for (table,) in tables for index in self.table_indexes(schema, table) if index.owner_run_id]

    def collations_in_use(self) -> tuple:
        # The database's default goes into the dump's CREATE DATABASE; each table's and column's into its CREATE TABLE.
        return tuple(sorted({r[0] for r in self._rows(
            "SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()"
            " UNION SELECT TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
            " UNION SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
        ) if r[0]}))

    def database_exists(self, name: str) -> bool:
        return bool(self._rows("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,)))


def _column_width(kind, length, prefix=None):
    """About how many bytes a key column takes: fixed types by size, strings by a third of their maximum."""
    if kind in FIXED_WIDTHS:
        return FIXED_WIDTHS[kind]
    characters = prefix or min(int(length or 64), 255)
    return max(4, characters // 3) + 2
