"""The unique precheck's SQL per engine and its row's wording, without a server."""

import dataclasses

from ansible.module_utils.safeindex.core.errors import ServerRefused, StatementTimeout
from ansible.module_utils.safeindex.engines.interface.duplicates import DuplicateKeys
from ansible.module_utils.safeindex.engines.mysql import duplicates as my
from ansible.module_utils.safeindex.engines.postgresql import duplicates as pg
from ansible.module_utils.safeindex.run.unique_precheck import describe_samples, judge, key_label, unique_precheck
from ansible.module_utils.safeindex.spec.definition import IndexColumn, IndexDefinition
from ansible.module_utils.safeindex.spec.parse import parse_index
from psycopg2 import sql

EMAIL = IndexDefinition(table="Order Items", schema="app", columns=(IndexColumn(name="email"),), unique=True)


def text(composed) -> str:
    """psycopg2's composition as text (identifiers in double quotes), so its shape can be read without a connection."""
    if isinstance(composed, sql.Composed):
        return "".join(text(part) for part in composed.seq)
    if isinstance(composed, sql.Identifier):
        return ".".join('"%s"' % s for s in composed.strings)
    if isinstance(composed, sql.Literal):
        return repr(composed.wrapped)
    return composed.string


def test_postgresql_counts_groups_of_non_null_keys_within_the_predicate():
    partial = dataclasses.replace(EMAIL, columns=(IndexColumn(name="email"), IndexColumn(expression="lower(code)")),
                                  where="(deleted_at IS NULL)")
    assert text(pg.count_sql(partial)) == (
        'SELECT count(*), COALESCE(sum(n), 0) FROM (SELECT count(*) AS n FROM "app"."Order Items"'
        ' WHERE ((deleted_at IS NULL)) AND "email" IS NOT NULL AND (lower(code)) IS NOT NULL'
        ' GROUP BY "email", (lower(code)) HAVING count(*) > 1) AS duplicate_groups')


def test_postgresql_nulls_not_distinct_groups_nulls_too_and_samples_are_limited():
    query = text(pg.samples_sql(dataclasses.replace(EMAIL, nulls_distinct=False), 5))
    assert query == ('SELECT "email", count(*) FROM "app"."Order Items" GROUP BY "email" HAVING count(*) > 1'
                     ' ORDER BY count(*) DESC LIMIT 5')


def test_mysql_prefixes_are_left_of_the_column_and_identifiers_are_quoted():
    definition = IndexDefinition(table="order`s", schema="shop", unique=True,
                                 columns=(IndexColumn(name="name"), IndexColumn(name="code", length=4)))
    assert my.count_sql(definition) == (
        "SELECT COUNT(*), COALESCE(SUM(n), 0) FROM (SELECT COUNT(*) AS n FROM `shop`.`order``s`"
        " WHERE `name` IS NOT NULL AND LEFT(`code`, 4) IS NOT NULL GROUP BY `name`, LEFT(`code`, 4) HAVING COUNT(*) > 1)"
        " AS duplicate_groups")
    assert my.samples_sql(definition, 3).endswith("GROUP BY `name`, LEFT(`code`, 4) HAVING COUNT(*) > 1 ORDER BY COUNT(*) DESC LIMIT 3")
    assert my.key_parts(IndexDefinition(table="t", columns=(IndexColumn(expression="lower(`email`)"),))) == ["(lower(`email`))"]


def test_duplicates_fail_naming_the_index_the_groups_and_no_value_unless_asked():
    found = DuplicateKeys(groups=2, rows=5, samples=[(("ann@x.org",), 3), ((None,), 2)])
    result, detail = judge("idx_email", EMAIL, found, 0.2, 60, "fail", show_samples=False)
    assert result == "fail"
    assert detail.startswith("idx_email: 2 duplicate key groups (5 rows) on app.Order Items (email): the unique build would fail")
    assert "ann@x.org" not in detail and "show_duplicate_samples=true" in detail
    _result, shown = judge("idx_email", EMAIL, found, 0.2, 60, "fail", show_samples=True)
    assert shown.endswith("keys: (ann@x.org) x3, (NULL) x2")
    one = judge("idx_email", EMAIL, DuplicateKeys(groups=1, rows=2), 0.2, 60, "warn", False)
    assert one[0] == "fail" and "1 duplicate key group (2 rows)" in one[1]  # duplicates fail whatever the action


def test_a_scan_that_cannot_finish_follows_the_action():
    timeout = StatementTimeout("canceling statement due to statement timeout")
    result, detail = judge("idx_email", EMAIL, timeout, 60.0, 60, "fail", False)
    assert result == "fail" and detail.startswith("idx_email: could not finish the duplicate scan of app.Order Items within 60 s")
    assert "duplicates not ruled out" in detail
    warned = judge("idx_email", EMAIL, timeout, 60.0, 60, "warn", False)
    assert warned[0] == "warn" and "unique_precheck_action=warn: going on" in warned[1]
    refused = judge("idx_email", EMAIL, ServerRefused("permission denied for table Order Items"), 0.0, 60, "warn", False)
    assert refused == ("warn", "idx_email: could not look for duplicates in app.Order Items: permission denied for table"
                               " Order Items (unique_precheck_action=warn: going on; duplicates still fail that index cleanly"
                               " at its build)")
    clean = judge("idx_email", EMAIL, DuplicateKeys(), 1.25, 60, "fail", False)
    assert clean == ("ok", "idx_email: no duplicate keys in app.Order Items (1.2 s)")


def test_the_row_skips_when_off_or_without_a_plan_and_is_ok_with_no_unique_index_to_build():
    specs = [parse_index({"name": "idx_a", "table": "t", "columns": ["a"]}, "postgresql")]
    assert unique_precheck(None, specs, {"pending": ["idx_a"]}, mode="off")["result"] == "skip"
    assert unique_precheck(None, specs, None)["result"] == "skip"
    assert unique_precheck(None, specs, {"pending": ["idx_a"]}) == {"check": "unique indexes", "result": "ok",
                                                                     "detail": "no unique index to build"}


def test_keys_are_labelled_as_the_index_names_them_and_long_values_are_cut():
    definition = IndexDefinition(table="t", columns=(IndexColumn(expression="lower(email)"), IndexColumn(name="code", length=4)))
    assert key_label(definition) == "(lower(email), code(4))"
    assert describe_samples([((b"\x00\xff", "x" * 70), 2)]) == "(0x00ff, %s...) x2" % ("x" * 60)
