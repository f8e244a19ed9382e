"""What every safeindex module does the same way: connection options, opening an engine, failing clearly."""

from typing import TYPE_CHECKING

from ansible.module_utils.safeindex.core.connection import CONNECTION_ARGUMENT_SPEC, connection_params
from ansible.module_utils.safeindex.engines import open_engine

if TYPE_CHECKING:  # for the annotation of connect() only
    from ansible.module_utils.safeindex.engines.base import Engine


def argument_spec(**options):
    """The module's own options plus the shared connection options (doc fragment safeindex_connection)."""
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(options)
    return spec


def connect(module, purpose: str) -> "Engine":
    """A connected engine; the session is named after the module and run, so operators can tell it apart."""
    params = connection_params(module.params)
    run_id = module.params.get("run_id")
    name = "safeindex %s%s" % (purpose, " run_id=%s" % run_id if run_id else "")
    return open_engine(params, application_name=name)


def fail(module, error, **result):
    """fail_json with the error's message and details, and whatever the module knew so far."""
    details = dict(getattr(error, "details", {}) or {})
    details.pop("msg", None)
    result.update(details)
    module.fail_json(msg=str(error), **result)
