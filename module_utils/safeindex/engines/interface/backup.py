"""The SQL side of a backup and a restore (the client tools are the engine's dumper, engines/<engine>/dump.py)."""


class Backup:
    def database_size(self) -> int:
        """Bytes the database takes on the server."""
        raise NotImplementedError

    def user_tables(self) -> list:
        """[(schema, table)] of every table whose rows a dump carries."""
        raise NotImplementedError

    def row_counts(self, tables) -> dict:
        """{"schema.table": exact row count}."""
        raise NotImplementedError

    def create_scratch_database(self, name: str) -> None:
        raise NotImplementedError

    def drop_scratch_database(self, name: str) -> None:
        raise NotImplementedError

    def mark_scratch_database(self, name: str, database: str) -> None:
        """Say on the server that `name` is the restore check's copy of `database`: a run that could not drop it (the
        network was gone) leaves it findable by the next one (scratch_databases_left)."""
        raise NotImplementedError

    def drop_scratch_databases_left(self, database: str) -> list:
        """Drop the restore-check copies of `database` that earlier runs left (marked by mark_scratch_database); their
        names. The run lock keeps any other run of this database away, so every one found is a leftover."""
        raise NotImplementedError
