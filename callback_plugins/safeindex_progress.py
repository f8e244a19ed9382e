"""Callback plugin safeindex_progress: the progress of long index builds and dumps, printed while their task runs."""

DOCUMENTATION = r"""
name: safeindex_progress
type: aggregate
short_description: Prints the progress of long index builds, dumps and restores while their task runs
description:
  - An Ansible module's output appears only when its task ends; an index build or a dump can take many minutes.
    The safeindex modules (C(db_index), C(db_backup)) append progress lines to a file while a statement or client tool
    runs; this plugin tails that file and prints the new lines beside the usual output.
  - 'For example C([sandbox_postgres] idx_message_timestamp: building index: scanning table, 42% of blocks), followed by
    the seconds the work has run.'
  - C(db_index) with a list of indexes also prints a line as each build starts and as each index ends, as it happens
    (the lines written in the task's last second come right after its result).
  - Work that ends within a few seconds prints nothing; the first line comes after about 3 seconds, then one about
    every 5 seconds (at once when the work moves on to the next index). A watcher's own error shows with C(-v).
  - For each task it sets C(SAFEINDEX_PROGRESS_FILE) to a file of its own in a private temporary folder, just before
    Ansible forks the task's worker, so the module (run on the controller, C(ansible_connection=local)) inherits it.
    The folder is removed when the playbook ends, also when it ends on SIGTERM or SIGHUP (a CI runner or AWX cancelling
    the job); should ansible-playbook be killed outright (SIGKILL), the run lock's holder removes it (M(db_lock)).
  - It adds to the stdout callback, never replaces it. Enable it with C(callbacks_enabled = safeindex_progress) and
    C(callback_plugins = callback_plugins) in ansible.cfg (as this project does), or, where ansible.cfg is not read
    (molecule), with C(ANSIBLE_CALLBACKS_ENABLED=safeindex_progress) and C(ANSIBLE_CALLBACK_PLUGINS=<repo>/callback_plugins).
requirements:
  - enabled in callbacks_enabled
"""

import atexit
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time

from ansible.plugins.callback import CallbackBase

PROGRESS_FILE_ENV = "SAFEINDEX_PROGRESS_FILE"  # the modules' default for their progress_file option (progress.py)
FIRST_AFTER_SECONDS = 3.0
EVERY_SECONDS = 5.0
POLL_SECONDS = 1.0
# Signals that end ansible-playbook without its atexit handlers: the spool is removed first, then the signal goes on.
ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class ProgressTail:
    """One task on one host: reads the lines its module appends and decides which of them to print."""

    def __init__(self, host, path, first_after=FIRST_AFTER_SECONDS, every=EVERY_SECONDS):
        self.host, self.path = host, path
        self.first_after, self.every = first_after, every
        self.offset = 0
        self.rest = b""  # a line the module has not finished writing
        self.shown_subject = None
        self.shown_at = None

    def read(self):
        """The complete lines appended since the last read, parsed; an unreadable line is skipped."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return []  # not written yet: the work has not run long enough
        self.offset += len(data)
        lines = (self.rest + data).split(b"\n")
        self.rest = lines.pop()
        records = []
        for line in lines:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return records

    def due(self, records, now):
        """[(verbosity, text)] to print now: every announcement (an index of a batch starts or ends) as it comes; of the
        samples since the last one, the latest, once the work has run a while, at most every few seconds."""
        shown = [(1, self.format(r, r["error"])) if r.get("error") else (0, self.announced(r))
                 for r in records if r.get("error") or r.get("announce")]
        announced = [n for n, r in enumerate(records) if r.get("announce")]
        if announced:
            records = records[announced[-1] + 1:]  # a sample written before an announcement is stale
            self.shown_subject, self.shown_at = None, None
        latest = next((r for r in reversed(records) if not r.get("error")), None)
        if latest is None or latest.get("elapsed", 0) < self.first_after:
            return shown
        moved_on = latest.get("subject") != self.shown_subject
        if moved_on or self.shown_at is None or now - self.shown_at >= self.every:
            self.shown_subject, self.shown_at = latest.get("subject"), now
            shown.append((0, self.format(latest, latest.get("text") or "running")))
        return shown

    def poll(self, now):
        return self.due(self.read(), now)

    def flush(self):
        """Once the task has ended: the announcements (and errors) it wrote after the last poll; its samples are stale."""
        return [(1, self.format(r, r["error"])) if r.get("error") else (0, self.announced(r))
                for r in self.read() if r.get("error") or r.get("announce")]

    def announced(self, record):
        return "  [%s] %s: %s" % (self.host, record.get("subject") or "?", record.get("text") or "")

    def format(self, record, text):
        return "  [%s] %s: %s (%ds)" % (self.host, record.get("subject") or "?", text, int(record.get("elapsed") or 0))


def remove_on_signals(folder, signals=ENDING_SIGNALS):
    """Remove `folder` when one of `signals` ends the process, then let the signal do what it did before: ansible-playbook
    forwards SIGTERM to its workers and ends by it (atexit handlers do not run then). Only the main thread may install a
    handler; elsewhere the folder is left to atexit and the run lock's holder."""
    for signum in signals:
        try:
            previous = signal.getsignal(signum)
            signal.signal(signum, _remover(folder, previous))
        except (ValueError, OSError):
            return


def _remover(folder, previous):
    def handler(signum, frame):
        shutil.rmtree(folder, ignore_errors=True)
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
    return handler


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "safeindex_progress"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display)
        self._spool = None
        self._tails = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = None

    def _spool_dir(self):
        if self._spool is None:
            self._spool = tempfile.mkdtemp(prefix="safeindex-progress-")  # 0700
            atexit.register(shutil.rmtree, self._spool, True)
            remove_on_signals(self._spool)
        return self._spool

    # Called in ansible-playbook's main process right before the task's worker is forked (strategy _queue_task),
    # so the environment set here is the worker's, and the module's.
    def v2_runner_on_start(self, host, task):
        name = host.get_name()
        path = os.path.join(self._spool_dir(), "%s-%s.jsonl" % (re.sub(r"[^A-Za-z0-9_.-]", "_", name), task._uuid))
        os.environ[PROGRESS_FILE_ENV] = path
        with self._lock:
            self._tails[(name, task._uuid)] = ProgressTail(name, path)
        if self._thread is None:
            self._thread = threading.Thread(target=self._print_progress, name="safeindex progress", daemon=True)
            self._thread.start()

    def _print_progress(self):
        while not self._stopped.wait(POLL_SECONDS):
            with self._lock:
                for tail in list(self._tails.values()):
                    self._show(lambda tail=tail: tail.poll(time.monotonic()))

    def _show(self, lines):
        """Display the (verbosity, text) lines `lines()` returns; a progress line must never disturb the run."""
        try:
            for verbosity, text in lines():
                if verbosity:
                    self._display.v(text)
                else:
                    self._display.display(text)
        except Exception as exc:
            self._display.vvv("safeindex_progress: %s" % exc)

    def _task_ended(self, result):
        host = getattr(result, "host", None) or result._host
        task = getattr(result, "task", None) or result._task
        with self._lock:
            tail = self._tails.pop((host.get_name(), task._uuid), None)
        if tail is not None:
            self._show(tail.flush)
            try:
                os.unlink(tail.path)
            except OSError:
                pass

    def v2_runner_on_ok(self, result):
        self._task_ended(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._task_ended(result)

    def v2_runner_on_skipped(self, result):
        self._task_ended(result)

    def v2_runner_on_unreachable(self, result):
        self._task_ended(result)

    def v2_playbook_on_stats(self, stats):
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(POLL_SECONDS * 5)
        if self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)
        os.environ.pop(PROGRESS_FILE_ENV, None)
