"""Verification: read-only probes (EXPLAIN, a timed run, usage counters), and reading the plans EXPLAIN gives.

Every probe runs in a READ ONLY transaction that is rolled back. Reading a plan needs no server: each engine's
explain_plan.py walks its own plan shape into table accesses, and the questions below are asked of those.
"""

from __future__ import annotations


class PlanReading:
    """Which indexes a plan uses and which tables it reads whole, from EXPLAIN's JSON (no server needed)."""

    def accesses(self, plan) -> list:
        """Every table access of a plan, in plan order: [{access, index, table}]; index is None for a full scan."""
        raise NotImplementedError

    def possible_indexes(self, plan) -> list:
        """Indexes the optimizer found applicable to the query, where the engine says (MySQL's possible_keys)."""
        return []

    def indexes_used(self, plan) -> list:
        """Names of the indexes a plan reads, each once, in plan order."""
        names = []
        for access in self.accesses(plan):
            if access["index"] and access["index"] not in names:
                names.append(access["index"])
        return names

    def full_scans(self, plan) -> list:
        """Tables the plan reads whole (PostgreSQL: by relation name; MySQL: by the name or alias the query gives)."""
        return [a["table"] for a in self.accesses(plan) if a["index"] is None]


class Explain(PlanReading):
    def explain_json(self, query: str, timeout: float, prefer_indexes: bool = False) -> object:
        """EXPLAIN's JSON plan of a query, parsed; prefer_indexes discourages full scans (to prove an index usable)."""
        raise NotImplementedError

    def explain_text(self, query: str, timeout: float, prefer_indexes: bool = False) -> str:
        """The plan as the engine prints it for people, one string."""
        raise NotImplementedError

    def time_probe(self, query: str, timeout: float) -> float:
        """Seconds one run of the query takes, measured here: execute and fetch every row."""
        raise NotImplementedError

    def index_usage(self, schema: str, indexes) -> dict | None:
        """{index name: times used since the statistics were reset} for [(table, name)], or None where the server
        does not count (MySQL without performance_schema)."""
        raise NotImplementedError


def describe(accesses_found) -> str:
    """`Index Scan on idx_a, Seq Scan on user`, for messages."""
    parts = []
    for access in accesses_found:
        target = access["index"] or access["table"]
        parts.append("%s on %s" % (access["access"], target))
    return ", ".join(parts) or "no table access"
