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
author: safeindex developers
options:
  hook:
    description: The hook, a command line, a URL, or a mapping.
    type: raw
    required: true
  timeout:
    description: Seconds the hook may take.
    type: float
    default: 60
notes:
  - Supports check mode.
  - The hook's arguments are not logged, since URLs and headers may carry tokens. Messages show a URL without its query.
"""

EXAMPLES = r"""
- name: Put the app in maintenance mode
  app_hook:
    hook: ./bin/maintenance on

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
rc:
  description: The command's exit code.
  returned: for a command
  type: int
status:
  description: The HTTP status.
  returned: for a URL
  type: int
output:
  description: The end of the command's output or the HTTP response body (500 characters at most).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex import hooks

ARGUMENT_SPEC = dict(
    hook=dict(type="raw", required=True, no_log=True),
    timeout=dict(type="float", default=60),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        what = hooks.describe(module.params["hook"])
        if module.check_mode:
            module.exit_json(changed=True, what=what, output="")
        outcome = hooks.run(module.params["hook"], module.params["timeout"])
    except hooks.HookError as exc:
        module.fail_json(msg=str(exc), what="", output="")
    ok = outcome.pop("ok")
    if not ok:
        code = "exit %s" % outcome["rc"] if "rc" in outcome else "HTTP %s" % outcome["status"]
        module.fail_json(msg="%s failed (%s): %s" % (outcome["what"], code, outcome["output"]), changed=True, **outcome)
    module.exit_json(changed=True, **outcome)


if __name__ == "__main__":
    main()
