#!/usr/bin/python
"""Ansible module db_preflight: the runbook's checks that need SQL, before any change."""

DOCUMENTATION = r"""
module: db_preflight
short_description: Check a database is fit for an online index migration
description:
  - Connects and reports the server version, and refuses a server older than O(min_server_version).
  - Returns a table of checks (check, result, detail); fails, with one line per failed check, when any check fails.
  - Read-only; supports check mode.
version_added: "0.1.0"
author: safeindex developers
options:
  min_server_version:
    description:
      - Oldest server version accepted, as V(major.minor). Defaults to the oldest the online build supports,
        V(12.0) for PostgreSQL (C(pg_stat_progress_create_index)) and V(5.6) for MySQL (online DDL).
    type: str
extends_documentation_fragment:
  - safeindex_connection
"""

EXAMPLES = r"""
- name: Preflight checks
  db_preflight:
    database_url: "{{ database_url }}"
  register: preflight
"""

RETURN = r"""
engine:
  description: The database engine.
  returned: always
  type: str
server_version:
  description: The server's version string.
  returned: when connected
  type: str
  sample: 15.18 (Debian 15.18-0+deb12u1)
checks:
  description: One entry per check, with C(check), C(result) (V(ok), V(warn), V(fail)) and C(detail).
  returned: always
  type: list
  elements: dict
failed_checks:
  description: The checks that failed, one line each.
  returned: always
  type: list
  elements: str
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.connection import connection_params
from ansible.module_utils.safeindex.errors import SafeIndexError
from ansible.module_utils.safeindex.module_support import argument_spec, connect

ARGUMENT_SPEC = argument_spec(
    min_server_version=dict(type="str"),
)
DEFAULT_MIN_VERSION = {"postgresql": "12.0", "mysql": "5.6"}


def version_tuple(text):
    numbers = re.findall(r"\d+", text or "")
    return tuple(int(n) for n in numbers[:2]) if numbers else ()


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    checks = []
    engine, version = None, None
    try:
        params = connection_params(module.params)
        engine = params.engine
        dialect = connect(module, "db_preflight")
        try:
            version = dialect.server_version()
        finally:
            dialect.close()
        checks.append(dict(check="connectivity", result="ok", detail="connected to %s" % params.describe()))
        minimum = module.params["min_server_version"] or DEFAULT_MIN_VERSION[engine]
        if version_tuple(version) >= version_tuple(minimum):
            checks.append(dict(check="server version", result="ok", detail=version))
        else:
            checks.append(dict(check="server version", result="fail", detail="%s is older than %s" % (version, minimum)))
    except SafeIndexError as exc:
        checks.append(dict(check="connectivity", result="fail", detail=str(exc)))
    failed = ["%s: %s" % (c["check"], c["detail"]) for c in checks if c["result"] == "fail"]
    result = dict(changed=False, engine=engine, server_version=version, checks=checks, failed_checks=failed)
    if failed:
        module.fail_json(msg="preflight refused the run:\n" + "\n".join(failed), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
