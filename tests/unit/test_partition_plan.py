"""Partitioned tables: the derived partition index names (63 bytes, UTF-8) and the per-partition plan, from a catalog
given as data (the real catalog and the statements are tested on the servers, tests/integration/test_partitions.py)."""

from types import SimpleNamespace

import pytest
from ansible.module_utils.safeindex.build.partitioned import partition_index_name, plan_tree
from ansible.module_utils.safeindex.core.errors import SpecError
from ansible.module_utils.safeindex.engines.base import CatalogIndex
from ansible.module_utils.safeindex.engines.interface.partitions import Partition
from ansible.module_utils.safeindex.engines.mysql.features import FEATURES as MYSQL
from ansible.module_utils.safeindex.engines.mysql.partitions import MysqlPartitions
from ansible.module_utils.safeindex.engines.postgresql.features import FEATURES
from ansible.module_utils.safeindex.spec.definition import IndexColumn, IndexDefinition

KIND = (IndexColumn("kind", nulls_first=False),)
WANTED = IndexDefinition(table="events", schema="public", columns=KIND)
SPEC = SimpleNamespace(name="events_kind_idx", table="events")


def test_a_short_name_is_the_index_and_the_partition():
    assert partition_index_name("events_kind_idx", "events_2026_01") == "events_kind_idx_events_2026_01"


@pytest.mark.parametrize("index, partition", [
    ("i" * 40, "p" * 40),
    ("événements_par_catégorie_idx", "événements_2026_01_très_long_nom_de_partition"),  # two bytes a letter
    ("索引" * 8, "分区" * 8),  # three bytes a character
])
def test_a_long_name_fits_63_bytes_keeps_whole_characters_and_a_stable_hash(index, partition):
    name = partition_index_name(index, partition)
    assert len(name.encode("utf-8")) <= 63
    assert name == partition_index_name(index, partition)  # stable: the rerun finds what the run built
    prefix, digest = name.rsplit("_", 1)
    assert len(digest) == 8 and ("%s_%s" % (index, partition)).startswith(prefix)
    # Partitions that differ only beyond the cut still get names of their own.
    assert partition_index_name(index, partition + "x") != name


def test_the_limit_is_the_engines():
    assert len(partition_index_name("a" * 30, "b" * 40, limit=64).encode("utf-8")) == 64


def part(name, parent="events", leaf=True, level=1):
    return Partition(schema="public", name=name, parent_schema="public", parent=parent, leaf=leaf, level=level)


def index(name, table, valid=True, columns=KIND, comment=None):
    return CatalogIndex(name=name, definition=IndexDefinition(table=table, schema="public", columns=columns),
                        valid=valid, comment=comment)


class Catalog:
    """partition_indexes() from a dict: {partition: [(CatalogIndex, attached to)]}."""

    features = FEATURES

    def __init__(self, indexes):
        self.indexes = indexes

    def partition_indexes(self, schema, table):
        return self.indexes.get(table, [])


def actions(plan):
    return [(s.partition.name, s.index, s.parent_index, s.action) for s in plan.steps]


def test_a_new_index_builds_every_partition_and_gives_inner_partitions_their_own_parent_index():
    tree = [part("events_2026_01"), part("events_2026_02", leaf=False), part("events_2026_02_a", "events_2026_02", level=2)]
    plan = plan_tree(Catalog({}), SPEC, "public", WANTED, None, tree)
    assert not plan.root_exists and not plan.drop_root
    assert actions(plan) == [
        ("events_2026_01", "events_kind_idx_events_2026_01", "events_kind_idx", "create"),
        ("events_2026_02", "events_kind_idx_events_2026_02", "events_kind_idx", "create"),
        ("events_2026_02_a", "events_kind_idx_events_2026_02_a", "events_kind_idx_events_2026_02", "create"),
    ]


def test_a_run_stopped_midway_keeps_what_is_attached_attaches_equals_and_heals_invalid_leftovers():
    root = index("events_kind_idx", "events", valid=False)  # INVALID: not every partition attached yet
    other = (IndexColumn("id", nulls_first=False),)
    catalog = Catalog({
        "events_2026_01": [(index("events_2026_01_kind_idx", "events_2026_01"), "events_kind_idx")],
        "events_2026_02": [(index("mine", "events_2026_02"), None), (index("by_id", "events_2026_02", columns=other), None)],
        "events_2026_03": [(index("events_kind_idx_events_2026_03", "events_2026_03", valid=False), None)],
        "events_2026_04": [(index("by_id", "events_2026_04", columns=other), None)],
    })
    tree = [part("events_2026_0%d" % n) for n in (1, 2, 3, 4)]
    plan = plan_tree(catalog, SPEC, "public", WANTED, root, tree)
    assert plan.root_exists and not plan.drop_root
    assert actions(plan) == [
        ("events_2026_01", "events_2026_01_kind_idx", "events_kind_idx", "exists"),
        ("events_2026_02", "mine", "events_kind_idx", "attach"),
        ("events_2026_03", "events_kind_idx_events_2026_03", "events_kind_idx", "rebuild_invalid"),
        ("events_2026_04", "events_kind_idx_events_2026_04", "events_kind_idx", "create"),
    ]
    assert [r["action"] for r in plan.rows()] == ["exists", "attached", "rebuilt_invalid", "created"]


def test_an_invalid_parent_of_another_definition_is_dropped_and_nothing_under_it_counts():
    root = index("events_kind_idx", "events", valid=False, columns=(IndexColumn("id", nulls_first=False),))
    catalog = Catalog({"events_2026_01": [(index("old", "events_2026_01", columns=root.definition.columns), "events_kind_idx")]})
    plan = plan_tree(catalog, SPEC, "public", WANTED, root, [part("events_2026_01")])
    assert plan.drop_root and not plan.root_exists
    assert actions(plan) == [("events_2026_01", "events_kind_idx_events_2026_01", "events_kind_idx", "create")]


def test_the_derived_name_taken_by_another_definition_is_refused_naming_it():
    taken = index("events_kind_idx_events_2026_01", "events_2026_01", columns=(IndexColumn("id", nulls_first=False),))
    with pytest.raises(SpecError, match="already has an index named events_kind_idx_events_2026_01"):
        plan_tree(Catalog({"events_2026_01": [(taken, None)]}), SPEC, "public", WANTED, None, [part("events_2026_01")])


class MariadbCatalog(MysqlPartitions):
    """MysqlPartitions over information_schema rows given as data: (ENGINE, PARTITION_METHOD, PARTITION_EXPRESSION,
    SUBPARTITION_EXPRESSION) of the table's first partition, and the primary key's columns."""

    def __init__(self, partitioning, primary_key=()):
        self.features = MYSQL.for_server("10.11.6-MariaDB")
        self.partitioning, self.primary_key = partitioning, primary_key

    def _rows(self, statement, params=None):
        if "KEY_COLUMN_USAGE" in statement:
            return [(c,) for c in self.primary_key]
        return [self.partitioning] if self.partitioning else []


def mariadb_problem(partitioning, columns, unique=True, primary_key=()):
    catalog = MariadbCatalog(partitioning, primary_key)
    definition = IndexDefinition(table="events", columns=tuple(IndexColumn(c) for c in columns), unique=unique)
    return catalog.partition_build_problem("app", "events", definition)


def test_mariadb_unique_keys_need_every_column_of_the_partitioning_function():
    by_month = ("InnoDB", "RANGE", "to_days(`created_at`)", None)
    assert "it lacks created_at" in mariadb_problem(by_month, ["id"])
    assert mariadb_problem(by_month, ["id", "created_at"]) is None
    assert mariadb_problem(by_month, ["kind"], unique=False) is None
    sub = ("InnoDB", "RANGE COLUMNS", "`created_at`", "`tenant``s id`")  # a backtick inside a name is doubled
    assert "it lacks tenant`s id" in mariadb_problem(sub, ["id", "created_at"])
    # KEY() without columns partitions by the primary key.
    assert "it lacks id" in mariadb_problem(("InnoDB", "KEY", "", None), ["kind"], primary_key=("id",))
    assert mariadb_problem(None, ["kind"]) is None  # not partitioned


def test_mariadb_refuses_a_partitioned_table_of_a_storage_engine_without_online_builds():
    problem = mariadb_problem(("MyISAM", "RANGE", "`created_at`", None), ["kind"], unique=False)
    assert "partitioned MyISAM table" in problem and "InnoDB" in problem


def test_the_report_lists_each_partitions_index_in_markdown_and_html():
    from ansible.module_utils.safeindex.report.html import render_html
    from ansible.module_utils.safeindex.report.markdown import render_markdown

    from tests.unit.report_samples import INDEX_RESULTS, report

    partitioned = dict(INDEX_RESULTS[0], partitions=[
        {"partition": "public.events_2026_01", "index": "mine", "parent_index": "idx_user_username", "action": "attached",
         "size_bytes": 16384},
        {"partition": "public.events_2026_02", "index": "idx_user_username_events_2026_02", "action": "created",
         "size_bytes": None}])
    built = report(index_results=[partitioned] + INDEX_RESULTS[1:])
    assert built["indexes"][0]["partitions"][1]["index"] == "idx_user_username_events_2026_02"
    assert "partitions" not in built["indexes"][1]  # a table that is not partitioned: as before
    markdown = render_markdown(built)
    assert "## Partitions" in markdown
    assert "| idx_user_username | public.events_2026_01 | mine | attached | 16384 |" in markdown
    html = render_html(built)
    assert 'id="partition-table"' in html and "idx_user_username_events_2026_02" in html
