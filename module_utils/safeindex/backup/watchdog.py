"""A watchdog for a client tool that has no network timeout of its own (mariadb-dump, mariadb): it stops the client when
the bytes it writes (a dump) or reads (a restore) have not moved for `seconds`.

A cut network is silence, not an error: without this the client waits on its socket for as long as the kernel keeps
retransmitting (a quarter of an hour) or, reading, for ever. PostgreSQL's clients need none: libpq's TCP keepalives
and tcp_user_timeout end their connection (engines/postgresql/dump.py).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

# What backup_stall_timeout is when nothing sets it: far longer than any pause of a working dump (a chunk of rows each
# second or so), short enough that a lost connection fails the run in minutes.
DEFAULT_STALL_SECONDS = 120


class Watchdog:
    """moved() at each chunk; when none came for `seconds`, the process is killed and `stalled` set."""

    def __init__(self, process, seconds: float):
        self.process, self.seconds = process, seconds
        self.stalled = False
        self._paused = False
        self._last = time.monotonic()
        self._done = threading.Event()

    def moved(self) -> None:
        self._last = time.monotonic()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Not watched for the block: the wait in it is another party's (the restore check's scratch server)."""
        self._paused = True
        try:
            yield
        finally:
            self._paused = False
            self.moved()

    def _watch(self) -> None:
        while not self._done.wait(min(1.0, self.seconds / 4)):
            if self._paused:
                continue
            if time.monotonic() - self._last >= self.seconds and self.process.poll() is None:
                self.stalled = True
                self.process.kill()  # its pipes close: the copy loop sees the end and the exit code says the rest
                return

    def message(self, tool: str, where: str) -> str:
        return ("%s stopped: no byte of the dump moved for %s s (stall_timeout, backup_stall_timeout in the inventory): the"
                " connection to %s was lost or the server stopped answering" % (tool, self.seconds, where))


@contextlib.contextmanager
def watching(process, seconds: float | None) -> Iterator[Watchdog]:
    """A Watchdog on `process` for the block (none when seconds is 0 or None: moved() then does nothing)."""
    dog = Watchdog(process, seconds or 0)
    thread = threading.Thread(target=dog._watch, daemon=True) if seconds else None
    if thread is not None:
        thread.start()
    try:
        yield dog
    finally:
        dog._done.set()
        if thread is not None:
            thread.join()
