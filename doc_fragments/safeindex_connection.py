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
requirements:
  - psycopg2 (PostgreSQL)
  - PyMySQL (MySQL and MariaDB)
"""
