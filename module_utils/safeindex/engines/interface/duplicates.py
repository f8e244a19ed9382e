"""Unique prechecks: the keys a unique index would refuse, looked for before any backup or build.

Read-only (a READ ONLY transaction, always rolled back) and bounded by a statement timeout, so a table too big to scan
in time stops the query instead of the run hanging. The grouping has the index's own semantics: its key parts
(expressions, prefix lengths), its predicate, the columns' collations and its NULL handling.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DuplicateKeys:
    """What a scan found: key groups seen more than once, the rows in them, and (only when asked) a few keys."""

    groups: int = 0
    rows: int = 0
    samples: list = field(default_factory=list)  # [(key values tuple, rows with that key)], most repeated first


class Duplicates:
    def duplicate_keys(self, definition, timeout: float, samples: int = 0) -> DuplicateKeys:
        """The keys of `definition` (a canonical, unique IndexDefinition) held by more than one row of its table, within
        `timeout` seconds (0: no limit); samples > 0 also reads that many keys (values: data, only when the operator
        asked). Raises StatementTimeout when the scan ran over the timeout."""
        raise NotImplementedError
