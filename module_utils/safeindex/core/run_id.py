"""The one rule for a run id: it names folders, index comments and sessions, so it must be safe in all three."""

import hashlib
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


def derived_run_id(text: str) -> str:
    """A run id made from another by adding a prefix or suffix (a rollback's lock, a safety backup), kept within the
    rule: cut to fit, with a digest of the whole text so two derived ids of long run ids stay apart."""
    if is_valid_run_id(text):
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return check_run_id("%s-%s" % (text[:55], digest))
