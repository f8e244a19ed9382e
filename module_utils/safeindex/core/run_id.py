"""The one rule for a run id: it names folders, index comments and sessions, so it must be safe in all three."""

import re

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
RULE = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"


def is_valid_run_id(value: object) -> bool:
    return isinstance(value, str) and bool(RUN_ID.match(value))


def check_run_id(value: object) -> str:
    """The run id as given; ValueError naming the rule when it breaks it."""
    if not is_valid_run_id(value):
        raise ValueError("run_id %r is not a valid run id: %s" % (value, RULE))
    return value
