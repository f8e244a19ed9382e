"""run/lock.py: the holder, forked from the module's process, never closes a socket of that process by collecting it."""

import json
import subprocess
import sys

from tests.conftest import REPO

# In a fresh Python: a socket left in an unreachable cycle (as a failed connection's traceback leaves one) holds the
# lowest free descriptor, 3. The holder closes every inherited descriptor and opens its session, which gets 3 again;
# the fake session then lets the collector run, as Python does whenever it likes. Collected, the old socket object
# would close descriptor 3: the holder's session, and the run lock with it.
PROBE = """
import gc, json, os, socket, sys, tempfile
import ansible.module_utils
ansible.module_utils.__path__.append(sys.argv[1])
from ansible.module_utils.safeindex.run import lock

gc.disable()
def leave_garbage():
    stray = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cycle = [stray]
    cycle.append(cycle)
    return stray.fileno()
stray_fd = leave_garbage()

class Session:
    idle_interruptible = False
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
    def try_run_lock(self):
        gc.collect()
        self.sock.getsockname()  # EBADF once the stray socket's collection closed our descriptor
        if self.sock.fileno() != stray_fd:
            raise RuntimeError("the session got descriptor %d, not %d: the probe tests nothing" % (self.sock.fileno(), stray_fd))
        return True
    def idle(self, seconds):
        import time
        time.sleep(seconds)
    def ping(self):
        self.sock.getsockname()
    def cancel_run_statements(self, run_id):
        pass
    def release_run_lock(self):
        return True
    def close(self):
        self.sock.close()

holder_file = os.path.join(tempfile.mkdtemp(), "run-lock.json")
try:
    pid = lock.acquire(Session, "run-1", holder_file, os.getpid(), wait_seconds=20)
    outcome = {"held_by": pid}
except Exception as exc:
    outcome = {"error": str(exc)}
lock.release(holder_file)
print(json.dumps(outcome))
"""


def test_the_holders_session_survives_a_collection_of_what_it_inherited():
    completed = subprocess.run([sys.executable, "-c", PROBE, str(REPO / "module_utils")], capture_output=True, text=True,
                               timeout=60, check=True)
    outcome = json.loads(completed.stdout)
    assert "held_by" in outcome, outcome
