"""The one run id rule, and the ids a rollback derives from a run's."""

import pytest
from ansible.module_utils.safeindex.core.run_id import check_run_id, derived_run_id, is_valid_run_id


def test_a_short_derived_id_is_the_text_itself():
    assert derived_run_id("rollback-20260101T120000Z-1a2b") == "rollback-20260101T120000Z-1a2b"


def test_a_derived_id_of_the_longest_run_id_keeps_the_rule_and_stays_apart_from_another():
    longest = "r" * 64
    check_run_id(longest)
    lock = derived_run_id("rollback-" + longest)
    safety_a = derived_run_id(longest + "-before-restore-20260102T080000Z")
    safety_b = derived_run_id(longest + "-before-restore-20260102T080001Z")
    assert all(is_valid_run_id(i) and len(i) <= 64 for i in (lock, safety_a, safety_b))
    assert len({lock, safety_a, safety_b}) == 3


@pytest.mark.parametrize("bad", ["", "-x", "a b", "a/b", "x" * 65, None])
def test_the_rule_refuses_what_cannot_name_a_folder_a_comment_and_a_session(bad):
    with pytest.raises(ValueError):
        check_run_id(bad)
