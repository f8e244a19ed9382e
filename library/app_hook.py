#!/usr/bin/python
"""Ansible module app_hook: a command or an HTTP call to the application (maintenance mode on and off)."""

DOCUMENTATION = r"""
module: app_hook
short_description: Run one of the application's hooks, a command or an HTTP call
description:
  - Runs a hook given as a command line (split like a shell would, but run without one), a URL, or a mapping with
    C(command), or with C(url), C(method), C(headers), C(body) and C(status). A URL gets C(GET), or C(POST) when it has
    a body.
  - Succeeds when the command exits 0, or the HTTP status is one of C(status) (2xx by default). Otherwise it fails,
    showing the exit code or status and the end of the output.
  - Used around the index phase for the runbook's "put the app in maintenance mode" and back. A hook changes the app,
    so it reports C(changed).
  - In check mode nothing runs; the module says what would.
version_added: "0.1.0"
author: safeindex developers (!UNKNOWN)
options:
  hook:
    description: The hook, a command line, a URL, or a mapping.
    type: raw
    required: true
  timeout:
    description: Seconds the hook may take.
    type: float
    default: 60
  undo_hook:
    description:
      - The hook that undoes this one (V(maintenance_off) for V(maintenance_on)), in the same forms as O(hook). Ansible runs
        no C(always:) after Ctrl-C, so once O(hook) has succeeded a small background process (its pid in O(guard_file))
        runs O(undo_hook) should the ansible-playbook process end (Ctrl-C, kill, crash) before the guard is stopped.
      - The hook is kept in that process's memory only, never in a file.
    type: raw
  guard_file:
    description:
      - File (0600) where the guard of O(undo_hook) keeps its pid. Required with O(undo_hook).
      - Without O(undo_hook), the call that runs the undo itself stops the guard named in this file once its hook has run
        (succeeded or not), so the undo never runs twice.
      - A file in O(run_dir) whose name ends in C(-guard.json) is waited for by the report of an interrupted run, so that
        the report is written after the undo has run.
    type: path
  run_dir:
    description: The run's folder; a guard that ran O(undo_hook) appends a C(hook_after_interruption) event to the run record there.
    type: path
attributes:
  check_mode:
    support: full
    details: Runs neither hook; returns what would run, and starts no guard.
  diff_mode:
    support: none
extends_documentation_fragment:
  - safeindex_platform
  - ansible.builtin.action_common_attributes
  - safeindex_run.run_dir
notes:
  - Supports check mode.
  - The hook's arguments are not logged, since URLs and headers may carry tokens. Messages show a URL without its query.
"""

EXAMPLES = r"""
- name: Put the app in maintenance mode
  app_hook:
    hook: ./bin/maintenance on

- name: Put the app in maintenance mode, and out again should the playbook be interrupted before the next task
  app_hook:
    hook: ./bin/maintenance on
    undo_hook: ./bin/maintenance off
    guard_file: "{{ run_dir }}/maintenance-guard.json"
    run_dir: "{{ run_dir }}"

- name: Take the app out of maintenance mode, and stop the guard
  app_hook:
    hook: ./bin/maintenance off
    guard_file: "{{ run_dir }}/maintenance-guard.json"

- name: Take it out again, through its admin API
  app_hook:
    hook:
      url: https://app.internal/admin/maintenance
      method: DELETE
      headers: {Authorization: "Bearer {{ vault_app_admin_token }}"}
"""

RETURN = r"""
what:
  description: What ran, safe to print (a command, or a method and URL without its query).
  returned: always
  type: str
  sample: "POST https://app.internal/admin/maintenance"
rc:
  description: The command's exit code.
  returned: for a command
  type: int
  sample: 0
status:
  description: The HTTP status.
  returned: for a URL
  type: int
  sample: 200
output:
  description: The end of the command's output or the HTTP response body (500 characters at most).
  returned: always
  type: str
  sample: "maintenance mode on"
guard_pid:
  description: Pid of the guard that runs O(undo_hook) should the playbook end first.
  returned: when O(undo_hook) is given and the hook succeeded, not in check mode
  type: int
  sample: 48121
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.core.run_options import run_options
from ansible.module_utils.safeindex.run import guard, hooks
from ansible.module_utils.safeindex.run import lock as runlock
from ansible.module_utils.safeindex.run.record import RunRecord

ARGUMENT_SPEC = dict(
    hook=dict(type="raw", required=True, no_log=True),
    timeout=dict(type="float", default=60),
    undo_hook=dict(type="raw", no_log=True),
    guard_file=dict(type="path"),
    **run_options("run_dir"),
)


def undo_after_interruption(undo_hook, timeout, run_dir):
    """What the guard does once the playbook is gone: the undo hook, and a line in the run record saying how it went."""
    outcome = hooks.run(undo_hook, timeout)
    if run_dir:
        RunRecord(run_dir).append("hook_after_interruption", what=outcome["what"], ok=outcome["ok"],
                                  rc=outcome.get("rc"), status=outcome.get("status"))


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, required_by={"undo_hook": "guard_file"})
    params = module.params
    try:
        what = hooks.describe(params["hook"])
        if params["undo_hook"] is not None:
            hooks.describe(params["undo_hook"])  # a malformed undo fails now, not after an interruption
        if module.check_mode:
            module.exit_json(changed=True, what=what, output="")
        outcome = hooks.run(params["hook"], params["timeout"])
    except hooks.HookError as exc:
        module.fail_json(msg=str(exc), what="", output="")
    finally:
        if params["guard_file"] and params["undo_hook"] is None and not module.check_mode:
            guard.stop(params["guard_file"])  # this call is the undo: the guard's work is done
    ok = outcome.pop("ok")
    if ok and params["undo_hook"] is not None:
        outcome["guard_pid"] = guard.start(
            params["guard_file"], runlock.find_owner_pid(),
            lambda: undo_after_interruption(params["undo_hook"], params["timeout"], params["run_dir"]))
    if not ok:
        code = "exit %s" % outcome["rc"] if "rc" in outcome else "HTTP %s" % outcome["status"]
        module.fail_json(msg="%s failed (%s): %s" % (outcome["what"], code, outcome["output"]), changed=True, **outcome)
    module.exit_json(changed=True, **outcome)


if __name__ == "__main__":
    main()
