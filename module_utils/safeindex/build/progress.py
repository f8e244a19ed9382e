"""Progress of long work (an index build, a dump, a restore), written as it happens for the callback plugin to show.

An Ansible module's output appears only when it ends. While a long statement or client tool runs, a watcher
thread samples the work every few seconds and appends one JSON line to the task's progress file; the
callback plugin `safeindex_progress` tails that file in ansible-playbook's own process and prints the lines.
The file is the module option `progress_file`, by default `$SAFEINDEX_PROGRESS_FILE`, which the callback sets
for each task just before Ansible forks the task's worker (the modules run on the controller).

The work comes first: a watcher never fails or slows what it watches. It connects only once the work has run
for a while (quick work costs nothing), on a connection of its own; any error in it is written as one line
and ends the watching; it stops, and closes its connection, when the work ends, also when the work fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.safeindex.core.files import append_private

PROGRESS_FILE_ENV = "SAFEINDEX_PROGRESS_FILE"
# The option of every module that watches its long step (doc fragment safeindex_progress).
PROGRESS_ARGUMENT_SPEC = {"progress_file": dict(type="path", fallback=(env_fallback, [PROGRESS_FILE_ENV]))}
SPOOL_PREFIX = "safeindex-progress-"  # the callback's private folder of progress files (tempfile.mkdtemp prefix)
FIRST_SAMPLE_SECONDS = 2.0   # work that ends sooner is never sampled
SAMPLE_SECONDS = 2.0
STOP_WAIT_SECONDS = 2.0      # a watcher stuck in a query is left to finish on its own (a daemon thread)


class Watcher(threading.Thread):
    """Samples one piece of work until stopped; each sample is a line of the progress file.

    `sample(source)` returns the fields of a line (see describe()); `connect()`, when given, opens the
    source it reads (a dialect on a connection of its own), closed when the watcher ends.
    """

    def __init__(self, path: str, subject: str, kind: str, sample: Callable[[Any], dict], connect: Callable[[], Any] | None = None,
                 first: float = FIRST_SAMPLE_SECONDS, every: float = SAMPLE_SECONDS):
        super().__init__(name="safeindex progress %s" % subject, daemon=True)
        self.path, self.subject, self.kind = path, subject, kind
        self.sample, self.connect = sample, connect
        self.first, self.every = first, every
        self.started = time.monotonic()
        self.stopped = threading.Event()
        self.rate = PhaseRate()

    def run(self) -> None:
        source = None
        try:
            if self.stopped.wait(self.first):
                return
            source = self.connect() if self.connect else None
            while not self.stopped.is_set():
                fields = self.sample(source)
                if not self.stopped.is_set():
                    self.write(fields)
                if self.stopped.wait(self.every):
                    return
        except Exception as exc:  # whatever goes wrong here must not reach the work
            self.write({"error": "progress unavailable: %s" % (str(exc).strip().splitlines() or [type(exc).__name__])[0]})
        finally:
            if source is not None:
                with contextlib.suppress(Exception):
                    source.close()

    def write(self, fields: dict) -> None:
        if "error" not in fields:
            eta = self.rate.eta(fields, time.monotonic())
            if eta is not None:
                fields = dict(fields, eta_seconds=round(eta, 1))
        line = dict(fields, subject=self.subject, kind=self.kind, elapsed=round(time.monotonic() - self.started, 1), at=time.time())
        if "error" not in fields:
            line["text"] = describe(fields)
        try:
            append_private(self.path, json.dumps(line, sort_keys=True, default=str))
        except OSError:
            self.stopped.set()  # nowhere to write: stop watching, the work goes on

    def stop(self) -> None:
        self.stopped.set()
        if self.is_alive():
            self.join(STOP_WAIT_SECONDS)


class PhaseRate:
    """The rate of the current phase so far, for an ETA: a build's phases (PostgreSQL: scanning the table, sorting,
    loading the tree, validating) each count their own `unit` (blocks, tuples) from 0, so the rate is measured from the
    first sample of the phase, and starts again when the phase, its unit or its count goes back."""

    def __init__(self) -> None:
        self.first: tuple | None = None  # ((phase, unit), done, at) of the phase's first sample

    def eta(self, fields: dict, now: float) -> float | None:
        """Seconds left in this phase at its rate so far; None until two samples of the phase show progress."""
        unit = fields.get("unit")
        done, total = (fields.get("%s_done" % unit), fields.get("%s_total" % unit)) if unit else (None, None)
        if done is None or not total:
            self.first = None
            return None
        key = (fields.get("phase"), unit)
        if self.first is None or self.first[0] != key or done < self.first[1]:
            self.first = (key, done, now)
            return None
        _key, done_before, at = self.first
        if now <= at or done <= done_before:
            return None
        return max(0.0, total - done) / ((done - done_before) / (now - at))


def eta_text(seconds: float) -> str:
    """'ETA 40 s', 'ETA 2 min', 'ETA 1 h 05 min'."""
    if seconds < 60:
        return "ETA %d s" % max(1, round(seconds))
    minutes = round(seconds / 60.0)
    return "ETA %d min" % minutes if minutes < 60 else "ETA %d h %02d min" % divmod(minutes, 60)


@contextlib.contextmanager
def watching(path: str | None, subject: str, kind: str, sample: Callable[[Any], dict],
             connect: Callable[[], Any] | None = None) -> Iterator[Watcher | None]:
    """Watch the work of the `with` block when a progress file is given; otherwise do nothing at all."""
    if not path:
        yield None
        return
    watcher = Watcher(path, subject, kind, sample, connect)
    watcher.start()
    try:
        yield watcher
    finally:
        watcher.stop()


def announce(path: str | None, subject: str, kind: str, text: str) -> None:
    """A line the callback prints as soon as it reads it (an index of a batch starts or ends), not a sample of long work.
    Without a progress file, or when it cannot be written, nothing: a line shown must never stop the work."""
    if not path:
        return
    line = {"subject": subject, "kind": kind, "text": text, "announce": True, "elapsed": 0, "at": time.time()}
    with contextlib.suppress(OSError):
        append_private(path, json.dumps(line, sort_keys=True, default=str))


def watch_build(dialect: Any, subject: str, path: str | None) -> contextlib.AbstractContextManager:
    """Watch an index build that is about to run on `dialect`'s connection, from a second connection."""
    if not path:
        return contextlib.nullcontext()
    try:
        backend = dialect.backend_id()
    except Exception:  # no progress then, but the build goes on
        return contextlib.nullcontext()
    name = ("%s progress" % dialect.application_name)[:63]
    return watching(path, subject, "index", lambda watch: watch.build_progress(backend),
                    connect=lambda: dialect.__class__(dialect.params, name))


def describe(fields: dict) -> str:
    """One line for an operator: `building index: scanning table, 42% of blocks, ETA 2 min, waiting for pid 7`."""
    parts = [fields.get("phase") or "running"]
    if fields.get("percent") is not None:
        parts.append("%d%%%s" % (fields["percent"], " of " + fields["unit"] if fields.get("unit") else ""))
        if fields.get("eta_seconds") is not None:
            parts.append(eta_text(fields["eta_seconds"]))
    if fields.get("bytes"):
        parts.append("%s written" % human_bytes(fields["bytes"]))
    if fields.get("table"):
        parts.append("table " + fields["table"])
    if fields.get("waiting"):
        parts.append(fields["waiting"])
    return ", ".join(parts)


def human_bytes(count: float) -> str | None:
    for unit in ("bytes", "kB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return ("%d %s" if unit == "bytes" else "%.1f %s") % (count, unit)
        count /= 1024.0
    return None


def percent(done: float | None, total: float | None) -> int | None:
    return None if not total else min(100, int(100 * (done or 0) / total))


def size_of(path: str) -> int:
    """Bytes written so far to a dump (a file, or the files of a directory dump); 0 before it exists."""
    try:
        if os.path.isdir(path):
            return sum(os.path.getsize(os.path.join(path, name)) for name in os.listdir(path))
        return os.path.getsize(path)
    except OSError:
        return 0


def last_match(path: str, pattern: str, tail_bytes: int = 16384) -> str | None:
    """The first group of the last line of a client's log matching `pattern` (the table it works on), or None."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - tail_bytes))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return None
    found = re.findall(pattern, text)
    return found[-1] if found else None


def remove_spool(progress_file: str | None) -> bool:
    """Remove the callback's folder of progress files that `progress_file` lies in: the run lock's holder does it once
    the ansible-playbook process is gone without having removed it itself (SIGKILL). Only a folder the callback made
    (under the temporary folder, with its prefix) is touched; False when there was none."""
    if not progress_file:
        return False
    folder = os.path.dirname(os.path.abspath(progress_file))
    if (os.path.dirname(folder) != os.path.abspath(tempfile.gettempdir())
            or not os.path.basename(folder).startswith(SPOOL_PREFIX) or not os.path.isdir(folder)):
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return not os.path.exists(folder)
