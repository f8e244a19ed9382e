"""How far a long statement has come, read from a second connection while the first runs it."""


class Progress:
    def backend_id(self) -> int:
        """This connection's id on the server (PostgreSQL pid, MySQL connection id)."""
        raise NotImplementedError

    def build_progress(self, backend_id) -> dict:
        """How far the DDL running on that connection has come: {phase, percent, unit, waiting}, None where unknown."""
        raise NotImplementedError
