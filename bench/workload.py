"""The sample app's steady traffic for bench/production_impact.py: writer and reader threads, each write timed.

    with Workload(db, WorkloadShape(writers=4, readers=2)) as load:
        ...                      # DDL, a playbook run: whatever the phase measures
    samples = load.samples       # after the block: every write and read, timed from the phase start

Each client thread has its own connection (psycopg2 and PyMySQL release the GIL while they wait for the server)
and keeps a fixed pace: one operation every 1/rate seconds. A client that falls behind does not catch up in a
burst, so the operations a stall cost are lost from the throughput, and throughput stays flat while the server keeps
up, whatever the CPU contention does to each operation's latency.
"""

import random
import threading
import time
from dataclasses import dataclass, field

# The `model` column marks the workload's messages, so they can be counted apart from the sample data.
WORKLOAD_MARKER = "safeindex-bench-workload"
# Spread over the newest conversations, as real traffic is: ids follow time, so messages appended to the newest
# conversations keep message.conversation_id in step with the table's physical order, as the sample data has it.
# (Random old conversations would scatter it, and on a small table turn the planner from the spec's probe index to
# another one: verification would fail for a reason production does not have.)
ACTIVE_CONVERSATIONS = 2000
ACTIVE_SHARE_MAX = 0.1  # of a small sample database's conversations
READ_PAGE_ROWS = 20
JOIN_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class WorkloadShape:
    writers: int = 4
    readers: int = 2
    writes_per_second: float = 50.0  # per writer thread
    reads_per_second: float = 50.0  # per reader thread


@dataclass
class Samples:
    """(start, latency) in seconds from the phase start, per kind; errors counted."""

    writes: list = field(default_factory=list)
    reads: list = field(default_factory=list)
    errors: int = 0
    last_error: str = None


def write_statements(engine):
    """The app posting a message: the message row and its conversation's updated_at, in one transaction."""
    timestamp = '"timestamp"' if engine == "postgresql" else "`timestamp`"
    insert = (f"INSERT INTO message (conversation_id, role, content, {timestamp}, token_count, model)"
              f" VALUES (%s, 'user', 'benchmark workload message', CURRENT_TIMESTAMP, 4, '{WORKLOAD_MARKER}')")
    update = "UPDATE conversation SET updated_at = CURRENT_TIMESTAMP WHERE id = %s"
    return insert, update


def read_statement(engine):
    """A page of messages by primary key range.

    Only the primary key, on purpose: the baseline runs before the spec's indexes exist, so a read that needs one
    of them would be a full scan in the baseline and an index lookup once built, and the phases would not compare.
    """
    timestamp = '"timestamp"' if engine == "postgresql" else "`timestamp`"
    return f"SELECT id, conversation_id, role, content, {timestamp} FROM message WHERE id BETWEEN %s AND %s"


def table_bounds(db):
    """((lowest, highest) conversation id to write to, highest message id to read from) of the database."""
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT max(id) FROM conversation")
            conversations = cur.fetchone()[0]
            cur.execute("SELECT max(id) FROM message")
            messages = cur.fetchone()[0]
    finally:
        conn.close()
    # Never conversation 1: the spec's probes read it.
    active = max(1, min(ACTIVE_CONVERSATIONS, int(conversations * ACTIVE_SHARE_MAX)))
    return (max(2, conversations - active + 1), conversations), messages


def count_workload_rows(db):
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM message WHERE model = %s", (WORKLOAD_MARKER,))
            return cur.fetchone()[0]
    finally:
        conn.close()


class Workload:
    """Client threads running from __enter__ to __exit__; `samples` and `seconds` are the phase's record."""

    def __init__(self, db, shape, seed=1):
        self.db = db
        self.shape = shape
        self.seed = seed
        self.samples = Samples()
        self.seconds = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads = []
        self._started = None
        self._bounds = table_bounds(db)

    def elapsed(self):
        """Seconds since the phase started (the time axis of every sample)."""
        return time.monotonic() - self._started

    def __enter__(self):
        clients = [(self._write_once, self.shape.writes_per_second)] * self.shape.writers
        clients += [(self._read_once, self.shape.reads_per_second)] * self.shape.readers
        # The phase starts once every client is connected: connecting is not part of the traffic measured.
        self._ready = threading.Barrier(len(clients) + 1, action=self._start_clock, timeout=JOIN_TIMEOUT_SECONDS)
        for number, (operation, rate) in enumerate(clients):
            thread = threading.Thread(target=self._client, args=(operation, rate, number), daemon=True,
                                      name="workload-%d" % number)
            thread.start()
            self._threads.append(thread)
        self._ready.wait()
        return self

    def _start_clock(self):
        self._started = time.monotonic()

    def __exit__(self, *_exc):
        self.stop()
        return False

    def stop(self):
        if self.seconds is not None:
            return
        self.seconds = self.elapsed()
        self._stopping.set()
        for thread in self._threads:
            thread.join(JOIN_TIMEOUT_SECONDS)

    def _client(self, operation, rate, number):
        rng = random.Random(self.seed * 1000 + number)
        interval = 1.0 / rate
        try:
            conn = self.db.connect(autocommit=False)
        except Exception:
            self._ready.abort()  # the phase cannot start: __enter__ raises instead of waiting for the timeout
            raise
        self._ready.wait()
        # Clients start spread over one interval, not all on the same tick.
        due = time.monotonic() + rng.random() * interval
        while not self._stopping.is_set():
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            elif pause < -interval:
                due = time.monotonic()  # behind: the missed operations are lost, not replayed in a burst
            due += interval
            try:
                conn = conn or self.db.connect(autocommit=False)
                started = self.elapsed()
                kind = operation(conn, rng)
            except Exception as error:  # noqa: BLE001 (an error counts, and the client goes on with a new connection)
                self._record_error(error)
                conn = discard(conn)
                continue
            self._record(kind, started, self.elapsed() - started)
        discard(conn)

    def _write_once(self, conn, rng):
        insert, update = write_statements(self.db.engine)
        conversation = rng.randint(*self._bounds[0])
        with conn.cursor() as cur:
            cur.execute(insert, (conversation,))
            cur.execute(update, (conversation,))
        conn.commit()
        return "writes"

    def _read_once(self, conn, rng):
        first = rng.randint(1, max(1, self._bounds[1] - READ_PAGE_ROWS))
        with conn.cursor() as cur:
            cur.execute(read_statement(self.db.engine), (first, first + READ_PAGE_ROWS - 1))
            cur.fetchall()
        conn.commit()  # ends the read's transaction: an open snapshot would hold back concurrent index builds
        return "reads"

    def _record(self, kind, started, latency):
        with self._lock:
            getattr(self.samples, kind).append((started, latency))

    def _record_error(self, error):
        with self._lock:
            self.samples.errors += 1
            self.samples.last_error = str(error).strip()[:200]


def discard(conn):
    """Close a connection that may be broken already; None, to forget it."""
    if conn is not None:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 (already broken)
            pass
    return None


def add_workload_arguments(parser) -> None:
    """The options of the workload's shape and of the database's size, shared by the benchmarks that run it."""
    parser.add_argument("--messages", type=int, default=2_000_000, help="size of the sample database (message rows)")
    parser.add_argument("--engine", choices=["postgresql", "mysql", "both"], default="both")
    parser.add_argument("--writers", type=int, default=4, help="writer threads, each with its own connection")
    parser.add_argument("--readers", type=int, default=2, help="reader threads, each with its own connection")
    parser.add_argument("--write-rate", type=float, default=50.0, help="writes per second of each writer thread")
    parser.add_argument("--read-rate", type=float, default=50.0, help="reads per second of each reader thread")
