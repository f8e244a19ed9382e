"""An ephemeral MariaDB server (serves engine "mysql"): mariadb-install-db + mariadbd in its own folder.

The server itself is the engine's (module_utils engines/mysql/scratch.py, which the restore check's scratch server is
too); the sandbox adds the app's users and database.
"""

import pymysql

from sandbox.module_utils import mariadb_scratch
from sandbox.server_base import DatabaseServer

SUPERUSER = mariadb_scratch.SUPERUSER
# The app's hosts: TCP clients come from 127.0.0.1 (names are not resolved), socket clients are 'localhost'.
APP_USER_HOSTS = ("127.0.0.1", "localhost")
mariadb_program = mariadb_scratch.mariadb_program
quote_identifier = mariadb_scratch.quote_identifier


class MariadbServer(mariadb_scratch.MariadbScratch, DatabaseServer):
    """The sandbox's MariaDB server, with the app's users and database."""

    # Where the app user may log in from (a server behind a test's own network adds the controller's address).
    app_user_hosts: tuple[str, ...] = APP_USER_HOSTS

    def app_connect(self, db_name: str, db_user: str, db_password: str, autocommit: bool = True):
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=db_user,
            password=db_password,
            database=db_name,
            charset="utf8mb4",
            autocommit=autocommit,
            connect_timeout=5,
            # Without TLS options PyMySQL makes a TLS context, loading the system's CA bundle, on every connect (~30 ms
            # CPU): the tests' own queries ask for TLS only where the server requires it.
            **({} if self.tls else {"ssl_disabled": True}),
        )

    def create_app_database(self, db_name: str, db_user: str, db_password: str) -> None:
        """A user with this password (TCP and socket), all rights on the database, and PROCESS.

        PROCESS is the one global right the migration needs: mysqldump --single-transaction reads
        tablespace info with it, and it shows other sessions in PROCESSLIST and INNODB_TRX. The
        backup proves itself by restoring into scratch databases named safeindex_verify_*, and
        rollback.yml's restore_backup restores into new databases named <database>_restored_*.
        """
        database = quote_identifier(db_name)
        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {database} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                for host in self.app_user_hosts:
                    account = (db_user, host)
                    cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (*account, db_password))
                    cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (*account, db_password))
                    if self.tls and host != "localhost":
                        # TLS mode: over TCP the app user must use TLS (socket logins are local, as with PostgreSQL).
                        cur.execute("ALTER USER %s@%s REQUIRE SSL", account)
                    cur.execute(f"GRANT ALL PRIVILEGES ON {database}.* TO %s@%s", account)
                    # PROCESS shows other sessions (a primary's binlog dump threads among them); REPLICATION MASTER
                    # ADMIN lists the replicas; SLAVE MONITOR (10.5.9+, REPLICATION CLIENT before) reads a replica's
                    # own lag, SHOW REPLICA STATUS; BINLOG MONITOR the primary's binary log position. The grant reaches
                    # a sandbox replica by replication.
                    cur.execute("GRANT PROCESS, REPLICATION MASTER ADMIN, SLAVE MONITOR, BINLOG MONITOR ON *.* TO %s@%s",
                                account)
                    cur.execute("GRANT ALL PRIVILEGES ON `safeindex\\_verify\\_%%`.* TO %s@%s", account)
                    # A '%' in the pattern is doubled: the driver fills in the account's %s.
                    restored = quote_identifier(db_name.replace("_", "\\_") + "\\_restored\\_%").replace("%", "%%")
                    cur.execute(f"GRANT ALL PRIVILEGES ON {restored}.* TO %s@%s", account)
        finally:
            conn.close()
