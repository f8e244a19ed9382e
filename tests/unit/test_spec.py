"""The index spec: what it accepts, what it refuses (all at once, by name), and per-engine views."""

import pytest
import yaml
from ansible.module_utils.safeindex.core.errors import SpecError
from ansible.module_utils.safeindex.spec.parse import ColumnSpec, fingerprint, index_reference, load_spec, parse_column, parse_index

from tests.conftest import REPO


def spec_with(*entries, probes=None):
    data = {"indexes": list(entries)}
    if probes is not None:
        data["probes"] = probes
    return data


def test_the_sample_spec_has_the_runbooks_20_indexes_on_both_engines():
    data = yaml.safe_load((REPO / "migrations/indexes.yml").read_text())
    for engine in ("postgresql", "mysql"):
        indexes, probes = load_spec(data, engine)
        names = [i.name for i in indexes]
        assert len(names) == 20 and len(set(names)) == 20
        assert all(n.startswith("idx_") for n in names)
        assert {"idx_user_username", "idx_user_role"} <= set(names)
        by_name = {i.name: i for i in indexes}
        assert [c.name for c in by_name["idx_conversation_user_created"].columns] == ["user_id", "created_at"]
        assert [c.name for c in by_name["idx_message_conversation_timestamp"].columns] == ["conversation_id", "timestamp"]
        assert by_name["idx_session_token"].unique
        assert all(p.expect_index in names for p in probes) and probes
    pg, _ = load_spec(data, "postgresql")
    my, my_probes = load_spec(data, "mysql")
    assert {i.name: i for i in pg}["idx_query_log_errors"].where == "status = 'error'"
    errors_on_mysql = {i.name: i for i in my}["idx_query_log_errors"]
    assert errors_on_mysql.where is None and [c.name for c in errors_on_mysql.columns] == ["status", "created_at"]
    assert "`user`" in {p.name: p for p in my_probes}["login_by_username"].sql


@pytest.mark.parametrize(
    "text, expected",
    [
        ("created_at", ColumnSpec("created_at")),
        ("created_at DESC", ColumnSpec("created_at", descending=True)),
        ("created_at desc nulls last", ColumnSpec("created_at", descending=True, nulls_first=False)),
        ({"name": "created_at", "order": "desc", "nulls": "first"}, ColumnSpec("created_at", True, True)),
    ],
)
def test_columns_as_text_or_mapping(text, expected):
    assert parse_column(text, "postgresql") == expected


def test_prefix_length_is_mysql_only():
    assert parse_column("body(100)", "mysql") == ColumnSpec("body", length=100)
    assert parse_column({"name": "body", "length": 100}, "mysql").length == 100
    with pytest.raises(SpecError, match="prefix length is MySQL-only"):
        parse_column("body(100)", "postgresql")


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"name": "idx_a", "table": "t", "columns": []}, "'columns' must be a non-empty list"),
        ({"name": "idx_a", "table": "t"}, "'columns' must be a non-empty list"),
        # Any legal name is taken (issue 19: the driver quotes it); what the server cannot hold is refused.
        ({"name": "idx\x00a", "table": "t", "columns": ["a"]}, "contains a NUL character"),
        ({"name": "idx_a", "table": "t\x00", "columns": ["a"]}, "table .* contains a NUL"),
        ({"name": "idx_a", "table": "t", "columns": ["a`b"]}, "use the mapping form {name: ..., order: ...}"),
        ({"name": "idx_a", "table": "t", "columns": ["Customer Id"]}, "use the mapping form"),
        ({"name": "i" * 64, "table": "t", "columns": ["a"]}, "64 bytes long; PostgreSQL allows at most 63"),
        ({"name": "idx_a", "table": "t", "columns": ["a"], "where": "a > 1; DROP TABLE t"}, "may not contain a ';'"),
        ({"name": "idx_a", "table": "t", "columns": ["a"], "where": "a > 1 -- x"}, "may not contain a '--' comment"),
        ({"name": "idx_a", "table": "t", "columns": ["a"], "where": "a IN (SELECT 1)"}, "may not contain a subquery"),
        ({"name": "idx_a", "table": "t", "columns": ["a", "a"]}, "a column appears twice"),
        ({"name": "idx_a", "table": "t", "columns": ["a"], "unique": "yes"}, "'unique' must be true or false"),
        ({"name": "idx_a", "table": "t", "columns": ["a"], "method": "rtree"}, "'method' 'rtree' is not supported"),
        ({"name": "idx_a", "table": "t", "colums": ["a"]}, "unknown keys colums"),
        ("idx_a", "an entry must be a mapping"),
    ],
)
def test_a_bad_entry_is_refused_with_its_name_and_cause(entry, message):
    with pytest.raises(SpecError, match=message):
        parse_index(entry, "postgresql")


def test_mysql_refuses_postgresql_only_features_before_any_change():
    for extra, message in (
        ({"where": "a > 1"}, "'where' \\(a partial index\\) is PostgreSQL-only"),
        ({"include": ["b"]}, "'include' is PostgreSQL-only"),
        ({"schema": "public"}, "'schema' is PostgreSQL-only"),
        ({"columns": ["a NULLS FIRST"]}, "NULLS FIRST/LAST is PostgreSQL-only"),
    ):
        entry = dict({"name": "idx_a", "table": "t", "columns": ["a"]}, **extra)
        with pytest.raises(SpecError, match=message):
            parse_index(entry, "mysql")


def test_engine_overrides_replace_fields_and_null_removes_one():
    entry = {"name": "idx_a", "table": "t", "columns": ["a"], "where": "a > 1", "mysql": {"columns": ["a", "b"], "where": None}}
    assert parse_index(entry, "postgresql").where == "a > 1"
    on_mysql = parse_index(entry, "mysql")
    assert on_mysql.where is None and [c.name for c in on_mysql.columns] == ["a", "b"]
    with pytest.raises(SpecError, match="override cannot set name"):
        parse_index(dict(entry, mysql={"name": "other"}), "mysql")


def test_every_problem_of_a_spec_is_reported_at_once():
    data = spec_with(
        {"name": "idx_a", "table": "t", "columns": ["a"]},
        {"name": "idx_a", "table": "t", "columns": ["b"]},
        {"name": "idx_b", "table": "t", "columns": []},
        probes=[{"name": "p", "sql": "SELECT 1", "expect_index": "idx_missing"}],
    )
    with pytest.raises(SpecError) as raised:
        load_spec(data, "postgresql")
    problems = raised.value.details["problems"]
    assert any("duplicate index names: idx_a" in p for p in problems)
    assert any("idx_b" in p and "columns" in p for p in problems)
    assert any("idx_missing" in p for p in problems)


@pytest.mark.parametrize("data", [["idx_a"], "indexes", None, {"indexes": []}, {"indexes": "x"}, {"index": []}])
def test_a_spec_that_is_not_a_mapping_with_indexes_is_refused(data):
    with pytest.raises(SpecError, match="mapping|non-empty list|unknown top-level"):
        load_spec(data, "postgresql")


def test_probes_must_be_one_select():
    base = {"name": "idx_a", "table": "t", "columns": ["a"]}
    for sql in ("DELETE FROM t", "SELECT 1; DROP TABLE t", "EXPLAIN SELECT 1"):
        with pytest.raises(SpecError, match="must be one SELECT query"):
            load_spec(spec_with(base, probes=[{"name": "p", "sql": sql, "expect_index": "idx_a"}]), "postgresql")
    probe = {"name": "p", "sql": "SELECT * FROM t WHERE a = 1;", "expect_index": "idx_a"}
    _, probes = load_spec(spec_with(base, probes=[probe]), "postgresql")
    assert probes[0].sql == "SELECT * FROM t WHERE a = 1"


def test_definition_defaults_follow_the_engine():
    spec = parse_index({"name": "idx_a", "table": "t", "columns": ["a DESC", "b"]}, "postgresql")
    definition = spec.definition("postgresql", "public")
    assert definition.schema == "public"
    assert [(c.descending, c.nulls_first) for c in definition.columns] == [(True, True), (False, False)]
    on_mysql = parse_index({"name": "i", "table": "t", "columns": ["a DESC"]}, "mysql").definition("mysql")
    assert all(c.nulls_first is None for c in on_mysql.columns)


def test_fingerprint_ignores_formatting_but_not_content():
    a = yaml.safe_load("indexes:\n  - {name: idx_a, table: t, columns: [a]}\n")
    b = yaml.safe_load("# comment\nindexes:\n- name: idx_a\n  columns: [a]\n  table: t\n")
    c = yaml.safe_load("indexes:\n  - {name: idx_a, table: t, columns: [b]}\n")
    assert fingerprint(a) == fingerprint(b) != fingerprint(c)


def test_index_reference_checks_names_too():
    assert index_reference("idx_a", "postgresql", schema="app").schema == "app"
    # A legal name, however odd, is the name: quoted by the driver wherever it reaches SQL.
    assert index_reference("idx'; --", "postgresql").name == "idx'; --"
    with pytest.raises(SpecError, match="contains a NUL character"):
        index_reference("idx\x00", "postgresql")
    with pytest.raises(SpecError, match="ends with a space"):
        index_reference("idx ", "mysql", table="t")
