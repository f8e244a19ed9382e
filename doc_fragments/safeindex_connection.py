"""The connection options every safeindex module shares (module_utils/safeindex/core/connection.py)."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  db_engine:
    description:
      - The database engine. Taken from the scheme of O(database_url) when not given.
    type: str
    choices: [postgresql, mysql]
  db_host:
    description:
      - Host name or address of the database server. Defaults to V(127.0.0.1) when O(database_url) does not give one.
    type: str
  db_port:
    description:
      - Port of the database server. Defaults to V(5432) for PostgreSQL and V(3306) for MySQL.
    type: int
  db_name:
    description:
      - The database to work on.
    type: str
  db_user:
    description:
      - The user to log in as. On PostgreSQL it must own the tables it indexes.
    type: str
  db_password:
    description:
      - The user's password. Never logged.
    type: str
  database_url:
    description:
      - The URL the application uses, for example the value of C(DATABASE_URL), such as
        V(postgresql://user:password@host:5432/db) or V(mysql+pymysql://user:password@host/db).
        Schemes V(postgres), V(postgresql), V(postgresql+psycopg2), V(mysql), V(mysql+pymysql), V(mariadb).
      - Its parts are defaults; the O(db_engine), O(db_host), O(db_port), O(db_name), O(db_user) and O(db_password) options override them.
      - Never logged; errors show it with the password masked.
    type: str
  connect_timeout:
    description:
      - Seconds to wait for the server to accept the connection.
    type: int
    default: 10
  keepalive_idle:
    description:
      - Seconds of silence on a connection before TCP keepalive probes start, on the controller's side and (PostgreSQL)
        the server's (C(tcp_keepalives_idle)). With O(keepalive_interval) and O(keepalive_count) they tell a dead peer
        (a cut network, a crashed host) from a long build that sends nothing (no read timeout ever ends a statement).
      - Every connection a module opens has them, the run lock's and the progress watcher's too.
    type: int
    default: 15
  keepalive_interval:
    description:
      - Seconds between two keepalive probes. On PostgreSQL 14 and later also how often a running statement checks
        that its client is still there (C(client_connection_check_interval)), so the server cancels a build whose
        client is gone.
    type: int
    default: 5
  keepalive_count:
    description:
      - Unanswered probes after which the connection is dead. With the defaults a silent peer is declared gone about
        30 seconds (15 + 5 x 3) after it went silent.
    type: int
    default: 3
  tcp_user_timeout:
    description:
      - Seconds sent data may stay unacknowledged before the connection is dead (C(TCP_USER_TIMEOUT)), on both sides
        as the keepalives. Not set, O(keepalive_idle) + O(keepalive_interval) x O(keepalive_count). V(0) leaves the
        kernel's own (retransmissions for about 15 minutes).
    type: int
  db_ssl_mode:
    description:
      - How the connection uses TLS, in PostgreSQL's words (MySQL's V(DISABLED), V(PREFERRED), V(REQUIRED), V(VERIFY_CA),
        V(VERIFY_IDENTITY) are accepted too). Also read from O(database_url)'s query, V(?sslmode=verify-full) or V(?ssl_mode=...).
      - V(disable) never uses TLS; V(allow) and V(prefer) use it when the server offers it; V(require) refuses a server
        without TLS but does not check its certificate; V(verify-ca) also checks that O(db_ssl_ca) signed the certificate;
        V(verify-full) also checks that the certificate names O(db_host).
      - The same mode applies to the dump and restore tools (pg_dump, pg_restore, mariadb-dump, mariadb). MariaDB's client
        tools do not ask for TLS under V(allow) or V(prefer).
      - Not set, the driver's default (V(prefer)); with O(db_ssl_ca) given, V(verify-full).
      - RDS enforces TLS with C(rds.force_ssl) (PostgreSQL) or C(require_secure_transport) (MySQL and MariaDB); use
        V(verify-full) with the RDS CA bundle as O(db_ssl_ca).
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full, DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY]
  db_ssl_ca:
    description:
      - Path of the CA bundle that signs the server's certificate, for example RDS's C(global-bundle.pem).
      - Also read from O(database_url)'s query, V(?sslrootcert=...) (PostgreSQL) or V(?ssl_ca=...) (MySQL).
      - V(system) means the CAs the controller's system trusts (as libpq's C(sslrootcert=system)).
      - Checked before connecting; a file that cannot be read is an error.
    type: path
requirements:
  - psycopg2 (PostgreSQL)
  - PyMySQL (MySQL and MariaDB)
"""
