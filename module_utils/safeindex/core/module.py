"""What every safeindex module does the same way: connection options, opening an engine, failing clearly."""

from __future__ import annotations  # `dict | None` in hints also where a target's Python is older than 3.10

from collections.abc import Callable
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ansible.module_utils.safeindex.core.connection import CONNECTION_ARGUMENT_SPEC, connection_params
from ansible.module_utils.safeindex.core.errors import SafeIndexError
from ansible.module_utils.safeindex.engines import open_engine

if TYPE_CHECKING:  # for the annotation of connect() only
    from ansible.module_utils.safeindex.engines.base import Engine


def argument_spec(**options) -> dict:
    """The module's own options plus the shared connection options (doc fragment safeindex_connection)."""
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(options)
    return spec


def connect(module, purpose: str) -> Engine:
    """A connected engine; the session is named after the module and run, so operators can tell it apart."""
    params = connection_params(module.params)
    run_id = module.params.get("run_id")
    name = "safeindex %s%s" % (purpose, " run_id=%s" % run_id if run_id else "")
    return open_engine(params, application_name=name)


@contextmanager
def connected(module, purpose: str, result: dict | None = None, on_failure: Callable | None = None):
    """The connected engine for the length of a with block; always closed after it, also when the module exits inside it.

    A SafeIndexError (opening the connection or inside the block) fails the module through fail(), with the error's
    details and what the module knew so far: `result`, read when the error happens, so the module may fill it in the
    block. `on_failure(error)`, when given, runs first (a module that records its failures). Errors a module reports in
    its own words it catches inside the block."""
    engine = None
    try:
        engine = connect(module, purpose)
        yield engine
    except SafeIndexError as exc:
        if on_failure is not None:
            on_failure(exc)
        fail(module, exc, **dict(result or {}))
    finally:
        if engine is not None:
            engine.close()


def fail(module, error, **result) -> None:
    """fail_json with the error's message and details, and whatever the module knew so far."""
    details = dict(getattr(error, "details", {}) or {})
    details.pop("msg", None)
    result.update(details)
    module.fail_json(msg=str(error), **result)
