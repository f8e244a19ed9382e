#!/usr/bin/python
"""Ansible module run_record: the run's record, its report and the runbook's summary."""

DOCUMENTATION = r"""
module: run_record
short_description: Keep a run's record and write its report
description:
  - Every run keeps an append-only record in C(<run_dir>/record.jsonl) (0600, in a 0700 folder) of when it started, each
    phase's start and end, and what each module changed, written as it happens.
  - Each phase's module appends its result to the record as it finishes (M(db_preflight), M(db_backup),
    M(rds_snapshot), M(db_index), M(db_verify)); O(event=monitor) judges and records what monitoring
    found.
  - O(event=finish) builds the report from the record alone (the same function writes the report of an interrupted run),
    writes C(report.json), C(report.md) and a self-contained C(report.html) beside it (0600) and returns
    the runbook's summary lines (created, already existed, errors, C(Total indexes in place N/N)) and, when verification
    ran, each probe's time before and after and its speed-up.
  - The report holds the phases against the runbook's Expected Timeline and its Post-Migration Checklist, each item
    ticked from the evidence (or marked not checked).
  - The record is bookkeeping on the controller, not a change to the database, so the module never reports C(changed).
  - In check mode nothing is written, so there is no record; O(event=finish) returns the summary of the plan from
    O(expected_indexes) and O(index_results).
  - O(event=smoke) judges one round of smoke checks (the answers of M(ansible.builtin.uri)) and returns the verdicts.
    O(event=monitor) judges the rounds' answers itself (C(details.start_answers), C(details.end_answers)), so a
    migration run needs no O(event=smoke) call; it then records the end of the run's C(monitor) phase.
  - After O(event=finish) wrote the report, O(after_notice) writes the runbook's after notice and posts it, as
    M(run_notice) C(kind=after) does, and O(holder_file) lets the run lock go, as M(db_lock) C(state=released) does;
    in that order, in one process. The lock is let go also when the report or the notice could not be written (the
    module then fails, saying why).
  - The run id must be 1-64 letters, digits, C(.), C(_) or C(-), starting with a letter or digit; the module fails otherwise.
version_added: "0.1.0"
author: safeindex developers (!UNKNOWN)
options:
  run_dir:
    required: true
  run_id:
    required: true
  event:
    description: What to record.
    type: str
    choices: [start, phase_start, phase_end, smoke, monitor, finish]
    required: true
  phase:
    description: The phase, for V(phase_start) and V(phase_end); the round (V(start) or V(end) of the window) for V(smoke).
    type: str
  host:
    description: The inventory host the run is for.
    type: str
  engine:
    description: The database engine.
    type: str
  status:
    description: How the run ended, for V(finish).
    type: str
    choices: [success, failed, refused, interrupted]
    default: success
  error:
    description: Why the run failed, for V(finish).
    type: str
  module_rc:
    description:
      - For V(finish) of a failed run, the exit status of the failed task's module (C(ansible_failed_result.rc)). A module
        that printed no result and exited by a signal was killed (SIGKILL, the OOM killer) while the playbook went on; the
        record then gets an C(interrupted) event naming the phase, the index and the signal, and the report says
        V(interrupted).
    type: int
  expected_indexes:
    description: Names of the spec's indexes, for V(finish) in check mode (a real run's come from its record).
    type: list
    elements: str
    default: []
  index_results:
    description: The results of M(db_index) for each index (a registered loop's C(results)), for V(finish) in check mode
      (a real run's come from its record).
    type: list
    elements: dict
    default: []
  details:
    description:
      - More facts for the record, for V(start) (the run's settings, for example C(backup_retention_days)).
      - For V(smoke), C(answers) (a registered M(ansible.builtin.uri) loop's C(results), each with its check as C(item)).
      - For V(monitor), C(smoke_checks) (verdicts judged before, for example by V(smoke)), C(start_answers) and
        C(end_answers) (the registered M(ansible.builtin.uri) loops' C(results) at the window's start and end, judged
        here and added to C(smoke_checks)), C(scanned) (a registered M(log_scan) loop's
        C(results), each with its host as C(item)), C(log_paths) (each app host's C(app_error_log)), C(health) (from
        M(db_health)), C(cloudwatch) (from M(rds_metrics)), C(started) (epoch seconds) and C(inventories).
    type: dict
    default: {}
  environment_name:
    description: The inventory's environment. A successful V(finish) on V(staging) writes the spec's rehearsal record.
    type: str
  rehearsal_dir:
    description: Where rehearsal records go (read by the rehearsal gate of prod runs).
    type: path
  after_notice:
    description: For V(finish), write the after notice from the report just written and post it to O(webhook_url)
      (not in check mode).
    type: bool
    default: false
  database:
    description: For O(after_notice), the database as people read it; the one the report names when unset.
    type: str
  timezone:
    description: For O(after_notice), the time zone of the notice's times (an IANA name); UTC when unset.
    type: str
  webhook_url:
    description: For O(after_notice), a Slack-compatible webhook to post the notice to; a credential, never printed.
    type: str
  webhook_timeout:
    description: For O(after_notice), seconds to wait for the webhook.
    type: int
    default: 10
  holder_file:
    description: For V(finish), the run lock's holder file (see M(db_preflight)); the lock is let go after the report
      and the notice.
    type: path
attributes:
  check_mode:
    support: full
    details: Appends nothing to the record and writes no report; the summary says it is a check.
  diff_mode:
    support: none
extends_documentation_fragment:
  - safeindex_platform
  - ansible.builtin.action_common_attributes
  - safeindex_run
"""

EXAMPLES = r"""
- name: Record the start of the index phase
  run_record:
    run_dir: "{{ run_dir }}"
    run_id: "{{ run_id }}"
    event: phase_start
    phase: indexes

- name: Write the report (from the record)
  run_record:
    run_dir: "{{ run_dir }}"
    run_id: "{{ run_id }}"
    event: finish
    status: success
    environment_name: staging
    rehearsal_dir: artifacts/rehearsals
  register: run_report
"""

RETURN = r"""
summary:
  description: The counts of the runbook's summary.
  returned: when event is finish
  type: dict
  sample: {"indexes_created": 20, "already_existed": 0, "errors": 0, "total_in_place": 20, "total_expected": 20}
summary_lines:
  description: The runbook's summary, line by line, then one line per probe with its time before and after and the speed-up.
  returned: when event is finish
  type: list
  elements: str
  sample: ["Indexes created: 20", "Already existed: 0", "Errors: 0", "Total indexes in place: 20/20"]
report:
  description: The report as written to report.json.
  returned: when event is finish
  type: dict
  sample:
    {
      "run_id": "first-run",
      "status": "success",
      "indexes_created": [
        "idx_message_timestamp"
      ],
      "already_existed": [],
      "errors": [],
      "total_in_place": 20,
      "total_expected": 20
    }
failure_lines:
  description: For a run that did not succeed, the runbook's Emergency Contacts steps with this run's exact rollback.yml
    commands (drop what it built; restore_backup or restore_snapshot where a backup or snapshot exists), then the
    emergency contacts preflight recorded; empty for a run that succeeded and in check mode.
  returned: when event is finish
  type: list
  elements: str
  sample: ["If something goes wrong (the runbook's Emergency Contacts):", "  1. Don't panic: indexes are non-destructive",
           "  3. Drop the problematic index: drops the 2 index(es) this run built, nothing else",
           "       ansible-playbook rollback.yml -i inventories/prod -e run_id=20261124T220000Z-1a2b --limit db1",
           "Emergency contacts:", "  - Ana Example (DBA on call): phone +1 555 0100"]
report_path:
  description: Path of report.json (not written in check mode).
  returned: when event is finish
  type: str
  sample: "/srv/safeindex/artifacts/prod_db/first-run/report.json"
notice_after:
  description: The after notice, C(text), C(path) (the file written) and C(webhook) (C(configured), C(posted),
    C(status), C(detail)); null without O(after_notice) or in check mode.
  returned: when event is finish
  type: dict
  sample: {"text": "Maintenance Complete ...", "path": "/srv/safeindex/artifacts/prod_db/first-run/notice_after.txt",
           "webhook": {"configured": false, "posted": null, "status": null, "detail": "no notify_webhook_url set"}}
released:
  description: Whether a run lock was held and let go (O(holder_file)); false when nothing was held.
  returned: when event is finish
  type: bool
  sample: true
rehearsal_record:
  description: The rehearsal record written, on a successful staging run.
  returned: when event is finish
  type: str
  sample: "/srv/safeindex/artifacts/rehearsals/5d41402abc4b.json"
smoke_checks:
  description: The smoke checks judged so far (those given in C(details.smoke_checks), then this round's), each with
    C(name), C(url), C(method), C(status), C(expected_status), C(ok), C(round) and C(detail).
  returned: when event is smoke
  type: list
  elements: dict
  sample: [{"name": "login", "url": "https://app.example.com/login", "method": "GET", "status": 200, "expected_status": 200,
            "ok": true, "round": "start", "detail": "start of the window: HTTP 200"}]
smoke_failed:
  description: Whether a smoke check judged so far failed.
  returned: when event is smoke
  type: bool
  sample: false
monitor:
  description: What monitoring found, as the report keeps it (duration_seconds, smoke_checks, error_logs, health,
    cloudwatch, failed, rollback_command).
  returned: when event is monitor
  type: dict
  sample: {"duration_seconds": 300.2, "smoke_checks": [], "error_logs": [], "health": null, "cloudwatch": null, "failed": [],
           "rollback_command": "ansible-playbook rollback.yml -i inventories/prod -e run_id=20261124T220000Z-1a2b --limit db1"}
failure:
  description: The run's failure message on what monitoring found, with the rollback command; null when it found nothing.
  returned: when event is monitor
  type: str
  sample: "Monitoring of db1 after run 20261124T220000Z-1a2b found problems: ..."
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.core.run_id import check_run_id
from ansible.module_utils.safeindex.core.run_options import check_run_options, run_options
from ansible.module_utils.safeindex.monitor import smoke, window
from ansible.module_utils.safeindex.report import contacts as emergency
from ansible.module_utils.safeindex.report import deliver, notices
from ansible.module_utils.safeindex.report.build import summarize, summary_lines
from ansible.module_utils.safeindex.report.from_record import report_from_record
from ansible.module_utils.safeindex.run import interruption
from ansible.module_utils.safeindex.run import lock as runlock
from ansible.module_utils.safeindex.run.preflight import write_rehearsal_record
from ansible.module_utils.safeindex.run.record import RunRecord

ARGUMENT_SPEC = dict(
    **run_options(required=("run_id", "run_dir")),
    event=dict(type="str", choices=["start", "phase_start", "phase_end", "smoke", "monitor", "finish"], required=True),
    phase=dict(type="str"),
    host=dict(type="str"),
    engine=dict(type="str"),
    status=dict(type="str", choices=["success", "failed", "refused", "interrupted"], default="success"),
    error=dict(type="str"),
    module_rc=dict(type="int"),
    expected_indexes=dict(type="list", elements="str", default=[]),
    index_results=dict(type="list", elements="dict", default=[]),
    details=dict(type="dict", default={}),
    environment_name=dict(type="str"),
    rehearsal_dir=dict(type="path"),
    after_notice=dict(type="bool", default=False),
    database=dict(type="str"),
    timezone=dict(type="str"),
    webhook_url=dict(type="str", no_log=True),
    webhook_timeout=dict(type="int", default=10),
    holder_file=dict(type="path"),
)


def judge_smoke(module):
    """One round of smoke checks judged, added to the verdicts of the rounds before."""
    details = module.params["details"]
    verdicts = list(details.get("smoke_checks") or []) + smoke.judge_round(details.get("answers") or [], module.params["phase"])
    module.exit_json(changed=False, smoke_checks=verdicts, smoke_failed=smoke.any_failed(verdicts))


def judge_monitor(module):
    """What monitoring found, judged and recorded for the report; the failure message when it fails the run."""
    params = module.params
    result, failure = window.judge_window(params["run_dir"], params["run_id"], params["host"], params["details"],
                                          module.check_mode)
    module.exit_json(changed=False, monitor=result, failure=failure)


def finish(module):
    """The report, then the after notice, then the run lock let go: the lock also when the report or the notice fails."""
    params = module.params
    result, failure = {}, None
    try:
        result = write_report(module)
        result["notice_after"] = after_notice(module) if params["after_notice"] and not module.check_mode else None
    except ReportFailed as exc:
        failure = str(exc)
    finally:  # whatever went wrong before, the lock is not kept
        result["released"] = release_lock(module)
    if failure:
        module.fail_json(msg=failure, changed=False, **result)
    module.exit_json(changed=False, **result)


class ReportFailed(Exception):
    """The report or the after notice could not be written."""


def write_report(module):
    params = module.params
    if module.check_mode:
        # Nothing is recorded in check mode: the plan's summary comes from the plan itself.
        summary = summarize(params["index_results"], params["expected_indexes"], True)
        lines = summary_lines(summary, params["host"], params["run_id"], True)
        return dict(summary=summary, summary_lines=lines, report=None, report_path=None, failure_lines=[])
    record = RunRecord(params["run_dir"])
    status, error = params["status"], params["error"]
    killed_by = interruption.module_killed(params["module_rc"], error) if status == "failed" else None
    if killed_by:  # a killed module: the run was interrupted, not failed (interruption.py)
        status, error = "interrupted", interruption.record_module_killed(params["run_dir"], params["run_id"], killed_by) or error
    report, summary = report_from_record(params["run_dir"], status, error)
    if report is None:
        raise ReportFailed("no start of run %s in %s: nothing to report" % (params["run_id"], record.path))
    record.append("finish", status=status, summary=summary)
    rehearsal = None
    fingerprint = report.get("spec_fingerprint")
    if params["environment_name"] == "staging" and status == "success" and params["rehearsal_dir"] and fingerprint:
        rehearsal = write_rehearsal_record(params["rehearsal_dir"], report, fingerprint)
    return dict(summary=summary, summary_lines=report["summary_lines"], report=report, failure_lines=emergency.failure_lines(report),
                report_path=os.path.abspath(os.path.join(params["run_dir"], "report.json")), rehearsal_record=rehearsal)


def after_notice(module):
    """The runbook's after notice from the report just written: written, posted, and added to the report."""
    params = module.params
    try:
        text = deliver.render_after(params["run_dir"], params["timezone"], params["database"])
        delivered = deliver.deliver(params["run_dir"], params["run_id"], "after", text, params["webhook_url"],
                                    params["webhook_timeout"])
    except (notices.NoticeError, OSError, ValueError) as exc:
        raise ReportFailed("could not write the after notice: %s" % exc) from None
    warning = deliver.missed_webhook("after", delivered)
    if warning:
        module.warn(warning)
    return dict(delivered, text=text)


def release_lock(module):
    """Let the run lock go (its holder process unlocks on its way out); False when nothing was held."""
    holder_file = module.params["holder_file"]
    return runlock.release(holder_file) if holder_file else False


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        required_if=[("event", "phase_start", ("phase",)), ("event", "phase_end", ("phase",)), ("event", "smoke", ("phase",)),
                     ("event", "monitor", ("host",))],
    )
    check_run_options(module)
    params = module.params
    try:
        check_run_id(params["run_id"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    event = params["event"]
    if event == "smoke":
        judge_smoke(module)
    if event == "monitor":
        judge_monitor(module)
    if event == "finish":
        finish(module)
    if not module.check_mode:
        data = dict(params["details"], run_id=params["run_id"], monotonic=time.monotonic())
        for key in ("phase", "host", "engine"):
            if params[key]:
                data[key] = params[key]
        RunRecord(params["run_dir"]).append(event, **data)
    module.exit_json(changed=False)


if __name__ == "__main__":
    main()
