"""The one exception the sandbox raises for problems a user can act on."""


class SandboxError(Exception):
    """An expected failure (busy port, server that does not start, bad inventory): shown as one line."""
