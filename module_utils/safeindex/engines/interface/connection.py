"""An engine's connection: open, close, the server's version and what it can do."""

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for the annotations only
    from ansible.module_utils.safeindex.engines.features import Features


class Connection:
    """One open session on the server; the engine object is this session."""

    FEATURES = None  # the engine's Features (engines/<engine>/features.py)

    def __init__(self, params, application_name: str = "safeindex"):
        self.params = params
        self.application_name = application_name[:63]

    @property
    def name(self) -> str:
        """The engine's name (postgresql, mysql), as inventories, specs and run records write it."""
        return self.FEATURES.name

    @property
    def engine(self) -> str:
        """The engine's name, as modules written before engines/ ask it (prefer .name)."""
        return self.FEATURES.name

    @property
    def features(self) -> "Features":
        """The Features of the server this session is on: the engine's, made specific to the server's flavour and
        version (MariaDB or MySQL, a major version) once the version is known."""
        if getattr(self, "_server_features", None) is None:
            self._server_features = self.FEATURES.for_server(self.server_version())
        return self._server_features

    def close(self) -> None:
        raise NotImplementedError

    def server_version(self) -> str:
        raise NotImplementedError

    def default_schema(self) -> str:
        raise NotImplementedError

    def ping(self) -> None:
        raise NotImplementedError

    def connect_to(self, database: str) -> "Connection":
        """Another connection of the same kind, to another database of the same server."""
        return self.__class__(replace(self.params, database=database), self.application_name)
