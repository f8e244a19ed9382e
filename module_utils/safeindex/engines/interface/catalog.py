"""Reading an engine's catalog: tables, indexes as the server stores them, sizes and privileges."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for the annotations only: base imports this module
    from ansible.module_utils.safeindex.engines.base import CatalogIndex
    from ansible.module_utils.safeindex.spec.definition import IndexDefinition


class Catalog:
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

    def database_exists(self, name: str) -> bool:
        """Whether a database (MySQL: schema) of this name exists on the server."""
        raise NotImplementedError
