"""Partitioned tables on real servers (issue 19, point 1): a PostgreSQL table partitioned by month gets its spec index
part by part (ON ONLY, each partition CONCURRENTLY, ATTACH), idempotent per partition, through migrate.yml and
rollback.yml; a run stopped midway is finished by the next; what cannot be built is refused in preflight, before the
backup; MariaDB builds a partitioned InnoDB table's index online in one statement."""

import json
import time

import pytest
import yaml

from tests.integration.conftest import HOST, index_args, pg_invalid_indexes, play_recap, query, run_playbook, write_inventory

pytestmark = pytest.mark.slow

INDEX = {"name": "events_kind_idx", "table": "events", "columns": ["kind"]}
MONTHS = ("2026_01", "2026_02", "2026_03")


def make_events(db, months=MONTHS, rows_per_month=1000):
    """`events`, partitioned by month, with rows in every partition."""
    query(db, "CREATE TABLE events (id bigint NOT NULL, created_at timestamptz NOT NULL, kind text NOT NULL)"
              " PARTITION BY RANGE (created_at)")
    for month in months:
        add_month(db, month)
    # Every day from January 1st to March 30th, 50 kinds.
    query(db, "INSERT INTO events SELECT g, timestamptz '2026-01-01' + (g % 89) * interval '1 day', 'kind' || (g % 50)"
              " FROM generate_series(1, " + str(rows_per_month * len(months)) + ") g")
    query(db, "ANALYZE events")


def add_month(db, month):
    year, number = (int(part) for part in month.split("_"))
    following = "%d-%02d-01" % (year + number // 12, number % 12 + 1)
    query(db, "CREATE TABLE events_%s PARTITION OF events FOR VALUES FROM ('%d-%02d-01') TO ('%s')"
              % (month, year, number, following))


def autocommit(db, statement):
    """A statement that cannot run in a transaction (CREATE INDEX CONCURRENTLY); its error is returned, not raised."""
    conn = db.connect()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    except Exception as exc:  # the test makes the failure on purpose
        return exc
    finally:
        conn.close()
    return None


def tree_indexes(db, root="events_kind_idx"):
    """What a user checks: every index attached under the root, with its partition, validity, oid and comment."""
    rows = query(db, """
        WITH RECURSIVE tree(oid) AS (
          SELECT inhrelid FROM pg_inherits WHERE inhparent = %s::regclass
          UNION ALL SELECT h.inhrelid FROM pg_inherits h JOIN tree ON h.inhparent = tree.oid)
        SELECT t.relname, c.relname, i.indisvalid, c.oid, coalesce(obj_description(c.oid, 'pg_class'), '')
          FROM tree JOIN pg_index i ON i.indexrelid = tree.oid JOIN pg_class c ON c.oid = tree.oid
          JOIN pg_class t ON t.oid = i.indrelid ORDER BY 1""", (root,))
    return {table: {"index": name, "valid": valid, "oid": oid, "comment": comment} for table, name, valid, oid, comment in rows}


def index_of(db, name):
    rows = query(db, "SELECT i.indisvalid, c.oid, t.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                     " JOIN pg_class t ON t.oid = i.indrelid WHERE c.relname = %s", (name,))
    return rows[0] if rows else None


def events_indexes(db):
    return sorted(r[0] for r in query(
        db, "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid"
            " WHERE t.relname LIKE 'events%'"))


def migrate(tmp_path, inventory, spec, *extra):
    path = tmp_path / "indexes.yml"
    path.write_text(yaml.safe_dump(spec))
    return run_playbook("migrate.yml", inventory, "-e", "index_spec_file=%s" % path, *extra)


def output(completed):
    return completed.stdout[-5000:] + completed.stderr[-2000:]


def test_a_monthly_partitioned_table_is_built_per_partition_rerun_and_rolled_back(pg_db, tmp_path):
    make_events(pg_db)
    # Before the run: an equal index someone made on January, and the INVALID leftover of a failed build on February.
    query(pg_db, "CREATE INDEX events_2026_01_kind_mine ON events_2026_01 (kind)")
    mine = index_of(pg_db, "events_2026_01_kind_mine")
    failed = autocommit(pg_db, "CREATE UNIQUE INDEX CONCURRENTLY events_kind_idx_events_2026_02 ON events_2026_02 (kind)")
    assert failed is not None and pg_invalid_indexes(pg_db) == ["events_kind_idx_events_2026_02"]
    leftover = index_of(pg_db, "events_kind_idx_events_2026_02")

    inventory = write_inventory(tmp_path / "inventory", pg_db)
    first = migrate(tmp_path, inventory, {"indexes": [INDEX]}, "-e", "run_id=part-1")
    assert first.returncode == 0, output(first)
    root = query(pg_db, "SELECT i.indisvalid, obj_description(i.indexrelid, 'pg_class') FROM pg_index i"
                        " WHERE i.indexrelid = 'events_kind_idx'::regclass")[0]
    assert root == (True, "safeindex run_id=part-1")
    attached = tree_indexes(pg_db)
    assert sorted(attached) == ["events_2026_01", "events_2026_02", "events_2026_03"]
    assert all(entry["valid"] for entry in attached.values())
    # January's own index was attached, not rebuilt (the same relation), and keeps no marker: it is not the run's.
    assert attached["events_2026_01"]["index"] == "events_2026_01_kind_mine" and attached["events_2026_01"]["oid"] == mine[1]
    assert attached["events_2026_01"]["comment"] == ""
    # February's INVALID leftover was dropped and built again under the same name.
    assert attached["events_2026_02"]["index"] == "events_kind_idx_events_2026_02"
    assert attached["events_2026_02"]["oid"] != leftover[1]
    assert attached["events_2026_03"]["index"] == "events_kind_idx_events_2026_03"
    assert attached["events_2026_03"]["comment"] == "safeindex run_id=part-1"
    assert pg_invalid_indexes(pg_db) == []
    # Each partition has its own lines as it starts and ends.
    assert "events_kind_idx: building on partition public.events_2026_03" in first.stdout
    assert "events_kind_idx: partition public.events_2026_03: events_kind_idx_events_2026_03 created in" in first.stdout
    assert "events_2026_01_kind_mine attached (an equal index was there)" in first.stdout
    # pg_partition_tree agrees: the root index's tree holds it and the three partition indexes.
    assert query(pg_db, "SELECT count(*) FROM pg_partition_tree('events_kind_idx')")[0][0] == 4
    conn = pg_db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SET enable_seqscan = off")
            cur.execute("EXPLAIN SELECT * FROM events WHERE kind = 'kind7'")
            plan = "\n".join(r[0] for r in cur.fetchall())
    finally:
        conn.close()
    for entry in attached.values():
        assert entry["index"] in plan, plan

    # The report and the run record, built from record.jsonl, show each partition.
    run_dir = inventory / "artifacts" / HOST / "part-1"
    report = json.loads((run_dir / "report.json").read_text())
    [built] = [i for i in report["indexes"] if i["name"] == "events_kind_idx"]
    assert {p["partition"]: p["action"] for p in built["partitions"]} == {
        "public.events_2026_01": "attached", "public.events_2026_02": "rebuilt_invalid", "public.events_2026_03": "created"}
    assert any('ON ONLY "public"."events"' in s for s in built["sql"])
    assert any(s.startswith('CREATE INDEX CONCURRENTLY "events_kind_idx_events_2026_03"') for s in built["sql"])
    events = [json.loads(line) for line in (run_dir / "record.jsonl").read_text().splitlines()]
    assert sorted(e["partition"] for e in events if e.get("event") == "partition_index") == [
        "public.events_2026_01", "public.events_2026_02", "public.events_2026_03"]
    assert "events_kind_idx_events_2026_03" in (run_dir / "report.md").read_text()
    assert "events_kind_idx_events_2026_03" in (run_dir / "report.html").read_text()

    # Next month's partition: the server gives it the index itself (the parent's index exists); the rerun changes nothing.
    add_month(pg_db, "2026_04")
    query(pg_db, "INSERT INTO events SELECT g, timestamptz '2026-04-02', 'kind1' FROM generate_series(5001, 5100) g")
    attached = tree_indexes(pg_db)
    assert attached["events_2026_04"]["valid"] and attached["events_2026_04"]["comment"] == ""
    again = migrate(tmp_path, inventory, {"indexes": [INDEX]}, "-e", "run_id=part-2")
    assert again.returncode == 0, output(again)
    assert play_recap(again.stdout)["changed"] == "0", output(again)
    assert tree_indexes(pg_db) == attached

    # Rollback drops what run part-1 made; the indexes that were not its own (January's, and the one the server made
    # for April) go with the parent's DROP and are built again.
    rolled_back = run_playbook("rollback.yml", inventory, "-e", "run_id=part-1")
    assert rolled_back.returncode == 0, output(rolled_back)
    said = " ".join(rolled_back.stdout.split())
    assert "dropped 1, kept 0 (existed before the run), already gone 0" in said
    assert "Built again: events_2026_01_kind_mine (not made by the run;" in said, said[-3000:]
    assert "Built again: %s (not made by the run;" % attached["events_2026_04"]["index"] in said
    assert index_of(pg_db, "events_kind_idx") is None
    assert events_indexes(pg_db) == sorted(["events_2026_01_kind_mine", attached["events_2026_04"]["index"]])
    assert index_of(pg_db, "events_2026_01_kind_mine")[0] is True
    assert pg_invalid_indexes(pg_db) == []


def test_a_run_stopped_midway_is_finished_by_the_next_which_builds_only_what_is_missing(pg_db, run_module):
    make_events(pg_db)
    # A session in the middle of a write to March: the concurrent build there would wait for it, so the run gives up
    # there, midway, with January and February done.
    blocker = pg_db.connect(autocommit=False)
    with blocker.cursor() as cur:
        cur.execute("INSERT INTO events_2026_03 VALUES (0, '2026-03-15', 'kind1')")
    time.sleep(1.2)  # older than the lock timeout: seen as in the way before any build starts there
    try:
        stopped = run_module("db_index", index_args(pg_db, **INDEX))
    finally:
        blocker.rollback()
        blocker.close()
    assert stopped["_rc"] != 0 and "events_2026_03" in stopped["msg"], stopped
    assert index_of(pg_db, "events_kind_idx")[0] is False  # the parent stays INVALID
    done = tree_indexes(pg_db)
    assert sorted(done) == ["events_2026_01", "events_2026_02"] and pg_invalid_indexes(pg_db) == ["events_kind_idx"]

    # April is added meanwhile: the server gives it an index attached to the INVALID parent.
    add_month(pg_db, "2026_04")
    assert tree_indexes(pg_db)["events_2026_04"]["valid"]
    # Check mode: the exact SQL of every step still missing, and nothing done.
    planned = run_module("db_index", index_args(pg_db, **INDEX), check_mode=True)
    assert planned["_rc"] == 0 and planned["changed"], planned
    assert planned["sql"] == [
        "SET lock_timeout = '1000ms'",
        'CREATE INDEX CONCURRENTLY "events_kind_idx_events_2026_03" ON "public"."events_2026_03" USING btree ("kind")',
        'COMMENT ON INDEX "public"."events_kind_idx_events_2026_03" IS \'safeindex run_id=test-run-1\'',
        'ALTER INDEX "public"."events_kind_idx" ATTACH PARTITION "public"."events_kind_idx_events_2026_03"',
        'COMMENT ON INDEX "public"."events_kind_idx" IS \'safeindex run_id=test-run-1\'',
        'ANALYZE "public"."events"',
    ]
    assert "events_2026_03" not in tree_indexes(pg_db)
    rerun = run_module("db_index", index_args(pg_db, **INDEX))
    assert rerun["_rc"] == 0 and rerun["changed"], rerun
    assert {p["partition"]: p["action"] for p in rerun["partitions"]} == {
        "public.events_2026_01": "exists", "public.events_2026_02": "exists", "public.events_2026_03": "created",
        "public.events_2026_04": "exists"}
    assert not any("ON ONLY" in s for s in rerun["sql"])
    after = tree_indexes(pg_db)
    assert all(after[t]["oid"] == done[t]["oid"] for t in done)  # untouched
    assert index_of(pg_db, "events_kind_idx")[0] is True and pg_invalid_indexes(pg_db) == []

    third = run_module("db_index", index_args(pg_db, **INDEX))
    assert third["_rc"] == 0 and not third["changed"] and third["action"] == "exists"


def test_a_sub_partitioned_partition_gets_its_own_parent_index_and_a_foreign_partition_is_refused(pg_db, run_module):
    query(pg_db, "CREATE TABLE events (id bigint NOT NULL, created_at timestamptz NOT NULL, kind text NOT NULL)"
                 " PARTITION BY RANGE (created_at)")
    add_month(pg_db, "2026_01")
    query(pg_db, "CREATE TABLE events_2026_02 PARTITION OF events FOR VALUES FROM ('2026-02-01') TO ('2026-03-01')"
                 " PARTITION BY LIST (kind)")
    query(pg_db, "CREATE TABLE events_2026_02_a PARTITION OF events_2026_02 FOR VALUES IN ('a')")
    query(pg_db, "CREATE TABLE events_2026_02_rest PARTITION OF events_2026_02 DEFAULT")
    query(pg_db, "INSERT INTO events SELECT g, timestamptz '2026-01-01' + (g % 59) * interval '1 day',"
                 " CASE WHEN g % 3 = 0 THEN 'a' ELSE 'b' END FROM generate_series(1, 2000) g")
    built = run_module("db_index", index_args(pg_db, **INDEX))
    assert built["_rc"] == 0 and built["action"] == "created", built
    assert 'CREATE INDEX "events_kind_idx_events_2026_02" ON ONLY "public"."events_2026_02" USING btree ("kind")' in built["sql"]
    parents = dict(query(pg_db, "SELECT c.relname, p.relname FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid"
                                " JOIN pg_class p ON p.oid = h.inhparent WHERE c.relkind IN ('i', 'I')"))
    assert parents == {
        "events_kind_idx_events_2026_01": "events_kind_idx",
        "events_kind_idx_events_2026_02": "events_kind_idx",
        "events_kind_idx_events_2026_02_a": "events_kind_idx_events_2026_02",
        "events_kind_idx_events_2026_02_rest": "events_kind_idx_events_2026_02",
    }
    assert pg_invalid_indexes(pg_db) == [] and index_of(pg_db, "events_kind_idx")[0] is True

    # A foreign table among the partitions cannot get an index: refused in the plan, nothing done.
    admin = pg_db.server.admin_connect(pg_db.name)
    try:
        with admin.cursor() as cur:
            cur.execute("CREATE FOREIGN DATA WRAPPER safeindex_test_fdw")
            cur.execute("CREATE SERVER safeindex_test_server FOREIGN DATA WRAPPER safeindex_test_fdw")
            cur.execute("GRANT USAGE ON FOREIGN SERVER safeindex_test_server TO %s" % pg_db.user)
    finally:
        admin.close()
    try:
        query(pg_db, "CREATE FOREIGN TABLE events_2025_12 PARTITION OF events FOR VALUES FROM ('2025-12-01') TO"
                     " ('2026-01-01') SERVER safeindex_test_server")
        refused = run_module("db_index", index_args(pg_db, name="events_id_idx", table="events", columns=["id"]),
                             check_mode=True)
        assert refused["_rc"] != 0 and "partition events_2025_12 of public.events is a foreign table" in refused["msg"]
    finally:
        query(pg_db, "DROP FOREIGN TABLE IF EXISTS events_2025_12")
        admin = pg_db.server.admin_connect(pg_db.name)
        try:
            with admin.cursor() as cur:
                cur.execute("DROP SERVER IF EXISTS safeindex_test_server CASCADE")
                cur.execute("DROP FOREIGN DATA WRAPPER IF EXISTS safeindex_test_fdw CASCADE")
        finally:
            admin.close()


def test_a_unique_index_without_the_partition_key_is_refused_in_preflight_before_the_backup(pg_db, tmp_path):
    make_events(pg_db)
    inventory = write_inventory(tmp_path / "inventory", pg_db)
    unique = {"name": "events_id_key", "table": "events", "columns": ["id"], "unique": True}
    refused = migrate(tmp_path, inventory, {"indexes": [unique, INDEX]})
    assert refused.returncode != 0
    said = " ".join(refused.stdout.split())
    assert "preflight refused the run" in said, output(refused)
    assert "must include all partition key columns" in said and "lacks created_at" in said, output(refused)
    backups = inventory / "backups"
    assert not backups.exists() or not any(p.is_file() for p in backups.rglob("*"))  # no dump was taken
    assert index_of(pg_db, "events_kind_idx") is None and index_of(pg_db, "events_id_key") is None


def test_mariadb_builds_a_partitioned_innodb_table_online_and_refuses_what_it_cannot(my_db, run_module):
    query(my_db, "CREATE TABLE events (id bigint NOT NULL, created_at date NOT NULL, kind varchar(20) NOT NULL,"
                 " PRIMARY KEY (id, created_at)) ENGINE=InnoDB PARTITION BY RANGE COLUMNS (created_at) ("
                 " PARTITION p2026_01 VALUES LESS THAN ('2026-02-01'), PARTITION p2026_02 VALUES LESS THAN ('2026-03-01'),"
                 " PARTITION p2026_03 VALUES LESS THAN ('2026-04-01'))")
    conn = my_db.connect()
    try:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO events VALUES (%s, %s, %s)",
                            [(n, "2026-%02d-%02d" % (1 + n % 3, 1 + n % 28), "kind%d" % (n % 50)) for n in range(3000)])
        conn.commit()
    finally:
        conn.close()
    built = run_module("db_index", index_args(my_db, **INDEX))
    assert built["_rc"] == 0 and built["action"] == "created", built
    assert any("ALGORITHM=INPLACE, LOCK=NONE" in s for s in built["sql"])
    rows = query(my_db, "SELECT COUNT(DISTINCT PARTITION_NAME) FROM information_schema.PARTITIONS"
                        " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'events'")
    assert rows[0][0] == 3
    assert query(my_db, "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()"
                        " AND TABLE_NAME = 'events' AND INDEX_NAME = 'events_kind_idx'")[0][0] == 1
    plan = " ".join(str(r) for r in query(my_db, "EXPLAIN SELECT * FROM events WHERE kind = 'kind7'"))
    assert "events_kind_idx" in plan

    unique = run_module("db_index", index_args(my_db, name="events_id_key", table="events", columns=["id"], unique=True),
                        check_mode=True)
    assert unique["_rc"] != 0 and "must include all columns of its partitioning function (created_at)" in unique["msg"]
    query(my_db, "CREATE TABLE archive (id bigint NOT NULL, created_at date NOT NULL, kind varchar(20)) ENGINE=MyISAM"
                 " PARTITION BY RANGE COLUMNS (created_at) (PARTITION p1 VALUES LESS THAN ('2026-02-01'))")
    myisam = run_module("db_index", index_args(my_db, name="archive_kind_idx", table="archive", columns=["kind"]),
                        check_mode=True)
    assert myisam["_rc"] != 0 and "partitioned MyISAM table" in myisam["msg"], myisam
    # Only a build is refused: the same index made by hand (a copying ALTER) is found in place.
    query(my_db, "ALTER TABLE archive ADD INDEX archive_kind_idx (kind)")
    in_place = run_module("db_index", index_args(my_db, name="archive_kind_idx", table="archive", columns=["kind"]))
    assert in_place["_rc"] == 0 and in_place["action"] == "exists" and not in_place["changed"], in_place
