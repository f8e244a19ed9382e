"""Connection settings shared by every module: explicit parameters or the app's DATABASE_URL."""

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from ansible.module_utils.safeindex.core.errors import ConnectionConfigError
from ansible.module_utils.safeindex.engines import ENGINE_NAMES, engine_for_url_scheme, features_for

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
)

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

    def describe(self) -> str:
        """Where we connect, for messages: never the password."""
        return "%s://%s@%s:%s/%s" % (self.engine, self.user, self.host, self.port, self.database)


def connection_params(params) -> "ConnectionParams":
    """ConnectionParams from module parameters: `database_url` gives the defaults, db_* override them."""
    from_url = parse_database_url(params["database_url"]) if params.get("database_url") else {}
    merged = dict(from_url)
    for key, field in (("db_engine", "engine"), ("db_host", "host"), ("db_port", "port"),
                       ("db_name", "database"), ("db_user", "user"), ("db_password", "password")):
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
    )


def parse_database_url(url) -> dict:
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


def mask_url(url) -> str:
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
