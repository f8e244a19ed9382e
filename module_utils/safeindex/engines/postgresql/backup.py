"""The SQL side of a PostgreSQL backup: size, tables, exact counts in an exported snapshot, scratch databases."""

import contextlib
import time
from collections.abc import Iterator

try:
    from psycopg2 import sql
except ImportError:  # reported by the module as a missing requirement
    sql = None

from ansible.module_utils.safeindex.core.errors import ServerRefused
from ansible.module_utils.safeindex.engines.base import Statement
from ansible.module_utils.safeindex.engines.interface.backup import Backup

OBJECT_IN_USE = "55006"
SCRATCH_COMMENT = "safeindex restore check of %s"


class PostgresBackup(Backup):
    def database_size(self) -> int:
        return self._rows("SELECT pg_database_size(current_database())")[0][0]

    def user_tables(self) -> list:
        # Tables that belong to extensions are the extension's business, not the dump's data.
        return [tuple(r) for r in self._rows(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND n.nspname !~ '^pg_(toast|temp)'"
            " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass"
            " AND d.objid = c.oid AND d.deptype = 'e')"
            " ORDER BY 1, 2"
        )]

    def row_counts(self, tables) -> dict:
        counts = {}
        for schema, table in tables:
            query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            try:
                counts["%s.%s" % (schema, table)] = self._rows(query)[0][0]
            except ServerRefused as exc:
                raise ServerRefused("cannot count the rows of %s.%s: %s" % (schema, table, exc), **exc.details) from None
        return counts

    @contextlib.contextmanager
    def exported_snapshot(self) -> Iterator[str]:
        """A read-only repeatable-read transaction whose snapshot pg_dump can share (--snapshot)."""
        self.execute(Statement("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        try:
            yield self._rows("SELECT pg_export_snapshot()")[0][0]
        except BaseException:
            # The dump failed, maybe because the network is gone: a ROLLBACK sent now could wait on a dead socket for as
            # long as the kernel retransmits. Closing the session ends its transaction on the server just as well.
            self.close()
            raise
        if not self.conn.closed:
            self.execute(Statement("ROLLBACK"))

    def create_scratch_database(self, name: str) -> None:
        encoding, collate, ctype = self._rows(
            "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database WHERE datname = current_database()"
        )[0]
        self.execute(Statement(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING %s LC_COLLATE %s LC_CTYPE %s").format(sql.Identifier(name)),
            (encoding, collate, ctype),
        ))

    def drop_scratch_database(self, name: str) -> None:
        # Not WITH (FORCE): a non-superuser may not terminate the autovacuum worker a fresh restore
        # attracts, while a plain DROP DATABASE cancels autovacuum by itself.
        statement = Statement(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        for attempt in range(10):
            try:
                return self.execute(statement)
            except ServerRefused as exc:
                if exc.details.get("sqlstate") != OBJECT_IN_USE or attempt == 9:
                    raise ServerRefused("could not drop the scratch database %s: %s" % (name, exc), **exc.details) from None
                time.sleep(1)

    def mark_scratch_database(self, name: str, database: str) -> None:
        self.execute(Statement(sql.SQL("COMMENT ON DATABASE {} IS %s").format(sql.Identifier(name)), (SCRATCH_COMMENT % database,)))

    def drop_scratch_databases_left(self, database: str) -> list:
        names = [row[0] for row in self._rows(
            "SELECT datname FROM pg_database WHERE datname LIKE 'safeindex\\_verify\\_%%'"
            " AND shobj_description(oid, 'pg_database') = %s ORDER BY 1", (SCRATCH_COMMENT % database,))]
        for name in names:
            # A restore whose client the network cut off may still have its session there (the server has not heard the
            # client go): ours, so ours to end; DROP DATABASE would refuse while it lives.
            self._rows("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND usename = current_user"
                       " AND pid <> pg_backend_pid()", (name,))
            self.drop_scratch_database(name)
        return names
