"""The database engines, one package each (engines/<name>/): its features (capabilities and limits as data), its SQL
and its client tools. Code outside engines/ holds an engine and asks it; it never compares engine names.

An engine package holds:
    features.py       FEATURES, its Features (engines/features.py); for_server() gives one server's flavour
    connection.py     connect_driver(): the one place its driver's connect() is called; reading rows; its errors
    catalog.py, statements.py, sessions.py, explain.py (+ explain_plan.py), backup.py, progress.py
                      one mixin per concern of the interface (engines/interface/)
    dialect.py        the engine class made of those mixins: what open_engine() returns
    dump.py           its client tools: what dumper_for() returns
A new engine is a new package shaped so, its name in ENGINE_NAMES and its entry in the three loaders below
(tests/unit/test_architecture.py checks the shape).

The imports are written out (not importlib) because Ansible ships a module only the module_utils its source imports.
"""

from typing import TYPE_CHECKING

from ansible.module_utils.safeindex.core.errors import ConnectionConfigError
from ansible.module_utils.safeindex.engines.features import Features

if TYPE_CHECKING:  # for the annotations only
    from ansible.module_utils.safeindex.engines.base import Engine

ENGINE_NAMES = ("postgresql", "mysql")


def _unknown(name) -> ConnectionConfigError:
    return ConnectionConfigError("unknown engine %r: expected one of %s" % (name, ", ".join(ENGINE_NAMES)))


def features_for(name: str) -> Features:
    """The engine's Features; needs no driver and no server."""
    if name == "postgresql":
        from ansible.module_utils.safeindex.engines.postgresql.features import FEATURES
    elif name == "mysql":
        from ansible.module_utils.safeindex.engines.mysql.features import FEATURES
    else:
        raise _unknown(name)
    return FEATURES


def engine_for_url_scheme(scheme: str) -> str:
    """The engine name a DATABASE_URL scheme means, or None."""
    for name in ENGINE_NAMES:
        if scheme.lower() in features_for(name).url_schemes:
            return name
    return None


def open_engine(params, application_name: str = "safeindex") -> "Engine":
    """A connected engine (engines.base.Engine) for the engine named in the connection parameters; its session is
    named application_name on the server, so operators can tell it apart."""
    if params.engine == "postgresql":
        from ansible.module_utils.safeindex.engines.postgresql.dialect import PostgresEngine as engine_class
    elif params.engine == "mysql":
        from ansible.module_utils.safeindex.engines.mysql.dialect import MysqlEngine as engine_class
    else:
        raise _unknown(params.engine)
    return engine_class(params, application_name)


def dumper_for(params, bin_dir: str = None, progress_file: str = None, server_version: str = None) -> object:
    """The engine's dump and restore tools; with a progress file they report progress while they run. Its client is
    the one that fits the server of `server_version` (when not known yet, check_client(server_version) chooses again);
    `bin_dir`, when set, is the operator's choice."""
    if params.engine == "postgresql":
        from ansible.module_utils.safeindex.engines.postgresql.dump import PostgresDumper as dumper_class
    elif params.engine == "mysql":
        from ansible.module_utils.safeindex.engines.mysql.dump import MysqlDumper as dumper_class
    else:
        raise _unknown(params.engine)
    return dumper_class(params, bin_dir, progress_file, server_version)
