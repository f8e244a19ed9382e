"""The spec language on real servers, through migrate.yml and rollback.yml: names that need quoting (spaces, mixed case, a
reserved word, a double quote, a backtick) on both engines, an expression key on PostgreSQL, its refusal on MariaDB."""

import json

import pytest
import yaml

from tests.integration.conftest import HOST, play_recap, query, run_playbook, said_of, write_inventory, write_inventory_of

pytestmark = pytest.mark.slow

TABLE = "Order Items"
BY_CUSTOMER = "Order Items by Customer"
ODD = 'Odd "Select" `Names` 100%'                # a double quote, a backtick, a reserved word, mixed case
BY_EMAIL = "Order Items by lower(email)"
ONE_NULL = "One row per email and tick, NULLs alike"  # NULLS NOT DISTINCT (PostgreSQL 15+)
ROWS = 3000
DIGITS = "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5" \
         " UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)"


def quoted(db, name):
    """A name as the test's own SQL writes it (the code under test quotes with the driver)."""
    if db.engine == "postgresql":
        return '"%s"' % name.replace('"', '""')
    return "`%s`" % name.replace("`", "``")


def make_table(db):
    """A table whose every name needs quoting, with enough rows that an index is worth a planner's while."""
    q = lambda name: quoted(db, name)  # noqa: E731
    key = "integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY" if db.engine == "postgresql" else "INT AUTO_INCREMENT PRIMARY KEY"
    query(db, "CREATE TABLE %s (id %s, %s INT NOT NULL, %s VARCHAR(40), %s INT, %s INT, email VARCHAR(80))" % (
        q(TABLE), key, q("Customer Id"), q("Select"), q('Quote"d'), q("Back`tick")))
    query(db, "INSERT INTO %s (%s, %s, %s, %s, email) %s" % (
        q(TABLE), q("Customer Id"), q("Select"), q('Quote"d'), q("Back`tick"),
        "SELECT n %% 500, 'kind ' || (n %% 7), n %% 11, n %% 13, 'User' || n || '@Example.com' FROM generate_series(1, %d) n"
        % ROWS if db.engine == "postgresql" else
        "SELECT n %% 500, CONCAT('kind ', n %% 7), n %% 11, n %% 13, CONCAT('User', n, '@Example.com') FROM"
        " (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 1 AS n FROM %s a, %s b, %s c, %s e) s WHERE n <= %d"
        % ((DIGITS,) * 4 + (ROWS,))))
    query(db, "ANALYZE %s" % q(TABLE) if db.engine == "postgresql" else "ANALYZE TABLE %s" % q(TABLE))


def write_spec(path, db, expression=False):
    q = lambda name: quoted(db, name)  # noqa: E731
    indexes = [
        {"name": BY_CUSTOMER, "table": TABLE, "columns": [{"name": "Customer Id", "order": "desc"}]},
        {"name": ODD, "table": TABLE, "columns": [{"name": "Select"}, {"name": 'Quote"d'}, {"name": "Back`tick"}]},
    ]
    probes = [{"name": "orders of a customer", "sql": "SELECT id FROM %s WHERE %s = 42" % (q(TABLE), q("Customer Id")),
               "expect_index": BY_CUSTOMER}]
    if expression:
        indexes.append({"name": BY_EMAIL, "table": TABLE, "columns": [{"expression": "lower(email)"}]})
    if expression and db.engine == "postgresql":
        indexes.append({"name": ONE_NULL, "table": TABLE, "columns": ["email", {"name": "Back`tick"}], "unique": True,
                        "nulls_distinct": False})
        probes.append({"name": "login by address", "sql": "SELECT id FROM %s WHERE lower(email) = 'user42@example.com'"
                       % q(TABLE), "expect_index": BY_EMAIL})
    path.write_text(yaml.safe_dump({"indexes": indexes, "probes": probes}))
    return path


def catalog(db):
    """Every index of the test table as a user lists it, with whether it is usable: {name: (definition, valid)}."""
    if db.engine == "postgresql":
        return {name: (definition, valid) for name, definition, valid in query(
            db, "SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid AND i.indisready FROM pg_index i"
                " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass", (quoted(db, TABLE),))}
    return {name: (columns, True) for name, columns in query(
        db, "SELECT INDEX_NAME, GROUP_CONCAT(CONCAT_WS(' ', COLUMN_NAME, COLLATION) ORDER BY SEQ_IN_INDEX SEPARATOR ', ')"
            " FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s GROUP BY INDEX_NAME",
        (TABLE,))}


def plan_of(db, sql):
    """The plan a user would read, the planner told to prefer indexes (the table is small)."""
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET enable_seqscan = off" if db.engine == "postgresql" else "SET SESSION max_seeks_for_key = 1")
            cur.execute("EXPLAIN " + sql)
            rows = cur.fetchall()
            return "\n".join(r[0] for r in rows) if db.engine == "postgresql" else " ".join(str(r[5]) for r in rows)
    finally:
        conn.close()


def output(completed):
    return completed.stdout[-4000:] + completed.stderr[-2000:]


def test_names_that_need_quoting_migrate_rerun_and_roll_back(dbs, tmp_path):
    """Both engines in each run (a host each); MariaDB has no expression keys: its refusal is the test below."""
    specs, before = {}, {}
    for host, db in dbs.items():
        make_table(db)
        specs[host] = write_spec(tmp_path / ("spec-%s.yml" % host), db, expression=db.engine == "postgresql")
        before[host] = catalog(db)
    inventory = write_inventory_of(tmp_path / "inventory", dbs,
                                   host_vars={host: {"index_spec_file": str(spec)} for host, spec in specs.items()})

    migrated = run_playbook("migrate.yml", inventory, "-e", "run_id=names-1")
    assert migrated.returncode == 0, output(migrated)
    after = {}
    for host, db in dbs.items():
        expression = db.engine == "postgresql"
        expected = 4 if expression else 2
        assert "Total indexes in place: %d/%d" % (expected, expected) in said_of(migrated, host), output(migrated)
        # The backup gate held with these names too: the dump was verified by a restore, the table's rows counted in it.
        report = json.loads((inventory / "artifacts" / host / "names-1" / "report.json").read_text())
        assert report["backup"]["verified"], report["backup"]
        manifest = json.loads(open(report["backup"]["manifest_path"]).read())
        assert [t["rows"] for t in manifest["tables"] if t["name"] == TABLE] == [ROWS], manifest["tables"]
        after[host] = found = catalog(db)
        built = {BY_CUSTOMER, ODD} | ({BY_EMAIL, ONE_NULL} if expression else set())
        assert set(found) - set(before[host]) == built
        assert all(found[name][1] for name in built), found
        probe = "SELECT id FROM %s WHERE %s = 42" % (quoted(db, TABLE), quoted(db, "Customer Id"))
        assert BY_CUSTOMER in plan_of(db, probe)
        if db.engine == "postgresql":
            assert found[BY_CUSTOMER][0].endswith('USING btree ("Customer Id" DESC)'), found[BY_CUSTOMER]
            assert found[ODD][0].endswith('USING btree ("Select", "Quote""d", "Back`tick")'), found[ODD]
            assert found[BY_EMAIL][0].endswith("USING btree (lower((email)::text))"), found[BY_EMAIL]
            assert BY_EMAIL in plan_of(db, "SELECT id FROM %s WHERE lower(email) = 'user42@example.com'" % quoted(db, TABLE))
            # ANALYZEd after the build: the planner has statistics of the expression (pg_stats lists them under the index).
            assert query(db, "SELECT count(*) FROM pg_stats WHERE tablename = %s", (BY_EMAIL,))[0][0] == 1
            assert found[ONE_NULL][0].endswith('USING btree (email, "Back`tick") NULLS NOT DISTINCT'), found[ONE_NULL]
        else:
            assert found[BY_CUSTOMER][0] == "Customer Id D", found[BY_CUSTOMER]
            assert found[ODD][0] == 'Select A, Quote"d A, Back`tick A', found[ODD]

    again = run_playbook("migrate.yml", inventory, "-e", "run_id=names-2")
    assert again.returncode == 0, output(again)
    for host, db in dbs.items():
        expected = 4 if db.engine == "postgresql" else 2
        assert play_recap(again.stdout, host)["changed"] == "0"
        assert "Already existed: %d" % expected in said_of(again, host)
        assert catalog(db) == after[host]

    rolled_back = run_playbook("rollback.yml", inventory, "-e", "run_id=names-1")
    assert rolled_back.returncode == 0, output(rolled_back)
    for host, db in dbs.items():
        assert "dropped %d" % (4 if db.engine == "postgresql" else 2) in said_of(rolled_back, host)
        assert catalog(db) == before[host]


def test_mariadb_refuses_an_expression_key_in_preflight_before_any_backup(my_db, tmp_path):
    make_table(my_db)
    spec = write_spec(tmp_path / "spec.yml", my_db, expression=True)
    inventory = write_inventory(tmp_path / "inventory", my_db, index_spec_file=str(spec))
    before = catalog(my_db)

    refused = run_playbook("migrate.yml", inventory, "-e", "run_id=expr-1")
    assert refused.returncode != 0, output(refused)
    said = " ".join(refused.stdout.split())
    assert "preflight refused the run" in said, output(refused)
    assert "expression keys ((lower(email))) are not supported on this mariadb server" in said, output(refused)
    assert "generated column" in said
    # Refused before the backup: no dump anywhere, no index built.
    backups = inventory / "backups"
    assert not backups.exists() or not [p for p in backups.rglob("*") if p.is_file()], sorted(backups.rglob("*"))
    run_dir = inventory / "artifacts" / HOST / "expr-1"
    assert not [p for p in run_dir.rglob("*") if p.suffix in (".sql", ".dump", ".gz", ".zst")]
    assert catalog(my_db) == before
