"""TLS for PostgreSQL: the connection's sslmode and sslrootcert, for psycopg2 and for pg_dump / pg_restore's conninfo.

libpq speaks the very words of db_ssl_mode (core/connection.py SSL_MODES), so this only names them.
"""

from ansible.module_utils.safeindex.core.connection import TLS_URL_KEYS, ConnectionParams

_TLS_KEYS = {name for names in TLS_URL_KEYS.values() for name in names}


def _tls(params: ConnectionParams) -> dict:
    settings = {}
    if params.ssl_mode:
        settings["sslmode"] = params.ssl_mode
    if params.ssl_ca:
        settings["sslrootcert"] = params.ssl_ca
    return settings


def _other_options(params: ConnectionParams) -> dict:
    """The URL query's settings but the TLS ones, which the fields carry (db_ssl_* may have overridden them)."""
    return {key: value for key, value in params.options if key.lower() not in _TLS_KEYS}


def driver_options(params: ConnectionParams) -> dict:
    """psycopg2.connect() keywords: the URL query's own settings, and the TLS settings."""
    return {**_other_options(params), **_tls(params)}


def client_options(params: ConnectionParams) -> dict:
    """conninfo keywords for pg_dump, pg_restore and psql: the same as the driver's (libpq reads both)."""
    return driver_options(params)
