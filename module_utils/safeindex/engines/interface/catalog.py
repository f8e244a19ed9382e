"""Reading an engine's catalog: tables, indexes as the server stores them, sizes and privileges."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ansible.module_utils.safeindex.core.errors import SafeIndexError

if TYPE_CHECKING:  # for the annotations only: base imports this module
    from ansible.module_utils.safeindex.engines.base import CatalogIndex
    from ansible.module_utils.safeindex.spec.definition import IndexDefinition


class CatalogSnapshot:
    """What a batch of index builds needs of the catalog, read once before the first of them (build/batch.py).

    columns: {table: [column names], or None when the table does not exist}; indexes: {table: [CatalogIndex]};
    named: {spec name: the CatalogIndex holding that name, or None}; problems: {spec name: why its name cannot be an
    index (taken by another kind of relation)}.
    """

    def __init__(self, columns: dict, indexes: dict, named: dict, problems: dict | None = None):
        self.columns, self.indexes, self.named, self.problems = columns, indexes, named, dict(problems or {})


class Catalog:
    def catalog_snapshot(self, schema: str, specs) -> CatalogSnapshot:
        """The tables, their indexes and the spec's index names, for every spec of one schema; an engine reads them in as
        few queries as it can (this default asks table by table)."""
        tables = sorted({spec.table for spec in specs})
        columns = {table: self.table_columns(schema, table) for table in tables}
        indexes = {table: self.table_indexes(schema, table) if columns[table] is not None else [] for table in tables}
        named, problems = {}, {}
        for spec in specs:
            try:
                named[spec.name] = self.find_index(spec, schema)
            except SafeIndexError as exc:
                problems[spec.name] = str(exc)
        return CatalogSnapshot(columns, indexes, named, problems)

    def table_columns(self, schema: str, table: str) -> list | None:
        """Column names of a table, or None when the table does not exist."""
        raise NotImplementedError

    def find_index(self, spec, schema: str) -> CatalogIndex | None:
        """The catalog entry holding the spec's index name, or None."""
        raise NotImplementedError

    def table_indexes(self, schema: str, table: str) -> list:
        raise NotImplementedError

    def canonical_definition(self, spec, schema: str) -> IndexDefinition:
        """The spec's definition in the same form the catalog gives; raises SpecError if the server rejects it."""
        raise NotImplementedError

    def build_in_progress(self, index, schema: str) -> int | None:
        """The session id building this index right now, or None."""
        raise NotImplementedError

    def index_privilege_problems(self, schema: str, tables) -> dict:
        """Why this user may not index some of the tables: {table: reason}; empty when it may index them all."""
        raise NotImplementedError

    def invalid_indexes(self) -> list:
        """Names of the indexes a failed build left INVALID (none on MySQL)."""
        return []

    def estimated_index_bytes(self, schema: str, definition) -> int:
        """About how many bytes an index of this definition will take, from the table's size and key widths."""
        raise NotImplementedError

    def data_directory(self) -> str | None:
        """The server's data directory, or None when this user may not see it."""
        raise NotImplementedError

    def table_row_estimate(self, schema: str, table: str) -> int | None:
        """The catalog's estimate of a table's rows (no count), or None when it has none."""
        raise NotImplementedError

    def marked_indexes(self) -> list:
        """Every index of this database whose comment carries an ownership marker (of any run), as CatalogIndex."""
        raise NotImplementedError

    def collations_in_use(self) -> tuple:
        """The collation names the current database's tables and columns (and its default) use, sorted: what a server
        the dump is restored into must know (features.unknown_collations). () where the engine's dumps name none that
        another server of the engine could lack."""
        return ()

    def database_exists(self, name: str) -> bool:
        """Whether a database (MySQL: schema) of this name exists on the server."""
        raise NotImplementedError
