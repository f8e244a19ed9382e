"""What every engine shares: the data types it reads and builds, and the Engine interface, made of one small class per
concern (engines/interface/). Each engine package implements each concern in a mixin of its own and combines them in
its dialect.py into the class open_engine() returns.

The build (build/indexer.py) decides what to do; the engine knows how its server says it: catalog reading,
statement building with the driver's own quoting, lock errors, and the sessions that stand in the way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ansible.module_utils.safeindex.engines.interface.backup import Backup
from ansible.module_utils.safeindex.engines.interface.catalog import Catalog
from ansible.module_utils.safeindex.engines.interface.connection import Connection
from ansible.module_utils.safeindex.engines.interface.duplicates import Duplicates
from ansible.module_utils.safeindex.engines.interface.explain import Explain
from ansible.module_utils.safeindex.engines.interface.index_check import IndexCheck
from ansible.module_utils.safeindex.engines.interface.partitions import Partitions
from ansible.module_utils.safeindex.engines.interface.progress import Progress
from ansible.module_utils.safeindex.engines.interface.replication import Replication
from ansible.module_utils.safeindex.engines.interface.sessions import Sessions
from ansible.module_utils.safeindex.engines.interface.statements import Statements
from ansible.module_utils.safeindex.engines.interface.traps import ServerTraps

OWNERSHIP_MARKER = "safeindex run_id=%s"
OWNERSHIP_PATTERN = re.compile(r"safeindex run_id=([A-Za-z0-9_.:-]+)")


def ownership_marker(run_id: str) -> str:
    """The index comment that ties an index to the run that built it (rollback reads it)."""
    return OWNERSHIP_MARKER % run_id


def owner_run_id(comment) -> str | None:
    match = OWNERSHIP_PATTERN.search(comment or "")
    return match.group(1) if match else None


@dataclass
class CatalogIndex:
    """An index as the server's catalog describes it."""

    name: str
    definition: object  # IndexDefinition
    valid: bool = True
    comment: str = None
    size_bytes: int = 0
    constraint: str = None  # the constraint it backs (primary key / unique), if any

    @property
    def owner_run_id(self) -> str | None:
        return owner_run_id(self.comment)


@dataclass
class Statement:
    """One statement to run: driver-level SQL and its parameters, with why it is run."""

    sql: object
    params: tuple = None
    purpose: str = "ddl"  # session | drop | create | comment | analyze
    timeout: float = 0.0  # seconds this statement alone may run; 0 for no limit


class Engine(Connection, Catalog, Statements, Sessions, Explain, Backup, Progress, Duplicates, ServerTraps, IndexCheck,
             Partitions, Replication):
    """One connected session on a database engine, answering every concern; see engines/postgresql/ for the reference
    implementation."""


def describe_session(session: dict) -> str:
    """One line for an operator: who is in the way and what they are doing."""
    return "pid %s (%s, transaction open %.0fs%s): %s" % (
        session.get("pid"),
        session.get("state") or "?",
        session.get("age_seconds") or 0,
        ", holds " + session["locks"] if session.get("locks") else "",
        (session.get("query") or "").replace("\n", " ")[:200],
    )
