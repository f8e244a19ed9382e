"""Builds an earlier run left running on the server (issue 21): found, named and stopped before this run builds.

A build whose client went away without a word (a cut network, a killed module) may go on on the server: MariaDB never
looks whether a running ALTER's client is still there, PostgreSQL before 14 neither (14+ cancels it itself once its
keepalives declare the client dead). Run with the run lock held: no other run is live, so index DDL that carries
another run's marker is an orphan, and this run would otherwise wait behind it or build beside it.
"""

from __future__ import annotations

from ansible.module_utils.safeindex.core.errors import SafeIndexError
from ansible.module_utils.safeindex.run import preflight

CHECK = "orphaned builds"


def describe(session: dict) -> str:
    query = " ".join(session["query"].split())[:160]
    return "session %s of run %s, %.0f s, %s: %s" % (
        session["pid"], session["run_id"], session["age_seconds"], session["state"] or "running", query)


def orphans_row(dialect, run_id: str, check_mode: bool) -> dict:
    """The preflight row: none; or each orphan named, stopped (check mode: what would be stopped)."""
    try:
        found = dialect.cancel_orphaned_builds(run_id, dry_run=check_mode)
    except SafeIndexError as exc:
        return preflight.row(CHECK, "warn", "could not look for builds of earlier runs still running: %s" % exc)
    if not found:
        return preflight.row(CHECK, "ok", "no build of an earlier run is running")
    verb = "would stop (check mode)" if check_mode else "stopped"
    return preflight.row(CHECK, "warn", "%s %d build(s) of an earlier run still running on the server, whose client is"
                         " gone: %s" % (verb, len(found), "; ".join(describe(session) for session in found)))
