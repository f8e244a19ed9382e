"""Unique prechecks on the real servers: duplicate keys of a unique index to build are found in preflight, before the
backup, with the index's own semantics; each count is checked against what the server's own unique build does."""

import dataclasses
import json

import pytest
import yaml
from ansible.module_utils.safeindex.core.connection import connection_params
from ansible.module_utils.safeindex.core.errors import ServerRefused
from ansible.module_utils.safeindex.engines import open_engine
from ansible.module_utils.safeindex.run.unique_precheck import unique_precheck
from ansible.module_utils.safeindex.spec.definition import IndexColumn, IndexDefinition
from ansible.module_utils.safeindex.spec.parse import parse_index

from tests.integration.conftest import HOST, connection_args, index_in_catalog, query, run_playbook, write_inventory


def execute(db, *statements):
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def builds(db, statement):
    """Whether the server itself builds this unique index (then drops it): the oracle each count is checked against."""
    try:
        execute(db, statement)
    except Exception as exc:  # the driver's own error: a duplicate key
        assert "duplicate" in str(exc).lower() or "could not create unique index" in str(exc), exc
        return False
    return True


def engine_for(db):
    return open_engine(connection_params(connection_args(db)))


def wanted(dialect, entry):
    """The canonical definition the build would use (what preflight plans with), for a spec entry."""
    from ansible.module_utils.safeindex.build.indexer import BuildOptions, decide

    return decide(dialect, parse_index(entry, dialect.engine), BuildOptions(run_id="plan")).wanted


def counted(dialect, definition, samples=0):
    found = dialect.duplicate_keys(definition, timeout=30, samples=samples)
    return found.groups, found.rows


# --- the semantics, engine by engine (no playbook: the engine's query straight on the server) ---------------------

def test_postgresql_nulls_predicate_expression_and_nulls_not_distinct(pg_db):
    execute(pg_db,
            "CREATE TABLE account (id serial PRIMARY KEY, email text, a int, b int, live boolean)",
            "INSERT INTO account (email, a, b, live) VALUES ('A@x.org', 1, NULL, true), ('a@x.org', 1, NULL, true),"
            " ('b@x.org', 1, 2, true), ('b@x.org', 1, 2, false), (NULL, NULL, NULL, true), (NULL, NULL, NULL, true)")
    dialect = engine_for(pg_db)
    try:
        email = wanted(dialect, {"name": "u_email", "table": "account", "columns": ["email"], "unique": True})
        # NULLs are never duplicates; 'A@x.org' and 'a@x.org' differ under the default (deterministic) collation.
        assert counted(dialect, email) == (1, 2)
        assert not builds(pg_db, "CREATE UNIQUE INDEX u_email ON account (email)")
        assert dialect.duplicate_keys(email, 30, samples=5).samples == [(("b@x.org",), 2)]

        # A partial index: the predicate leaves one b@x.org out, so there is nothing to refuse.
        live = wanted(dialect, {"name": "u_live", "table": "account", "columns": ["email"], "unique": True, "where": "live"})
        assert live.where and counted(dialect, live) == (0, 0)
        assert builds(pg_db, "CREATE UNIQUE INDEX u_live ON account (email) WHERE live")

        # Composite keys: (1, NULL) twice is no duplicate, (1, 2) twice is.
        pair = wanted(dialect, {"name": "u_pair", "table": "account", "columns": ["a", "b"], "unique": True})
        assert counted(dialect, pair) == (1, 2)

        # An expression key, as the server's text gives it: lower(email) makes A@x.org and a@x.org one key.
        lowered = dataclasses.replace(email, columns=(IndexColumn(expression="lower(email)"),))
        assert counted(dialect, lowered) == (2, 4)
        assert not builds(pg_db, "CREATE UNIQUE INDEX u_lower ON account (lower(email))")

        # NULLS NOT DISTINCT (PostgreSQL 15): the two NULL emails are one key too.
        assert dialect.server_version().startswith(("15", "16", "17", "18"))
        not_distinct = dataclasses.replace(email, nulls_distinct=False)
        assert counted(dialect, not_distinct) == (2, 4)
        assert not builds(pg_db, "CREATE UNIQUE INDEX u_nnd ON account (email) NULLS NOT DISTINCT")
        nulls_only = dataclasses.replace(live, nulls_distinct=False)
        assert counted(dialect, nulls_only) == (1, 2)  # the NULL pair is live, the b@x.org pair is not

        # The column's collation: under a case-insensitive (nondeterministic ICU) one, A@x.org and a@x.org are one key.
        execute(pg_db, "CREATE COLLATION case_blind (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
                "ALTER TABLE account ADD COLUMN login text COLLATE case_blind", "UPDATE account SET login = email")
        login = wanted(dialect, {"name": "u_login", "table": "account", "columns": ["login"], "unique": True})
        assert counted(dialect, login) == (2, 4)
        assert not builds(pg_db, "CREATE UNIQUE INDEX u_login ON account (login)")
    finally:
        dialect.close()


def test_mariadb_collation_prefix_lengths_binary_prefixes_and_nulls(my_db):
    execute(my_db,
            "CREATE TABLE account (id int AUTO_INCREMENT PRIMARY KEY,"
            " name varchar(50) COLLATE utf8mb4_general_ci, exact varchar(50) COLLATE utf8mb4_bin,"
            " code varchar(20), raw varbinary(20)) ENGINE=InnoDB",
            "INSERT INTO account (name, exact, code, raw) VALUES ('a', 'a', 'abcd1', X'616201'), ('A', 'A', 'abcd2', X'616202'),"
            " (NULL, NULL, NULL, NULL), (NULL, NULL, NULL, NULL), ('b', 'b', 'xyz', X'00')")
    dialect = engine_for(my_db)
    try:
        # A case-insensitive collation: 'a' and 'A' are one key, as the server's unique index says.
        name = wanted(dialect, {"name": "u_name", "table": "account", "columns": ["name"], "unique": True})
        assert counted(dialect, name) == (1, 2)
        assert not builds(my_db, "ALTER TABLE account ADD UNIQUE INDEX u_name (name)")
        found = dialect.duplicate_keys(name, 30, samples=5)
        assert len(found.samples) == 1 and found.samples[0][0][0] in ("a", "A") and found.samples[0][1] == 2
        # A binary collation keeps them apart; NULLs are never duplicates.
        exact = wanted(dialect, {"name": "u_exact", "table": "account", "columns": ["exact"], "unique": True})
        assert counted(dialect, exact) == (0, 0)
        assert builds(my_db, "ALTER TABLE account ADD UNIQUE INDEX u_exact (exact)")

        # A prefix length of n characters: abcd1 and abcd2 are equal in their first 4, not in their first 5.
        prefix4 = wanted(dialect, {"name": "u_code4", "table": "account", "columns": [{"name": "code", "length": 4}], "unique": True})
        assert prefix4.columns[0].length == 4 and counted(dialect, prefix4) == (1, 2)
        assert not builds(my_db, "ALTER TABLE account ADD UNIQUE INDEX u_code4 (code(4))")
        prefix5 = wanted(dialect, {"name": "u_code5", "table": "account", "columns": [{"name": "code", "length": 5}], "unique": True})
        assert counted(dialect, prefix5) == (0, 0)
        assert builds(my_db, "ALTER TABLE account ADD UNIQUE INDEX u_code5 (code(5))")

        # A binary column's prefix counts bytes: 0x6162.. twice in the first 2 bytes.
        raw2 = wanted(dialect, {"name": "u_raw2", "table": "account", "columns": [{"name": "raw", "length": 2}], "unique": True})
        assert counted(dialect, raw2) == (1, 2)
        assert not builds(my_db, "ALTER TABLE account ADD UNIQUE INDEX u_raw2 (raw(2))")
    finally:
        dialect.close()


# --- the row: timeout, action, off (db_preflight's judgement on the real servers) ---------------------------------

def big_table(db):
    """A table of 200k distinct keys: scanning it takes far longer than a 1 ms statement timeout."""
    if db.engine == "postgresql":
        execute(db, "CREATE TABLE big (id int PRIMARY KEY, payload text)",
                "INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 200000) g")
    else:
        execute(db, "CREATE TABLE big (id int PRIMARY KEY, payload varchar(40)) ENGINE=InnoDB",
                "INSERT INTO big SELECT seq, MD5(seq) FROM seq_1_to_200000")


def test_a_scan_over_its_timeout_follows_the_action_and_off_skips(db, run_module, tmp_path):
    big_table(db)
    entry = {"name": "u_big_payload", "table": "big", "columns": ["payload"], "unique": True}
    specs = [parse_index(entry, db.engine)]
    summary = {"pending": ["u_big_payload"]}
    dialect = engine_for(db)
    try:
        warned = unique_precheck(dialect, specs, summary, "full", "warn", timeout=0.001)
        assert warned["result"] == "warn", warned
        assert "u_big_payload: could not finish the duplicate scan" in warned["detail"] and "within 0.001 s" in warned["detail"]
        failed = unique_precheck(dialect, specs, summary, "full", "fail", timeout=0.001)
        assert failed["result"] == "fail" and "duplicates not ruled out" in failed["detail"], failed
        # Within a real timeout the whole table is scanned: 200k distinct keys, nothing to refuse.
        clean = unique_precheck(dialect, specs, summary, "full", "fail", timeout=60)
        assert clean["result"] == "ok" and "u_big_payload: no duplicate keys" in clean["detail"], clean
        skipped = unique_precheck(dialect, specs, summary, "off", "fail", timeout=0.001)
        assert skipped["result"] == "skip" and "unique_precheck=off" in skipped["detail"]
        # The session is usable afterwards and its timeout is back to none (the read-only transaction was rolled back).
        assert dialect.duplicate_keys(dialect.canonical_definition(specs[0], dialect.default_schema()), 0).groups == 0
    finally:
        dialect.close()

    # The module's options reach the row (check mode: the run lock is only tested, nothing is recorded).
    spec = tmp_path / "indexes.yml"
    spec.write_text(yaml.safe_dump({"indexes": [entry]}))
    args = dict(connection_args(db), spec_path=str(spec), run_id="unique-1", holder_file=str(tmp_path / "lock.json"),
                unique_precheck_timeout_seconds=0.001, unique_precheck_action="warn")
    result = run_module("db_preflight", args, check_mode=True)
    row = [c for c in result["checks"] if c["check"] == "unique indexes"]
    assert row and row[0]["result"] == "warn" and "u_big_payload: could not finish" in row[0]["detail"], result["checks"]
    assert not result.get("failed") and any(w.startswith("unique indexes: u_big_payload") for w in result["warnings_found"])
    off = run_module("db_preflight", dict(args, unique_precheck="off", unique_precheck_action="fail"), check_mode=True)
    assert [c["result"] for c in off["checks"] if c["check"] == "unique indexes"] == ["skip"] and not off.get("failed")


def test_the_scan_is_read_only(pg_db):
    """A predicate cannot write: the scan runs in a READ ONLY transaction (built past the parser, straight to the engine)."""
    execute(pg_db, "CREATE TABLE account (id int PRIMARY KEY, email text)", "INSERT INTO account VALUES (1, 'x')")
    dialect = engine_for(pg_db)
    try:
        definition = IndexDefinition(table="account", schema="public", columns=(IndexColumn(name="email"),), unique=True,
                                     where="nextval('account_seq') > 0")
        execute(pg_db, "CREATE SEQUENCE account_seq")
        with pytest.raises(ServerRefused, match="read-only transaction"):
            dialect.duplicate_keys(definition, 30)
    finally:
        dialect.close()
    assert query(pg_db, "SELECT last_value, is_called FROM account_seq") == [(1, False)]


# --- through migrate.yml: refused in preflight, before the backup -------------------------------------------------

UNIQUE_ROLE = {"name": "idx_message_role_unique", "table": "message", "columns": ["role"], "unique": True}


@pytest.mark.slow
def test_a_unique_spec_over_duplicates_is_refused_before_the_backup(db, tmp_path):
    # One migrate.yml run per engine: PostgreSQL with the values hidden (the default), MariaDB with them shown.
    samples = db.engine == "mysql"
    roles = query(db, "SELECT role, COUNT(*) FROM message WHERE role IS NOT NULL GROUP BY role HAVING COUNT(*) > 1")
    assert len(roles) >= 2
    spec = tmp_path / "indexes.yml"
    spec.write_text(yaml.safe_dump({"indexes": [UNIQUE_ROLE]}))
    inventory = write_inventory(tmp_path / "inventory", db)
    completed = run_playbook("migrate.yml", inventory, "-e", "index_spec_file=%s" % spec,
                             "-e", "show_duplicate_samples=%s" % str(samples).lower())
    out = completed.stdout
    assert completed.returncode != 0 and "preflight refused the run" in out, out[-3000:]
    line = next(line for line in out.splitlines() if "unique indexes: idx_message_role_unique" in line)
    assert "%d duplicate key groups" % len(roles) in line, line
    for role, rows in roles:
        assert (("(%s) x%d" % (role, rows)) in line) == samples, line
    assert ("assistant" in out) == samples  # values are data: nowhere in the output unless asked for
    # Nothing dumped: no backup file, no dump in the run's folder; the index is not in the catalog.
    assert not any(p.is_file() for p in (inventory / "backups").rglob("*")) if (inventory / "backups").exists() else True
    run_dir = next((inventory / "artifacts" / HOST).glob("*/report.json")).parent
    assert not [p.name for p in run_dir.rglob("*") if "dump" in p.name or p.suffix in (".sql", ".gz", ".zst")]
    assert not index_in_catalog(db, "message", UNIQUE_ROLE["name"])
    report = json.loads((run_dir / "report.json").read_text())
    assert report["status"] == "failed" and report["backup"] is None
    assert [c for c in report["preflight"] if c["check"] == "unique indexes"][0]["result"] == "fail"
