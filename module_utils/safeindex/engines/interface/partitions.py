"""Partitioned tables: what an engine's catalog says of a table's partition tree, and the statements that build an
index on it part by part where the engine cannot do it in one online statement (PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Partition:
    """One member of a partition tree below its root: a leaf holds rows, an inner one is partitioned itself."""

    schema: str
    name: str
    parent_schema: str
    parent: str
    leaf: bool
    level: int


class Partitions:
    def partition_tree(self, schema: str, table: str) -> list | None:
        """The partitions of a table built part by part, parents before their children; None when the table is not
        partitioned or the engine builds its index in one online statement (MySQL/MariaDB)."""
        return None

    def partition_build_problem(self, schema: str, table: str, definition) -> str | None:
        """Why an index of this definition cannot be built on the table as partitioned (say, a unique index without the
        partition key's columns), or None."""
        return None

    def partition_indexes(self, schema: str, table: str) -> list:
        """[(CatalogIndex, the name of the partitioned index it is attached to, or None)] of one partition."""
        raise NotImplementedError

    def index_parent(self, schema: str, name: str) -> str | None:
        """The partitioned index this index is attached to (it cannot be dropped on its own), or None."""
        return None

    def attached_indexes(self, schema: str, name: str) -> list:
        """Every index attached under a partitioned index, at any depth: [(schema, table, index name, leaf)]."""
        return []

    def parent_only_statement(self, name: str, definition) -> object:
        """The index on a partitioned table itself, not on its partitions (catalog only; invalid until all attach)."""
        raise NotImplementedError

    def attach_statement(self, schema: str, parent_index: str, child_schema: str, child_index: str) -> object:
        raise NotImplementedError
