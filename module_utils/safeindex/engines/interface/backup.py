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
