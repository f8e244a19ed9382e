"""Bad index specs through migrate.yml: refused in preflight, every problem named, nothing backed up or built.

The spec is validated before any backup or build, so each run is short. Problems the product reports all at once
share one spec (one run per engine); a problem that stops validation early (a file that is not a mapping, or a
spec whose entries are malformed, which is never compared with the database) gets its own run.
"""

import json

import pytest
import yaml

from tests.integration.conftest import HOST, run_playbook, said_of, write_inventory_of
from tests.reliability.conftest import assert_consistent, assert_no_secret, query, table_counts

pytestmark = pytest.mark.slow

MAX_NAME_LENGTH = {"postgresql": 63, "mysql": 64}
LENGTH_UNIT = {"postgresql": "bytes", "mysql": "characters"}
ENGINE_LABEL = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB"}
NUL_RULE = "contains a NUL character"
MAPPING_HINT = "use the mapping form {name: ..., order: ...}"
LEGAL = "legal"  # a name that needs quoting is a legal name (issue 19): no problem may be reported for its entry
USERNAME_INDEX = {"name": "idx_user_username", "table": "user", "columns": ["username"]}


def index_names(db):
    """Every index of the test database's tables: a refused run adds none, whatever its spec called them."""
    if db.engine == "postgresql":
        rows = query(db, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
    else:
        rows = query(db, "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()")
    return sorted(row[0] for row in rows)


def migrate_with_specs(folder, dbs, spec_texts):
    """migrate.yml with each host's bad spec file (index_spec_file, by host), one run for them all, as a user runs it;
    each database's state before it."""
    host_vars = {}
    for host, text in spec_texts.items():
        spec_path = folder / ("bad-indexes-%s.yml" % host)
        spec_path.write_text(text)
        host_vars[host] = {"index_spec_file": str(spec_path)}
    inventory = write_inventory_of(folder / "inventory", dbs, host_vars=host_vars)
    before = {host: (table_counts(db), index_names(db)) for host, db in dbs.items()}
    completed = run_playbook("migrate.yml", inventory)
    return inventory, before, completed


def refused_spec_detail(db, inventory, before, completed, host):
    """The run stopped this host in preflight and changed nothing there; returns what its "index spec" check says, and
    what the play said of the host."""
    told = said_of(completed, host)
    assert completed.returncode != 0, completed.stdout[-3000:]
    assert "preflight refused the run" in told, completed.stdout[-3000:]
    counts_before, indexes_before = before
    assert_consistent(db, counts_before)
    assert index_names(db) == indexes_before
    backups = inventory / "backups"
    assert not backups.exists() or not any(path.is_file() for path in backups.rglob("*")), "a refused run wrote a backup"
    assert_no_secret(db.password, completed.stdout + completed.stderr, folders=(inventory / "artifacts", backups))
    report = json.loads(next((inventory / "artifacts" / host).glob("*/report.json")).read_text())
    assert report["status"] == "failed" and report["backup"] is None and report["indexes_created"] == 0
    rows = [row for row in report["preflight"] if row["check"] == "index spec"]
    assert rows and rows[0]["result"] == "fail", report["preflight"]
    return rows[0]["detail"], told


def malformed_entries(engine):
    """(entry, what the run must say about it); None for an entry that is fine on its own."""
    too_long = "idx_" + "n" * (MAX_NAME_LENGTH[engine] - 3)
    quoted_name = 'idx_x"; DROP TABLE "user"; --'
    backticked_table = "user`; DROP TABLE message; --"
    subquery = "user_id IN (SELECT user_id FROM session)"
    statement_after = "status = 'error'; DROP TABLE message"
    comment = "status = 'error' -- AND false"
    where_refusal = {
        "postgresql": {
            subquery: "'where' may not contain a subquery: %r" % subquery,
            statement_after: "'where' may not contain a ';': %r" % statement_after,
            comment: "'where' may not contain a '--' comment: %r" % comment,
        },
    }.get(engine, dict.fromkeys((subquery, statement_after, comment),
                                "'where' (a partial index) is PostgreSQL-only; MySQL and MariaDB have no partial indexes"))
    return [
        (USERNAME_INDEX, None),
        ({"name": "idx_user_username", "table": "message", "columns": ["conversation_id"]}, None),  # a duplicate name
        ({"name": "idx_no_columns", "table": "user", "columns": []}, "idx_no_columns: 'columns' must be a non-empty list"),
        # Names that need quoting are legal (the driver quotes them: test_spec_names.py builds such indexes).
        ({"name": quoted_name, "table": "user", "columns": ["email"]}, LEGAL),
        ({"name": "idx_user--email", "table": "user", "columns": ["email"]}, LEGAL),
        ({"name": "idx_backtick_table", "table": backticked_table, "columns": ["email"]}, LEGAL),
        ({"name": "idx_quote_column", "table": "user", "columns": [{"name": 'email"'}]}, LEGAL),
        # What no server can hold, or a string that does not read as a plain name, is refused naming the cause.
        ({"name": "idx_nul\x00name", "table": "user", "columns": ["email"]},
         "idx_nul\x00name: name 'idx_nul\\x00name' %s" % NUL_RULE),
        ({"name": "idx_semicolon_column", "table": "message", "columns": ["content; DROP TABLE message"]},
         "idx_semicolon_column: column 'content; DROP TABLE message': expected 'name [(length)] [ASC|DESC] [NULLS FIRST|LAST]'"
         " with a plain name; for any other name %s" % MAPPING_HINT),
        ({"name": too_long, "table": "user", "columns": ["email"]},
         "%s: name %r is %d %s long; %s allows at most %d" % (too_long, too_long, len(too_long), LENGTH_UNIT[engine],
                                                             ENGINE_LABEL[engine], MAX_NAME_LENGTH[engine])),
        ({"name": "idx_where_subquery", "table": "query_log", "columns": ["user_id"], "where": subquery},
         "idx_where_subquery: " + where_refusal[subquery]),
        ({"name": "idx_where_semicolon", "table": "query_log", "columns": ["user_id"], "where": statement_after},
         "idx_where_semicolon: " + where_refusal[statement_after]),
        ({"name": "idx_where_comment", "table": "query_log", "columns": ["user_id"], "where": comment},
         "idx_where_comment: " + where_refusal[comment]),
        # MySQL compares index names without case: IDX_QUERY_LOG_STATUS and idx_query_log_status are one index there.
        ({"name": "idx_query_log_status", "table": "query_log", "columns": ["status"]}, None),
        ({"name": "IDX_QUERY_LOG_STATUS", "table": "query_log", "columns": ["status", "user_id"]}, None),
    ]


def test_a_malformed_spec_is_refused_with_every_problem_named(dbs, tmp_path):
    """Both engines in one run (a host each, each with its engine's spec)."""
    entries = {host: malformed_entries(db.engine) for host, db in dbs.items()}
    inventory, before, completed = migrate_with_specs(
        tmp_path, dbs, {host: yaml.safe_dump({"indexes": [e for e, _ in listed]}) for host, listed in entries.items()})
    for host, db in dbs.items():
        detail, told = refused_spec_detail(db, inventory, before[host], completed, host)
        for position, (_entry, message) in enumerate(entries[host], 1):
            if message == LEGAL:
                assert "indexes[%d]:" % position not in detail, (position, detail)
            elif message:
                assert "indexes[%d]: %s" % (position, message) in detail, (position, detail)
        duplicates = {"postgresql": "duplicate index names: idx_user_username",
                      "mysql": "duplicate index names: IDX_QUERY_LOG_STATUS, idx_query_log_status, idx_user_username"
                               " (MySQL ignores case in index names)"}[db.engine]
        assert duplicates in detail
        # The operator reads the same causes on the terminal, not only in the report.
        assert "idx_no_columns: 'columns' must be a non-empty list" in told and NUL_RULE in told and MAPPING_HINT in told


def test_a_spec_that_does_not_fit_the_database_is_refused_before_the_backup(dbs, tmp_path):
    """Both engines in one run (a host each, each with its engine's spec)."""
    entries = {host: entries_that_do_not_fit(db) for host, db in dbs.items()}
    inventory, before, completed = migrate_with_specs(
        tmp_path, dbs, {host: yaml.safe_dump({"indexes": [e for e, _ in listed]}) for host, listed in entries.items()})
    for host, db in dbs.items():
        detail, _told = refused_spec_detail(db, inventory, before[host], completed, host)
        for _entry, message in entries[host]:
            if message:
                assert message in detail, (message, detail)
        assert "idx_user_username" not in detail


def entries_that_do_not_fit(db):
    """(entry, what the run must say about it) of a spec that names what this database does not have."""
    schema = "public" if db.engine == "postgresql" else db.name
    entries = [
        (USERNAME_INDEX, None),  # fine on its own, and still not built: the run stops as a whole
        ({"name": "idx_ghost_table", "table": "no_such_table", "columns": ["id"]},
         "idx_ghost_table: table %s.no_such_table does not exist" % schema),
        ({"name": "idx_user_nickname", "table": "user", "columns": ["nickname"]},
         "idx_user_nickname: table %s.user has no column nickname" % schema),
    ]
    if db.engine == "postgresql":
        entries += [
            # Indexes share the tables' namespace: the build would fail after the backup with "relation already exists".
            ({"name": "message", "table": "user", "columns": ["email"]},
             "the name public.message is taken by another kind of relation (relkind r), not an index"),
            # A predicate the server refuses (now() is not immutable), found on an empty copy of the table.
            ({"name": "idx_recent_messages", "table": "message", "columns": ["conversation_id"], "where": "timestamp > now()"},
             "idx_recent_messages: the server rejects this index definition: functions in index predicate must be marked IMMUTABLE"),
        ]
    if db.engine == "mysql":
        # MySQL compares index names without case: the spec's IDX_USER_EMAIL is this index, with another definition.
        query(db, "CREATE INDEX idx_user_email ON `user` (email)")
        entries.append(({"name": "IDX_USER_EMAIL", "table": "user", "columns": ["username"]},
                        "IDX_USER_EMAIL exists with another definition; refusing to touch it"))
    return entries


def test_a_spec_file_that_is_not_a_mapping_is_refused(pg_db, tmp_path):
    # The common slip: the entries written at the top level, without `indexes:` (same on both engines).
    inventory, before, completed = migrate_with_specs(tmp_path, {HOST: pg_db}, {HOST: yaml.safe_dump([USERNAME_INDEX])})
    detail, _told = refused_spec_detail(pg_db, inventory, before[HOST], completed, HOST)
    assert "the index spec must be a mapping with an 'indexes' list, not list" in detail
