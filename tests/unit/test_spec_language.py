"""The spec language of issue 19: any legal name by the engine's own rule, expression keys, NULLS NOT DISTINCT. What a
server cannot be started here for (MySQL 8's functional key parts, a PostgreSQL 14 server) is checked on its features and
on the SQL the real engine code writes for it."""

import pymysql
import pytest
from ansible.module_utils.safeindex.core.errors import SpecError
from ansible.module_utils.safeindex.engines import features_for
from ansible.module_utils.safeindex.engines.postgresql.dialect import PostgresEngine
from ansible.module_utils.safeindex.spec.definition import IndexColumn, IndexDefinition, differences
from ansible.module_utils.safeindex.spec.parse import parse_column, parse_index
from ansible.module_utils.safeindex.spec.plan import as_module_args

from tests.unit.test_mysql_flavours import MARIADB_10_11, MYSQL_8_0, engine_on

PG, MY = features_for("postgresql"), features_for("mysql")


def entry(**fields):
    return dict({"name": "idx_a", "table": "t", "columns": ["a"]}, **fields)


# Names

@pytest.mark.parametrize("name", ["Order Items", "MixedCase", "select", 'say "hi"', "back`tick", "x'; DROP TABLE t; --",
                                  "é" * 31 + "a"])
def test_any_legal_name_is_taken_as_written_on_both_engines(name):
    for engine in ("postgresql", "mysql"):
        spec = parse_index({"name": name, "table": name, "columns": [{"name": name, "order": "desc"}]}, engine)
        assert (spec.name, spec.table, spec.columns[0].name, spec.columns[0].descending) == (name, name, name, True)


def test_postgresql_counts_bytes_of_utf8_and_mysql_characters():
    name = "é" * 32  # 32 characters, 64 bytes
    with pytest.raises(SpecError, match="is 64 bytes long; PostgreSQL allows at most 63"):
        parse_index(entry(name=name), "postgresql")
    assert parse_index(entry(name=name), "mysql").name == name
    with pytest.raises(SpecError, match="is 65 characters long; MySQL/MariaDB allows at most 64"):
        parse_index(entry(table="é" * 65), "mysql")
    assert parse_index(entry(name="i" * 63), "postgresql").name == "i" * 63


def test_mysql_refuses_a_name_that_ends_with_a_space_postgresql_takes_it():
    with pytest.raises(SpecError, match="column 'Customer Id ' ends with a space"):
        parse_index(entry(columns=[{"name": "Customer Id "}]), "mysql")
    assert parse_index(entry(columns=[{"name": "Customer Id "}]), "postgresql").columns[0].name == "Customer Id "


def test_no_name_may_hold_a_nul_or_be_empty():
    with pytest.raises(SpecError, match="contains a NUL character"):
        parse_index(entry(columns=[{"name": "a\x00b"}]), "postgresql")
    with pytest.raises(SpecError, match="column is missing"):
        parse_index(entry(columns=[{"name": ""}]), "mysql")


def test_the_short_string_form_is_for_plain_names_and_says_what_to_write_instead():
    assert parse_column("created_at DESC NULLS LAST", PG).name == "created_at"
    for text in ("Customer Id", "Customer Id DESC", 'say"hi"', "lower(email)"):
        with pytest.raises(SpecError, match=r"use the mapping form \{name: \.\.\., order: \.\.\.\}"):
            parse_column(text, PG)


def test_the_mapping_form_names_its_allowed_keys():
    with pytest.raises(SpecError, match="unknown keys direction .allowed: name, expression, order, nulls, length"):
        parse_column({"name": "a", "direction": "desc"}, PG)


# Expression keys

def test_an_expression_key_takes_order_and_nulls_and_is_carried_to_the_module():
    spec = parse_index(entry(columns=[{"expression": "lower(email)", "order": "desc", "nulls": "last"}, "id"]), "postgresql")
    key = spec.columns[0]
    assert (key.name, key.expression, key.descending, key.nulls_first) == (None, "lower(email)", True, False)
    assert spec.definition(PG, "app").columns[0] == IndexColumn(expression="lower(email)", descending=True, nulls_first=False)
    args = as_module_args(spec)
    assert args["columns"] == [{"expression": "lower(email)", "order": "desc", "nulls": "last"}, {"name": "id"}]
    assert parse_index(args, "postgresql") == spec  # what db_index is given parses back to the same spec


@pytest.mark.parametrize("expression, message", [
    ("lower(email); DROP TABLE t", "may not contain a ';'"),
    ("lower(email) -- x", "may not contain a '--' comment"),
    ("lower(/* x */ email)", "may not contain a '/\\*' comment"),
    ("(SELECT max(id) FROM t)", "may not contain a subquery"),
    ("  ", "must be a non-empty SQL expression"),
])
def test_an_expression_has_the_safety_rules_of_a_predicate(expression, message):
    with pytest.raises(SpecError, match=message):
        parse_index(entry(columns=[{"expression": expression}]), "postgresql")


def test_an_expression_key_takes_no_name_or_length():
    with pytest.raises(SpecError, match="takes no 'name' or 'length'"):
        parse_column({"expression": "lower(email)", "name": "email"}, PG)
    with pytest.raises(SpecError, match="takes no 'name' or 'length'"):
        parse_column({"expression": "lower(email)", "length": 10}, MY)


def test_one_expression_twice_is_a_repeated_key():
    with pytest.raises(SpecError, match="a column appears twice"):
        parse_index(entry(columns=[{"expression": "lower(email)"}, {"expression": "lower(email)"}]), "postgresql")


@pytest.mark.parametrize("version, builds", [(MYSQL_8_0, True), ("8.0.12", False), (MARIADB_10_11, False),
                                             ("11.4.2-MariaDB", False)])
def test_expression_keys_by_server(version, builds):
    assert MY.for_server(version).expression_keys is builds


def test_mariadb_refuses_an_expression_key_naming_the_generated_column_override():
    expression = entry(columns=[{"expression": "lower(email)"}])
    assert parse_index(expression, "mysql").columns[0].expression == "lower(email)"  # the engine's: MySQL 8 builds it
    with pytest.raises(SpecError, match=r"expression keys \(\(lower\(email\)\)\) are not supported on this mariadb server.*"
                                        r"generated column: `mysql: \{columns: \[email_lower\]\}`"):
        parse_index(expression, MY.for_server(MARIADB_10_11))
    override = dict(expression, mysql={"columns": ["email_lower"]})
    assert parse_index(override, MY.for_server(MARIADB_10_11)).columns[0].name == "email_lower"


def test_mysql_8_writes_a_functional_key_part_in_its_own_parentheses():
    engine = engine_on(MYSQL_8_0)
    definition = IndexDefinition(table="user", schema="app", method="btree",
                                 columns=(IndexColumn(expression="lower(`email`)"), IndexColumn(name="100% done", descending=True)))
    statement = engine.create_statement("Users by login", definition, "run-1")
    assert statement.sql == ("ALTER TABLE `user` ADD INDEX `Users by login` ((lower(`email`)), `100%% done` DESC) COMMENT %s,"
                             " ALGORITHM=INPLACE, LOCK=NONE")
    # The driver formats the text with the comment: the '%' of the name reaches the server once.
    assert statement.sql % pymysql.converters.escape_item(statement.params[0], "utf8mb4") == (
        "ALTER TABLE `user` ADD INDEX `Users by login` ((lower(`email`)), `100% done` DESC) COMMENT 'safeindex run_id=run-1',"
        " ALGORITHM=INPLACE, LOCK=NONE")


def test_mysql_8_reads_a_functional_key_part_back_from_show_index():
    engine = engine_on(MYSQL_8_0)
    rows = [{"Key_name": "Users by login", "Seq_in_index": 1, "Column_name": None, "Expression": "lower(`email`)",
             "Collation": "A", "Sub_part": None, "Non_unique": 0, "Index_type": "BTREE", "Index_comment": ""}]
    engine._rows = lambda query, params=None, as_dict=False: rows if query.startswith("SHOW INDEX") else []
    [index] = engine._read_indexes("app", "user", "`app`.`user`")
    assert index.definition.columns == (IndexColumn(expression="lower(`email`)"),)
    assert index.definition.unique and index.name == "Users by login"


# NULLS NOT DISTINCT

def test_nulls_not_distinct_is_postgresql_15_and_newer():
    spec = entry(unique=True, nulls_distinct=False)
    assert parse_index(spec, "postgresql").definition(PG, "app").nulls_distinct is False
    assert parse_index(spec, PG.for_server("15.18")).nulls_distinct is False
    with pytest.raises(SpecError, match="needs PostgreSQL 15 or newer"):
        parse_index(spec, PG.for_server("14.12"))
    with pytest.raises(SpecError, match="needs PostgreSQL 15 or newer"):
        parse_index(spec, "mysql")
    with pytest.raises(SpecError, match="is for a unique index"):
        parse_index(entry(nulls_distinct=False), "postgresql")
    with pytest.raises(SpecError, match="'nulls_distinct' must be true or false"):
        parse_index(entry(unique=True, nulls_distinct="no"), "postgresql")
    assert as_module_args(parse_index(spec, "postgresql"))["nulls_distinct"] is False
    assert "nulls_distinct" not in as_module_args(parse_index(entry(unique=True), "postgresql"))


def test_nulls_not_distinct_is_compared_and_described():
    distinct = IndexDefinition(table="t", schema="app", columns=(IndexColumn(name="a"),), unique=True)
    not_distinct = IndexDefinition(table="t", schema="app", columns=(IndexColumn(name="a"),), unique=True, nulls_distinct=False)
    assert differences(distinct, not_distinct) == ["nulls: NULLS DISTINCT != NULLS NOT DISTINCT"]
    assert not_distinct.describe() == "UNIQUE app.t USING btree (a) NULLS NOT DISTINCT"


def test_a_postgresql_14_catalog_read_does_not_ask_for_indnullsnotdistinct():
    sent = []
    engine = PostgresEngine.__new__(PostgresEngine)
    engine._server_features = PG.for_server("14.12")
    engine._rows = lambda query, params=None: sent.append(query) or []
    engine.table_indexes("app", "t")
    assert sent and "indnullsnotdistinct" not in sent[0]
    engine._server_features = PG.for_server("15.18")
    engine.table_indexes("app", "t")
    assert "i.indnullsnotdistinct" in sent[1]


def test_an_expression_only_index_is_sized_from_the_tables_rows():
    engine = PostgresEngine.__new__(PostgresEngine)
    engine._server_features = PG.for_server("15.18")
    # No named column to join pg_attribute on: the row count alone, and a fixed width for the expression.
    engine._rows = lambda query, params=None: [] if "pg_attribute" in query else [(90000.0,)]
    definition = IndexDefinition(table="user", schema="app", columns=(IndexColumn(expression="lower(email)"),))
    assert engine.estimated_index_bytes("app", definition) == int(90000 * (32 + 16) / 0.9) + 8192
