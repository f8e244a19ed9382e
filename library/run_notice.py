#!/usr/bin/python
"""Ansible module run_notice: the runbook's before and after notices, written and posted to the team's webhook."""

DOCUMENTATION = r"""
module: run_notice
short_description: Write the runbook's before or after notice and post it to a Slack-compatible webhook
description:
  - Fills in the runbook's Communication Template with the run's real values and writes it, 0600, to
    C(<run_dir>/notice_before.txt) or C(<run_dir>/notice_after.txt).
  - V(before) tells when the work starts (with the time zone), on which database, how many indexes will be built, the
    expected duration for this plan and the expected impact.
  - V(after) is read from the run's C(report.json) (write it first with M(run_record)); it says how the run ended and
    when, the indexes added, the speed-up the probes measured, and the issues. The report is then updated with the
    notice, so its checklist item C(Update team that migration is complete) is ticked on evidence.
  - With O(webhook_url), the notice is posted as C({"text" ...}) JSON. A webhook that fails is a warning (and one in
    the report), never a failure of the run. The URL is a credential and is never printed or written.
  - The notices are the run's bookkeeping, not a change to the database, so the module never reports C(changed).
  - In check mode nothing is written or posted; V(before) still returns the notice it would send.
version_added: "0.1.0"
author: safeindex developers (!UNKNOWN)
options:
  run_dir:
    required: true
  run_id:
    required: true
  kind:
    description: Which notice.
    type: str
    choices: [before, after]
    required: true
  host:
    description: The inventory host the run is for.
    type: str
  engine:
    description: The database engine (names the online build in the before notice).
    type: str
  database:
    description: Which database, as people read it (for example C(postgresql://app@db.example:5432/app)); never the password.
      For V(after), the one the run report names (where M(db_preflight) connected) when unset.
    type: str
  pending:
    description: Names of the indexes the run will build (the plan's C(pending)), for V(before).
    type: list
    elements: str
    default: []
  total_indexes:
    description: How many indexes the spec has, for V(before).
    type: int
    default: 0
  monitor_duration_seconds:
    description: How long the monitor phase watches the app, for the expected duration of V(before).
    type: int
    default: 1800
  blocking:
    description: Whether the run may build with a blocking statement (the expected impact is then not none).
    type: bool
    default: false
  maintenance_mode:
    description: Whether the app goes into maintenance mode while the indexes build.
    type: bool
    default: false
  timezone:
    description: The team's time zone for the times in the notices (an IANA name); the controller's when unset.
    type: str
  webhook_url:
    description: A Slack-compatible incoming webhook to post the notice to. A credential; the option is C(no_log), so Ansible
      keeps it out of every output without a task-level C(no_log) (which would also hide the notice and its warnings).
    type: str
  webhook_timeout:
    description: Seconds to wait for the webhook.
    type: int
    default: 10
attributes:
  check_mode:
    support: full
    details: Writes and posts nothing; returns the before notice's text (the after notice needs a report).
  diff_mode:
    support: none
extends_documentation_fragment:
  - safeindex_platform
  - ansible.builtin.action_common_attributes
  - safeindex_run
"""

EXAMPLES = r"""
- name: Tell the team the work starts
  run_notice:
    run_dir: "{{ run_dir }}"
    run_id: "{{ run_id }}"
    kind: before
    host: "{{ inventory_hostname }}"
    engine: "{{ db_engine }}"
    pending: "{{ preflight_spec.pending }}"
    total_indexes: "{{ preflight_spec.names | length }}"
    webhook_url: "{{ notify_webhook_url | default(omit) }}"
  register: notice

- name: Tell the team how it went (after run_record event=finish)
  run_notice:
    run_dir: "{{ run_dir }}"
    run_id: "{{ run_id }}"
    kind: after
    timezone: Europe/Berlin
    webhook_url: "{{ notify_webhook_url | default(omit) }}"
"""

RETURN = r"""
text:
  description: The notice (null for V(after) in check mode, where no report exists).
  returned: always
  type: str
  sample: "Starting index migration on prod_db (run first-run): 20 indexes, online builds, backup verified."
path:
  description: Where the notice was written (null in check mode).
  returned: always
  type: str
  sample: "/srv/safeindex/artifacts/prod_db/first-run/notice-before.txt"
webhook:
  description: What became of the post. C(configured), C(posted) (null when not configured), C(status), C(detail).
  returned: always
  type: dict
  sample: {"configured": true, "posted": true, "status": 200, "detail": "the webhook answered 200"}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.core.run_options import check_run_options, run_options
from ansible.module_utils.safeindex.report import deliver, notices

ARGUMENT_SPEC = dict(
    **run_options(required=("run_id", "run_dir")),
    kind=dict(type="str", choices=["before", "after"], required=True),
    host=dict(type="str"),
    engine=dict(type="str"),
    database=dict(type="str"),
    pending=dict(type="list", elements="str", default=[]),
    total_indexes=dict(type="int", default=0),
    monitor_duration_seconds=dict(type="int", default=1800),
    blocking=dict(type="bool", default=False),
    maintenance_mode=dict(type="bool", default=False),
    timezone=dict(type="str"),
    webhook_url=dict(type="str", no_log=True),
    webhook_timeout=dict(type="int", default=10),
)


def render(module):
    params = module.params
    if params["kind"] == "before":
        return notices.render_before(
            host=params["host"], run_id=params["run_id"], engine=params["engine"], pending=params["pending"],
            total=params["total_indexes"], monitor_seconds=params["monitor_duration_seconds"],
            starts_at=notices.local_time(params["timezone"]), database=params["database"], blocking=params["blocking"],
            maintenance_mode=params["maintenance_mode"])
    return deliver.render_after(params["run_dir"], params["timezone"], params["database"])


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    check_run_options(module)
    params = module.params
    kind = params["kind"]
    if module.check_mode and kind == "after":
        module.exit_json(changed=False, text=None, path=None, webhook=deliver.NOT_POSTED)
    try:
        text = render(module)
    except (notices.NoticeError, OSError, ValueError) as exc:
        module.fail_json(msg="could not write the %s notice: %s" % (kind, exc))
    if module.check_mode:
        module.exit_json(changed=False, text=text, path=None, webhook=deliver.NOT_POSTED)
    delivered = deliver.deliver(params["run_dir"], params["run_id"], kind, text, params["webhook_url"], params["webhook_timeout"])
    warning = deliver.missed_webhook(kind, delivered)
    if warning:
        module.warn(warning)
    module.exit_json(changed=False, text=text, **delivered)


if __name__ == "__main__":
    main()
