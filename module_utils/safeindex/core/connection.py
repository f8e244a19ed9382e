"""Connection settings shared by every module: explicit parameters or the app's DATABASE_URL."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from ansible.module_utils.safeindex.core.errors import ConnectionConfigError
from ansible.module_utils.safeindex.engines import ENGINE_NAMES, engine_for_url_scheme, features_for

# TLS modes in PostgreSQL's words (each engine's engines/<name>/tls.py translates them for its driver and tools).
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# MySQL's words for the same modes (its --ssl-mode, SQLAlchemy URLs), accepted too.
SSL_MODE_ALIASES = {"disabled": "disable", "preferred": "prefer", "required": "require", "verify_ca": "verify-ca",
                    "verify_identity": "verify-full"}
# The DATABASE_URL query keys that carry TLS settings, per field. They stay in `options` as the URL gave them (a restored
# database's URL keeps them); the engine's tls.py drops them from the driver's keywords and passes the fields instead.
TLS_URL_KEYS = {"ssl_mode": ("sslmode", "ssl_mode", "ssl-mode"), "ssl_ca": ("sslrootcert", "ssl_ca", "ssl-ca")}
# db_ssl_ca's word (libpq's sslrootcert=system) for the CAs the controller's system trusts instead of a file.
SYSTEM_CA = "system"

# The argument spec every module that talks to a database extends (doc fragment: safeindex_connection).
CONNECTION_ARGUMENT_SPEC = dict(
    db_engine=dict(type="str", choices=["postgresql", "mysql"]),
    db_host=dict(type="str"),
    db_port=dict(type="int"),
    db_name=dict(type="str"),
    db_user=dict(type="str"),
    db_password=dict(type="str", no_log=True),
    database_url=dict(type="str", no_log=True),
    connect_timeout=dict(type="int", default=10),
    db_ssl_mode=dict(type="str", choices=list(SSL_MODES) + [alias.upper() for alias in SSL_MODE_ALIASES]),
    db_ssl_ca=dict(type="path"),
    # TCP keepalives (issue 21): how a dead peer is told from a long silent build (see KEEPALIVE_DEFAULTS).
    keepalive_idle=dict(type="int", default=15),
    keepalive_interval=dict(type="int", default=5),
    keepalive_count=dict(type="int", default=3),
    tcp_user_timeout=dict(type="int"),
)

# A build may run for hours with no byte on the wire, so no read timeout: TCP keepalives tell a dead peer (a cut
# network, a crashed host) from a long statement. 15 s of silence, then a probe every 5 s, 3 unanswered: the
# connection is dead about 30 s after the peer went silent, on the controller and (PostgreSQL) on the server.
# tcp_user_timeout bounds data sent and never acknowledged (keepalives only probe an idle connection); not set,
# it is the same idle + interval * count.
KEEPALIVE_DEFAULTS = dict(keepalive_idle=15, keepalive_interval=5, keepalive_count=3)

# Every DATABASE_URL scheme some engine reads (engines/<engine>/features.py), for the message naming them.
URL_SCHEMES = tuple(sorted(scheme for name in ENGINE_NAMES for scheme in features_for(name).url_schemes))
ENCODING_HINT = " (a '/', '#', '?', '@', '[' or ']' in the user or password must be percent-encoded, e.g. %2F for '/')"


@dataclass(frozen=True)
class ConnectionParams:
    engine: str
    host: str
    port: int
    database: str
    user: str
    password: str = None
    connect_timeout: int = 10
    options: tuple = ()  # extra driver settings from the URL query, e.g. (("sslmode", "require"),)
    ssl_mode: str | None = None  # one of SSL_MODES; None: the driver's default
    ssl_ca: str | None = None  # the CA bundle that signs the server's certificate (e.g. the RDS global bundle)
    keepalive_idle: int = KEEPALIVE_DEFAULTS["keepalive_idle"]  # seconds of silence before the first probe
    keepalive_interval: int = KEEPALIVE_DEFAULTS["keepalive_interval"]  # seconds between probes
    keepalive_count: int = KEEPALIVE_DEFAULTS["keepalive_count"]  # unanswered probes that mean the peer is gone
    tcp_user_timeout: int | None = None  # seconds data may stay unacknowledged; None: idle + interval * count

    @property
    def dead_after_seconds(self) -> int:
        """How long a silent peer takes to be declared gone: TCP_USER_TIMEOUT, in seconds (0: the system's own)."""
        if self.tcp_user_timeout is not None:
            return self.tcp_user_timeout
        return self.keepalive_idle + self.keepalive_interval * self.keepalive_count

    def describe(self) -> str:
        """Where we connect, for messages: never the password."""
        return "%s://%s@%s:%s/%s" % (self.engine, self.user, self.host, self.port, self.database)


def connection_params(params: dict) -> ConnectionParams:
    """ConnectionParams from module parameters: `database_url` gives the defaults, db_* override them."""
    from_url = parse_database_url(params["database_url"]) if params.get("database_url") else {}
    merged = dict(from_url)
    merged.update(_tls_from_url(merged.get("options", ())))
    for key, field in (("db_engine", "engine"), ("db_host", "host"), ("db_port", "port"),
                       ("db_name", "database"), ("db_user", "user"), ("db_password", "password"),
                       ("db_ssl_mode", "ssl_mode"), ("db_ssl_ca", "ssl_ca")):
        if params.get(key) not in (None, ""):
            merged[field] = params[key]
    engine = merged.get("engine")
    if not engine:
        raise ConnectionConfigError("no database engine: set db_engine (postgresql or mysql) or database_url")
    missing = [name for name, field in (("db_name", "database"), ("db_user", "user")) if not merged.get(field)]
    if missing:
        raise ConnectionConfigError("missing connection settings: %s (or give database_url)" % ", ".join(missing))
    timeout = params.get("connect_timeout") or 10
    if timeout < 1:
        raise ConnectionConfigError("connect_timeout must be at least 1 second")
    return ConnectionParams(
        engine=engine,
        host=merged.get("host") or "127.0.0.1",
        port=int(merged.get("port") or features_for(engine).default_port),
        database=merged["database"],
        user=merged["user"],
        password=merged.get("password"),
        connect_timeout=timeout,
        options=tuple(merged.get("options", ())),
        **tls_settings(merged.get("ssl_mode"), merged.get("ssl_ca")),
        **keepalive_settings(params),
    )


def keepalive_settings(params: dict) -> dict:
    """The keepalive options, checked before any connection is tried: whole seconds (counts), in the kernel's range."""
    settings = {}
    for key, default in KEEPALIVE_DEFAULTS.items():
        value = params.get(key)
        settings[key] = default if value in (None, "") else _whole_number(key, value, 1, 32767)
    value = params.get("tcp_user_timeout")
    # 0 is the kernel's own default (retransmissions for up to ~15 minutes): allowed, but it must be said.
    settings["tcp_user_timeout"] = None if value in (None, "") else _whole_number("tcp_user_timeout", value, 0, 2147483)
    return settings


def _whole_number(key: str, value, lowest: int, highest: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or str(number) != str(value).strip() or not lowest <= number <= highest:
        raise ConnectionConfigError("%s must be a whole number from %d to %d (db_%s in the inventory), not %r"
                                    % (key, lowest, highest, key, value))
    return number


def _tls_from_url(options: tuple | list) -> dict:
    """The TLS fields a DATABASE_URL query gives (sslmode / sslrootcert for PostgreSQL, ssl_ca for MySQL)."""
    found = {}
    for key, value in options:
        for field, names in TLS_URL_KEYS.items():
            if key.lower() in names and value:
                found[field] = value
    return found


def tls_settings(ssl_mode: str | None, ssl_ca: str | None) -> dict:
    """ssl_mode and ssl_ca checked before any connection is tried: a known mode, a CA file that can be read.

    A CA without a mode means verify-full: a CA is given to have the server's certificate checked.
    """
    mode = None
    if ssl_mode:
        mode = SSL_MODE_ALIASES.get(ssl_mode.strip().lower(), ssl_mode.strip().lower())
        if mode not in SSL_MODES:
            raise ConnectionConfigError("db_ssl_mode %r (or sslmode in database_url) is not a TLS mode: expected one of %s"
                                        % (ssl_mode, ", ".join(SSL_MODES)))
    if ssl_ca:
        ssl_ca = ssl_ca if ssl_ca == SYSTEM_CA else os.path.expanduser(ssl_ca)
        if ssl_ca != SYSTEM_CA and not (os.path.isfile(ssl_ca) and os.access(ssl_ca, os.R_OK)):
            raise ConnectionConfigError("db_ssl_ca %s (or sslrootcert / ssl_ca in database_url) is not a readable file:"
                                        " give the path of the CA bundle that signs the server's certificate"
                                        " (for RDS, global-bundle.pem)" % ssl_ca)
        if mode is None:
            mode = "verify-full"
    return {"ssl_mode": mode, "ssl_ca": ssl_ca}


def parse_database_url(url: str) -> dict:
    """The parts of a DATABASE_URL. Errors show the URL with its password masked, never a piece of it."""
    shown = mask_url(url)
    # The parser's own messages quote what they could not read, which may be a piece of the password:
    # every error here says what is wrong in our own words.
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ConnectionConfigError("malformed database_url %s: its host part cannot be read%s" % (shown, ENCODING_HINT)) from None
    engine = engine_for_url_scheme(parts.scheme)
    if engine is None:
        raise ConnectionConfigError(
            "database_url %s: unknown scheme %r (expected one of %s)" % (shown, parts.scheme, ", ".join(URL_SCHEMES))
        )
    if "@" not in parts.netloc and "@" in parts.path + parts.query + parts.fragment:
        # A '/', '#' or '?' in the password ended the host part early: "user:pass" would pass for "host:port".
        raise ConnectionConfigError("malformed database_url %s: the user or password holds a character that ends the"
                                    " host part early%s" % (shown, ENCODING_HINT))
    try:
        port = parts.port
    except ValueError:
        raise ConnectionConfigError("malformed database_url %s: the port is not a number from 0 to 65535" % shown) from None
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not database or "/" in database:
        raise ConnectionConfigError("database_url %s must look like %s://user:password@host:port/database" % (shown, parts.scheme))
    result = {"engine": engine, "host": parts.hostname, "database": database, "options": parse_qsl(parts.query)}
    if port:
        result["port"] = port
    if parts.username:
        result["user"] = unquote(parts.username)
    if parts.password is not None:
        result["password"] = unquote(parts.password)
    return result


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, safe to print; also when the URL does not parse."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        password = None
    if password is not None and ":" + password + "@" in parts.netloc:
        netloc = parts.netloc.replace(":" + password + "@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()
    # Not parsed as user:password@host (a typo in the scheme, an unencoded '/', '#' or '?' in the password):
    # everything from the start of the credentials to the last '@' may be secret.
    at = url.rfind("@")
    if at < 0:
        return url
    slashes = url.find("/")
    if 0 <= slashes < at:
        start = len(url) - len(url[slashes:].lstrip("/"))
    else:
        start = url.find(":") + 1 if 0 <= url.find(":") < at else 0
    return url[:start] + "***" + url[at:]
