"""The statements an engine builds (session settings, DDL) and how it runs them."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for the annotations only: base imports this module
    from ansible.module_utils.safeindex.engines.base import Statement


class Statements:
    def session_statements(self, options) -> list:
        raise NotImplementedError

    def create_statement(self, name: str, definition, run_id: str, online: bool = True, timeout: float = 0.0) -> "Statement":
        """The build; engines whose index carries its comment (MySQL) mark it with the run id here."""
        raise NotImplementedError

    def drop_statement(self, name: str, definition, online: bool = True) -> "Statement":
        raise NotImplementedError

    def post_build_statements(self, name: str, definition, run_id: str) -> list:
        raise NotImplementedError

    def render(self, statement) -> list:
        """The exact SQL the server receives for this statement, as a list of statements in order."""
        raise NotImplementedError

    def render_definition(self, name: str, definition) -> str:
        """A definition as a CREATE INDEX statement, for messages and diffs."""
        raise NotImplementedError

    def execute(self, statement) -> None:
        """Run one statement; raises LockTimeout on a lock wait that ran out, ServerRefused otherwise. Each statement
        goes to sent_statements() as the cursor sends it, before it runs (a statement that fails was sent too)."""
        raise NotImplementedError

    def sent_statements(self) -> list:
        """Every statement execute() has sent on this session, in order, as the server received it: a result's `sql`
        is its part of this list, never a list built apart from what ran."""
        return self.__dict__.setdefault("_sent_statements", [])
