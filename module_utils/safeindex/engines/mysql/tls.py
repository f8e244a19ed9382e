"""TLS for MySQL and MariaDB: db_ssl_mode (PostgreSQL's words) in PyMySQL's keywords and in the client tools' options.

    disable               no TLS
    allow, prefer         TLS when the server offers it (PyMySQL's default); the client tools do not ask for it
    require               TLS, the server's certificate not checked
    verify-ca             TLS, the certificate signed by db_ssl_ca (or a CA the system trusts)
    verify-full           verify-ca, and the certificate names the host connected to
"""

from __future__ import annotations

import ssl

from ansible.module_utils.safeindex.core.connection import SYSTEM_CA, TLS_URL_KEYS, ConnectionParams
from ansible.module_utils.safeindex.core.errors import ConnectionConfigError

_TLS_KEYS = {name for names in TLS_URL_KEYS.values() for name in names}
_ENCRYPTED = ("require", "verify-ca", "verify-full")


def _other_options(params: ConnectionParams) -> dict:
    """The URL query's settings but the TLS ones, which the fields carry (db_ssl_* may have overridden them)."""
    return {key: value for key, value in params.options if key.lower() not in _TLS_KEYS}


def ssl_context(params: ConnectionParams) -> ssl.SSLContext | None:
    """The TLS context of a mode that encrypts, else None. Built here rather than from PyMySQL's ssl_* keywords:
    those cannot ask for TLS without a CA, and check the host name only when a CA file is given."""
    if params.ssl_mode not in _ENCRYPTED:
        return None
    try:
        context = ssl.create_default_context(cafile=None if params.ssl_ca == SYSTEM_CA else params.ssl_ca)
    except (ssl.SSLError, OSError) as exc:
        raise ConnectionConfigError("db_ssl_ca %s holds no CA certificate in PEM form (%s): give the CA bundle that signs the"
                                    " server's certificate" % (params.ssl_ca, exc)) from None
    context.check_hostname = params.ssl_mode == "verify-full"
    if params.ssl_mode == "require":
        context.verify_mode = ssl.CERT_NONE
    return context


def driver_options(params: ConnectionParams) -> dict:
    """pymysql.connect() keywords: the URL query's own settings, and the TLS settings.

    PyMySQL with an `ssl` context refuses a server that does not offer TLS: require means require.
    """
    options = _other_options(params)
    context = ssl_context(params)
    if context is not None:
        options["ssl"] = context
    elif params.ssl_mode == "disable":
        options["ssl_disabled"] = True
    return options


_PREFERRED_CONTEXT: list = []


def preferred_context() -> ssl.SSLContext:
    """The context of TLS when the server offers it (allow, prefer: PyMySQL's default), as PyMySQL makes it (no
    certificate checked, so no CA needed), made once per process: PyMySQL makes its own on every connect, loading the
    system's CA bundle it then never reads (~30 ms of CPU a connection)."""
    if not _PREFERRED_CONTEXT:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        _PREFERRED_CONTEXT.append(context)
    return _PREFERRED_CONTEXT[0]


# MySQL's own clients (mysqldump 8, mysql 8) know no --ssl: the mode is one option, ssl-mode.
MYSQL_CLIENT_MODES = {"disable": "DISABLED", "require": "REQUIRED", "verify-ca": "VERIFY_CA", "verify-full": "VERIFY_IDENTITY"}


def client_options(params: ConnectionParams, client_family: str = "mariadb") -> list[str]:
    """Lines for the [client] group of the 0600 defaults file that the dump and restore tools read, in the option
    names of the tool's family (dump.client_family): MariaDB's or MySQL's. MariaDB's client checks the certificate
    against ssl-ca whenever it is given, and the host name with ssl-verify-server-cert; newer clients check by
    default, so each mode says both."""
    if client_family == "mysql":
        return _mysql_client_options(params)
    if params.ssl_mode == "disable":
        return ["skip-ssl"]
    if params.ssl_mode not in _ENCRYPTED:
        return []
    lines = ["ssl"]
    if params.ssl_ca and params.ssl_ca != SYSTEM_CA and params.ssl_mode != "require":
        lines.append("ssl-ca=" + _option_value(params.ssl_ca))
    lines.append("ssl-verify-server-cert" if params.ssl_mode == "verify-full" else "skip-ssl-verify-server-cert")
    return lines


def _mysql_client_options(params: ConnectionParams) -> list[str]:
    """ssl-mode and, for the modes that check the certificate, where the CA is: MySQL's client wants one named (it
    does not read the system's store by itself), so "system" is the folder Python's ssl module trusts."""
    if params.ssl_mode not in MYSQL_CLIENT_MODES:
        return []  # allow, prefer: MySQL's client prefers TLS by default
    lines = ["ssl-mode=" + MYSQL_CLIENT_MODES[params.ssl_mode]]
    if params.ssl_mode in ("verify-ca", "verify-full"):
        if params.ssl_ca and params.ssl_ca != SYSTEM_CA:
            lines.append("ssl-ca=" + _option_value(params.ssl_ca))
        else:
            paths = ssl.get_default_verify_paths()
            lines.append("ssl-capath=" + _option_value(paths.capath or paths.openssl_capath))
    return lines


def _option_value(value: str) -> str:
    """A value of an option file, quoted as the MariaDB client reads it."""
    return '"%s"' % str(value).replace("\\", "\\\\").replace('"', '\\"')
