"""PostgreSQL's prepared transactions (pg_prepared_xacts): a concurrent build waits for each that holds a lock on its
table or a snapshot in its database, and a prepared transaction lives until someone commits or rolls it back."""

from ansible.module_utils.safeindex.engines.interface.traps import ServerTraps


class PostgresPrepared(ServerTraps):
    def prepared_transactions(self, min_age_seconds: float) -> list:
        # Every database's: pg_prepared_xacts is cluster-wide. Those of other databases do not stop this build, but are
        # listed all the same (a forgotten one holds back vacuum everywhere).
        rows = self._rows(
            "SELECT gid, owner, database, extract(epoch FROM now() - prepared)::float8, database = current_database()"
            " FROM pg_prepared_xacts WHERE prepared < now() - make_interval(secs => %s) ORDER BY prepared",
            (float(min_age_seconds),),
        )
        return [{"gid": gid, "owner": owner, "database": database, "age_seconds": round(age, 1), "this_database": here}
                for gid, owner, database, age, here in rows]
