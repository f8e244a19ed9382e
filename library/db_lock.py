#!/usr/bin/python
"""Ansible module db_lock: one run per database at a time."""

DOCUMENTATION = r"""
module: db_lock
short_description: Hold a database's run lock for the length of a playbook run
description:
  - Takes the database's run lock (PostgreSQL C(pg_try_advisory_lock), MySQL C(GET_LOCK)) so that two runs can never work
    on the same database at once. A second run is refused at once, with the holder named (its run id, session, client and
    start time).
  - Modules are separate processes, and a session lock lives only as long as its connection, so a small background process
    holds the lock. It lets go when O(state=released) stops it, or by itself as soon as the ansible-playbook process it
    serves has ended (interrupted, killed, crashed), so the lock never outlives the run.
  - Should the holder's session die while the run goes on (a server restart, a killed connection), the holder takes the
    lock again as soon as the server answers (for up to 60 s); if another run took it meanwhile, it lets it be.
  - Before it lets go, the holder cancels whatever the run's sessions still run on the server (a module killed by
    SIGKILL leaves its build there otherwise). Once the ansible-playbook process has ended without letting go, it also
    removes that playbook's progress folder under the temporary folder (callback C(safeindex_progress)), which a SIGKILL
    leaves behind.
  - Taking or releasing the lock is bookkeeping, not a change to the database, so the module never reports C(changed).
  - In check mode the module only checks that the lock is free; it does not hold it.
version_added: "0.1.0"
author: safeindex developers (!UNKNOWN)
options:
  state:
    description: V(acquired) takes the lock, V(released) lets it go.
    type: str
    choices: [acquired, released]
    default: acquired
  run_id:
    required: true
  holder_file:
    description: File (0600) where the holder keeps its pid; the same path releases it.
    type: path
    required: true
  owner_pid:
    description:
      - The process whose end releases the lock. Defaults to the outermost C(ansible-playbook) process above the module.
    type: int
  run_dir:
    description:
      - The run's folder. Should the owner end before O(state=released) (Ctrl-C, SIGTERM, kill, crash), the holder appends
        an C(interrupted) event to the run record there and writes the run's report with status V(interrupted), before it
        lets the lock go.
      - A rollback's folder (C(rollback-<mode>-<time>)) gets the rollback's own report instead, saying which indexes it
        had dropped and which not.
    type: path
attributes:
  check_mode:
    support: partial
    details: Checks that the lock is free; does not take it or start its holder.
  diff_mode:
    support: none
extends_documentation_fragment:
  - safeindex_platform
  - ansible.builtin.action_common_attributes
  - safeindex_connection
  - safeindex_run
"""

EXAMPLES = r"""
- name: Take the run lock
  db_lock:
    database_url: "{{ database_url }}"
    run_id: "{{ run_id }}"
    holder_file: "{{ run_dir }}/run-lock.json"

- name: Let the run lock go
  db_lock:
    database_url: "{{ database_url }}"
    run_id: "{{ run_id }}"
    holder_file: "{{ run_dir }}/run-lock.json"
    state: released
"""

RETURN = r"""
holder_pid:
  description: Pid of the process holding the lock.
  returned: when state is acquired, not in check mode
  type: int
  sample: 51234
held_by:
  description: The session holding the lock when this run was refused (application, session, user, client, since).
  returned: on refusal
  type: dict
  sample:
    {
      "application": "safeindex lock run_id=first-run",
      "session": 4321,
      "user": "app_owner",
      "client": "10.0.4.12",
      "since": "2026-12-01T10:15:02Z"
    }
released:
  description: Whether a holder was stopped.
  returned: when state is released
  type: bool
  sample: true
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.core.errors import SafeIndexError
from ansible.module_utils.safeindex.core.module import argument_spec, connect, connected, fail
from ansible.module_utils.safeindex.core.run_options import check_run_options, run_options
from ansible.module_utils.safeindex.run import interruption
from ansible.module_utils.safeindex.run import lock as runlock

ARGUMENT_SPEC = argument_spec(
    state=dict(type="str", choices=["acquired", "released"], default="acquired"),
    holder_file=dict(type="path", required=True),
    owner_pid=dict(type="int"),
    **run_options(required=("run_id",)),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    check_run_options(module)
    try:
        if params["state"] == "released":
            module.exit_json(changed=False, released=runlock.release(params["holder_file"]))
        if module.check_mode:
            with connected(module, "db_lock check", dict(changed=False)) as dialect:
                runlock.probe(dialect)
            module.exit_json(changed=False, msg="the run lock is free")
        owner = params["owner_pid"] or runlock.find_owner_pid()
        pid = runlock.acquire(lambda: connect(module, "lock"), params["run_id"], params["holder_file"], owner,
                              on_owner_gone=interruption.recorder(params["run_dir"], params["run_id"]))
    except SafeIndexError as exc:  # RunLocked among them: the holder is named in its message and details
        fail(module, exc, changed=False)
    module.exit_json(changed=False, holder_pid=pid)


if __name__ == "__main__":
    main()
