"""The project's module_utils as Ansible serves them to modules (ansible.module_utils.safeindex), for the sandbox.

The sandbox asks the engines what modules ask them (which PostgreSQL builds are installed) instead of knowing it
twice; importing this module makes `ansible.module_utils.safeindex` importable from a checkout.
"""

from pathlib import Path

import ansible.module_utils

MODULE_UTILS = str(Path(__file__).resolve().parent.parent / "module_utils")
if MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(MODULE_UTILS)

from ansible.module_utils.safeindex.engines.postgresql import builds as pg_builds  # noqa: E402 - needs the path above

__all__ = ["pg_builds"]
