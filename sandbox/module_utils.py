"""The project's module_utils as Ansible serves them to modules (ansible.module_utils.safeindex), for the sandbox.

The sandbox asks the engines what modules ask them (which PostgreSQL builds are installed) and runs its servers with
the code the restore check's scratch server runs, instead of knowing it twice; importing this module makes
`ansible.module_utils.safeindex` importable from a checkout.
"""

from pathlib import Path

import ansible.module_utils

MODULE_UTILS = str(Path(__file__).resolve().parent.parent / "module_utils")
if MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(MODULE_UTILS)

# noqa: E402 - these need the path above
from ansible.module_utils.safeindex.backup import scratch_server  # noqa: E402
from ansible.module_utils.safeindex.core import processes  # noqa: E402
from ansible.module_utils.safeindex.engines.mysql import scratch as mariadb_scratch  # noqa: E402
from ansible.module_utils.safeindex.engines.postgresql import builds as pg_builds  # noqa: E402
from ansible.module_utils.safeindex.engines.postgresql import scratch as pg_scratch  # noqa: E402

__all__ = ["mariadb_scratch", "pg_builds", "pg_scratch", "processes", "scratch_server"]
