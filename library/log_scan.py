#!/usr/bin/python
"""Ansible module log_scan: mark where the app's error logs end, and later read only what was added."""

DOCUMENTATION = r"""
module: log_scan
short_description: Find the error lines an application log gained since a mark
description:
  - O(state=mark) records where each log of O(paths) ends now (its inode and size) and returns it in RV(marks).
    A log that does not exist yet is marked as empty.
  - O(state=scan) reads each log from its mark in O(marks) to its end and returns the lines that match any of
    O(patterns). Lines written before the mark are never reported.
  - A log rotated since the mark (another inode) is read from its start, and the rest of the old file, found beside
    it by its inode (for example C(error.log.1)), from the mark on. A log truncated in place is read from its start.
  - At most O(max_lines) lines of each log are returned; the C(count) of each entry in RV(logs) counts them all.
  - Runs on the host that writes the log (delegate_to the app host). Reads only; never changed; supports check mode.
version_added: "0.1.0"
author: safeindex developers (!UNKNOWN)
options:
  state:
    description: V(mark) records where the logs end; V(scan) reads what was added since.
    type: str
    choices: [mark, scan]
    default: scan
  paths:
    description: The log files.
    type: list
    elements: path
    required: true
  marks:
    description: What O(state=mark) returned in RV(marks) (C(path), C(exists), C(inode), C(size), C(head) each). A log without a
      mark is read from its start.
    type: list
    elements: dict
    default: []
  patterns:
    description: Regular expressions (Python C(re), searched anywhere in the line); a line matching any of them is an
      error line.
    type: list
    elements: str
    default: ['\b(ERROR|CRITICAL|FATAL)\b|Traceback']
  max_lines:
    description: Most error lines returned per log (each cut to 500 characters).
    type: int
    default: 50
attributes:
  check_mode:
    support: full
    details: Reads only, so check mode runs it as usual.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
    details: Runs on the host that writes the log.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Mark where the error log ends before the migration
  log_scan:
    state: mark
    paths: [/var/log/app/error.log]
  delegate_to: app1
  register: marked

- name: The error lines written since
  log_scan:
    paths: [/var/log/app/error.log]
    marks: "{{ marked.marks }}"
    patterns: ['\bERROR\b', 'Traceback']
    max_lines: 20
  delegate_to: app1
  register: scanned
"""

RETURN = r"""
marks:
  description: Where each log ended (C(path), C(exists), C(inode), C(size), and C(head), a sha256 of its first bytes).
  returned: when state is mark
  type: list
  elements: dict
  sample: [{path: /var/log/app/error.log, exists: true, inode: 1835011, size: 52311, head: 9f86d081884c7d65}]
logs:
  description: Per log, C(path), C(new_error_lines) (at most O(max_lines)), C(count) (all of them), C(bytes_read)
    and C(detail) (rotated, truncated, created, not there, or could not be read).
  returned: when state is scan
  type: list
  elements: dict
  sample:
    [
      {
        "path": "/var/log/app/error.log",
        "new_error_lines": [
          "2026-12-01 10:20:11 ERROR timeout on /api/messages"
        ],
        "count": 1,
        "bytes_read": 20480,
        "detail": "rotated"
      }
    ]
new_error_count:
  description: The new error lines of all logs together.
  returned: when state is scan
  type: int
  sample: 1
unreadable:
  description: Logs that could not be read, each with the reason; their lines are unknown, not absent.
  returned: when state is scan
  type: list
  elements: str
  sample: ["/var/log/app/worker.log: permission denied"]
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.monitor import logscan

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["mark", "scan"], default="scan"),
    paths=dict(type="list", elements="path", required=True),
    marks=dict(type="list", elements="dict", default=[]),
    patterns=dict(type="list", elements="str", default=[r"\b(ERROR|CRITICAL|FATAL)\b|Traceback"]),
    max_lines=dict(type="int", default=50),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    if params["state"] == "mark":
        module.exit_json(changed=False, marks=[logscan.mark(path) for path in params["paths"]])
    try:
        patterns = logscan.compile_patterns(params["patterns"])
    except re.error as exc:
        module.fail_json(msg="patterns: not a regular expression: %s" % exc)
    marks = {m.get("path"): m for m in params["marks"]}
    logs, unreadable = [], []
    for path in params["paths"]:
        try:
            logs.append(logscan.scan(path, marks.get(path), patterns, params["max_lines"]))
        except OSError as exc:
            reason = "%s: could not be read (%s)" % (path, exc.strerror or exc)
            unreadable.append(reason)
            module.warn(reason)
            logs.append({"path": path, "new_error_lines": [], "count": 0, "bytes_read": 0, "detail": reason})
    module.exit_json(changed=False, logs=logs, new_error_count=sum(log["count"] for log in logs), unreadable=unreadable)


if __name__ == "__main__":
    main()
