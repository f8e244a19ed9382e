"""Comparing definitions: equal means the same index whatever its name; every difference is named."""

import pytest
from ansible.module_utils.safeindex.build.indexer import BuildOptions, plan_present
from ansible.module_utils.safeindex.engines.base import CatalogIndex
from ansible.module_utils.safeindex.spec.definition import IndexColumn, IndexDefinition, differences

A = IndexColumn("a", nulls_first=False)
B = IndexColumn("b", nulls_first=False)
B_DESC = IndexColumn("b", descending=True, nulls_first=True)
BASE = IndexDefinition(table="t", schema="public", columns=(A, B))


def with_(**changes):
    fields = dict(BASE.__dict__)
    fields.update(changes)
    return IndexDefinition(**fields)


def test_equal_definitions_have_no_differences():
    assert differences(BASE, with_()) == []
    # Whitespace in a predicate is not a difference; the server's canonical text is compared.
    assert differences(with_(where="(a > 1)"), with_(where=" (a  >  1) ")) == []


@pytest.mark.parametrize(
    "changed, field",
    [
        (with_(columns=(B, A)), "columns"),
        (with_(columns=(A, B_DESC)), "columns"),
        (with_(columns=(A, IndexColumn("b", nulls_first=True))), "columns"),
        (with_(columns=(A,)), "columns"),
        (with_(columns=(A, IndexColumn("b", nulls_first=False, opclass="text_pattern_ops"))), "columns"),
        (with_(unique=True), "unique"),
        (with_(method="hash"), "method"),
        (with_(where="(a > 1)"), "where"),
        (with_(include=("c",)), "include"),
        (with_(table="u"), "table"),
        (with_(schema="other"), "table"),
    ],
)
def test_each_kind_of_difference_is_named(changed, field):
    found = differences(BASE, changed)
    assert len(found) == 1 and found[0].startswith(field + ":")


def test_describe_reads_like_the_definition():
    text = with_(columns=(A, B_DESC), unique=True, where="(a > 1)", include=("c",)).describe()
    assert text == "UNIQUE public.t USING btree (a, b DESC) INCLUDE (c) WHERE (a > 1)"
    assert IndexColumn("b", descending=True, nulls_first=False).describe() == "b DESC NULLS LAST"
    assert IndexColumn("body", length=20).describe() == "body(20)"


def catalog(name, definition, valid=True):
    return CatalogIndex(name=name, definition=definition, valid=valid)


def test_plan_creates_what_is_missing():
    assert plan_present(BASE, None, [], "skip").action == "create"


def test_plan_leaves_an_equal_index_alone():
    assert plan_present(BASE, catalog("idx", with_()), [catalog("idx", with_())], "skip").action == "exists"


def test_plan_refuses_same_name_with_another_definition_and_says_how_it_differs():
    plan = plan_present(BASE, catalog("idx", with_(columns=(B, A))), [], "skip")
    assert plan.action == "conflict" and plan.differences[0].startswith("columns:")


def test_plan_rebuilds_an_invalid_leftover_whatever_its_definition():
    assert plan_present(BASE, catalog("idx", with_(columns=(B,)), valid=False), [], "skip").action == "rebuild_invalid"


def test_plan_skips_an_equal_index_under_another_name_unless_told_to_build():
    others = [catalog("other_name", with_())]
    plan = plan_present(BASE, None, others, "skip")
    assert plan.action == "skipped_equivalent" and plan.equivalent_to == "other_name"
    assert plan_present(BASE, None, others, "create").action == "create"
    # An INVALID index is not an equivalent: it cannot serve a query.
    assert plan_present(BASE, None, [catalog("other_name", with_(), valid=False)], "skip").action == "create"


def test_lock_budget_is_attempts_times_timeout_plus_backoffs():
    options = BuildOptions(run_id="r", lock_timeout=2, lock_retries=3, retry_delay=1, max_retry_delay=3)
    assert options.lock_budget_seconds() == 4 * 2 + (1 + 2 + 3)
