"""Proof that an index matches its table (PostgreSQL's amcheck): verify runs it on the indexes a run built, when asked.

features.index_check_function names the check; an engine without one keeps these defaults (never asked).
"""

from __future__ import annotations


class IndexCheck:
    def index_check_ready(self) -> tuple:
        """(ready, why not): whether this session may run the check in this database; why not says how to fix it."""
        return False, "this server has no index check function"

    def checkable_indexes(self, schema: str, name: str) -> list:
        """The indexes the check reads for one index of the spec: [{name, oid, method}], itself, or the partitions'
        indexes of a partitioned index (which holds no entries itself)."""
        return []

    def check_index(self, oid: int) -> str | None:
        """Run the check on one index; None when it passed, else the server's error (the index is corrupt)."""
        return "this server has no index check function"
