"""A dump restored while it is written: the dump client's output goes to the backup file and, at once, to the restore
client of the restore check's scratch server (engines/<engine>/dump.py start the clients, this moves the bytes)."""

from __future__ import annotations

import os
import subprocess
import tempfile

from ansible.module_utils.safeindex.backup.clients import ClientError, tail
from ansible.module_utils.safeindex.core.processes import at_background_priority

CHUNK = 1 << 20


class RestoreFeed:
    """A restore client reading the dump on its stdin. A client that stops reading (it failed) is not fed any more:
    finish() says why, from its exit code and stderr."""

    def __init__(self, argv: list, env: dict, secret: str | None = None):
        self.argv, self.secret = argv, secret
        self._errors = tempfile.TemporaryFile()  # a file: a chatty client must not block on a full pipe
        # The restore check's client: background work, as its server (processes.at_background_priority).
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._errors, env=env,
                                        preexec_fn=at_background_priority)
        self.broken = False

    def write(self, chunk: bytes) -> None:
        if self.broken:
            return
        try:
            self.process.stdin.write(chunk)
        except BrokenPipeError:
            self.broken = True

    def finish(self) -> None:
        """Wait for the restore to end; raises ClientError when it failed."""
        try:
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        self.process.wait()
        self._errors.seek(0)
        errors = self._errors.read()
        self._errors.close()
        if self.process.returncode != 0:
            raise ClientError("%s exited with %d: %s" % (os.path.basename(self.argv[0]), self.process.returncode,
                                                         tail(errors, self.secret)))

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if not self._errors.closed:
            self._errors.close()


def tee(source, targets, on_chunk=None) -> None:
    """Copy `source` to every target (file objects, RestoreFeed) until it ends; on_chunk(chunk) sees each chunk."""
    while True:
        chunk = source.read(CHUNK)
        if not chunk:
            return
        for target in targets:
            target.write(chunk)
        if on_chunk is not None:
            on_chunk(chunk)
