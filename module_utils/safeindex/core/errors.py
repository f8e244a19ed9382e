"""Errors the engine raises; each one is something an operator can act on."""


class SafeIndexError(Exception):
    """Base class: the message is meant for the operator, as it is."""

    def __init__(self, message: str, **details: object):
        super().__init__(message)
        self.details = details


class SpecError(SafeIndexError):
    """The index spec is wrong; nothing was changed."""


class NeedsWrite(SpecError):
    """A check that needs a write (a temporary copy of a table) on a session that may not write: no privilege for it, a
    read-only transaction, a hot standby. A plan made in check mode may go on without the check, and says so."""


class OptionError(SafeIndexError):
    """A module option does not apply to this engine or server."""


class ConnectionConfigError(SafeIndexError):
    """The connection settings are incomplete or malformed."""


class DatabaseUnavailable(SafeIndexError):
    """The server could not be reached or refused the login."""


class LockTimeout(SafeIndexError):
    """One attempt to take a lock ran out of its lock timeout."""


class GaveUp(SafeIndexError):
    """All attempts ran out; `details['blockers']` names the sessions in the way."""


class RunLocked(SafeIndexError):
    """Another run holds this database's run lock."""


class ServerRefused(SafeIndexError):
    """The server refused a statement; the message carries its reason."""


class StatementTimeout(ServerRefused):
    """The server stopped a statement that ran over its statement timeout."""
