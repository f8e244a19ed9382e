"""MySQL's and MariaDB's partitioned tables: the server builds an index on all partitions in one ALTER TABLE, online
(ALGORITHM=INPLACE, LOCK=NONE) where the storage engine can; what it refuses is found here, before any backup."""

from __future__ import annotations

import re

from ansible.module_utils.safeindex.engines.interface.partitions import Partitions
from ansible.module_utils.safeindex.engines.mysql.connection import quote

QUOTED = re.compile(r"`((?:[^`]|``)+)`")


class MysqlPartitions(Partitions):
    def partition_tree(self, schema: str, table: str) -> list | None:
        return None  # one statement builds every partition's part

    def partition_build_problem(self, schema: str, table: str, definition) -> str | None:
        partitioning = self._partitioning(schema, table)
        if partitioning is None:
            return None
        storage, columns = partitioning
        online = self.features.partitioned_online_storage_engines or ()
        if storage not in online:
            return ("%s.%s is a partitioned %s table: the server cannot add an index to it online (ALGORITHM=INPLACE,"
                    " LOCK=NONE), only by copying the table under a lock; online builds need %s"
                    % (schema, table, storage, " or ".join(online) or "another storage engine"))
        missing = [c for c in columns if c.lower() not in {k.name.lower() for k in definition.columns if k.name}]
        if definition.unique and missing:
            return ("a UNIQUE index on the partitioned table %s.%s must include all columns of its partitioning function"
                    " (%s); it lacks %s" % (schema, table, ", ".join(columns), ", ".join(missing)))
        return None

    def shadow_copy_sql(self, shadow: str, schema: str, table: str) -> str:
        """An empty temporary copy of a table for checking a definition: LIKE keeps its keys, but the server refuses a
        temporary partitioned table (1478), so a partitioned one is copied column by column, without partitions."""
        if self._partitioning(schema, table) is None:
            return "CREATE TEMPORARY TABLE %s LIKE %s.%s" % (quote(shadow), quote(schema), quote(table))
        return "CREATE TEMPORARY TABLE %s ENGINE=InnoDB SELECT * FROM %s.%s LIMIT 0" % (quote(shadow), quote(schema), quote(table))

    def partition_indexes(self, schema: str, table: str) -> list:
        return [(index, None) for index in self.table_indexes(schema, table)]

    def parent_only_statement(self, name: str, definition):
        raise NotImplementedError("MySQL builds a partitioned table's index in one statement")

    def attach_statement(self, schema: str, parent_index: str, child_schema: str, child_index: str):
        raise NotImplementedError("MySQL builds a partitioned table's index in one statement")

    def _partitioning(self, schema, table):
        """(storage engine, [columns of the partitioning function]) of a partitioned table, else None. KEY() without
        columns partitions by the primary key."""
        rows = self._rows(
            "SELECT t.ENGINE, p.PARTITION_METHOD, p.PARTITION_EXPRESSION, p.SUBPARTITION_EXPRESSION"
            " FROM information_schema.TABLES t JOIN information_schema.PARTITIONS p"
            " ON p.TABLE_SCHEMA = t.TABLE_SCHEMA AND p.TABLE_NAME = t.TABLE_NAME"
            " WHERE t.TABLE_SCHEMA = %s AND t.TABLE_NAME = %s AND p.PARTITION_NAME IS NOT NULL LIMIT 1",
            (schema, table),
        )
        if not rows:
            return None
        storage, method, expression, sub_expression = rows[0]
        columns = []
        for text in (expression, sub_expression):
            for name in QUOTED.findall(text or ""):
                name = name.replace("``", "`")
                if name not in columns:
                    columns.append(name)
        if not columns and "KEY" in (method or "").upper():
            columns = [r[0] for r in self._rows(
                "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"
                " AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION", (schema, table))]
        return storage, columns
