#!/usr/bin/python
"""Ansible module run_record: the run's record, its report and the runbook's summary."""

DOCUMENTATION = r"""
module: run_record
short_description: Keep a run's record and write its report
description:
  - Every run keeps an append-only record in C(<run_dir>/record.jsonl) (0600, in a 0700 folder) of when it started, each
    phase's start and end, and what each module changed, written as it happens.
  - O(event=finish) writes C(report.json), C(report.md) and a self-contained C(report.html) beside it (0600) and returns
    the runbook's summary lines (created, already existed, errors, C(Total indexes in place N/N)) and, when verification
    ran, each probe's time before and after and its speed-up.
  - The report holds the phases against the runbook's Expected Timeline and its Post-Migration Checklist, each item
    ticked from the evidence (or marked not checked).
  - The record is bookkeeping on the controller, not a change to the database, so the module never reports C(changed).
  - In check mode nothing is written; O(event=finish) still returns the summary of the plan.
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
    choices: [start, phase_start, phase_end, finish]
    required: true
  phase:
    description: The phase, for V(phase_start) and V(phase_end).
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
  expected_indexes:
    description: Names of the spec's indexes, for V(finish).
    type: list
    elements: str
    default: []
  index_results:
    description: The results of M(db_index) for each index (a registered loop's C(results)), for V(finish).
    type: list
    elements: dict
    default: []
  details:
    description: More facts for the record (V(start)) or the report (V(finish)), for example C(backup), C(snapshot), C(error),
      C(preflight) (the checks), C(warnings), C(spec_fingerprint), C(verify) and C(probes_before) (from M(db_verify)),
      C(monitor) (from the monitor role), C(backup_retention_days). Missing or null phases are reported as not run.
    type: dict
    default: {}
  environment_name:
    description: The inventory's environment. A successful V(finish) on V(staging) writes the spec's rehearsal record.
    type: str
  rehearsal_dir:
    description: Where rehearsal records go (read by the rehearsal gate of prod runs).
    type: path
attributes:
  check_mode:
    support: full
    details: Appends nothing to the record and writes no report; the summary says it is a check.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
    details: Runs on the controller (or the host it is delegated to) and works over the network.
extends_documentation_fragment:
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

- name: Write the report
  run_record:
    run_dir: "{{ run_dir }}"
    run_id: "{{ run_id }}"
    event: finish
    host: "{{ inventory_hostname }}"
    engine: "{{ db_engine }}"
    status: success
    expected_indexes: "{{ index_spec.names }}"
    index_results: "{{ index_build.results }}"
    details:
      verify: "{{ verify_result | default(None) }}"
      monitor: "{{ monitor_result | default(None) }}"
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
report_path:
  description: Path of report.json (not written in check mode).
  returned: when event is finish
  type: str
  sample: "/srv/safeindex/artifacts/prod_db/first-run/report.json"
rehearsal_record:
  description: The rehearsal record written, on a successful staging run.
  returned: when event is finish
  type: str
  sample: "/srv/safeindex/artifacts/rehearsals/5d41402abc4b.json"
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.core.run_options import check_run_options, run_options
from ansible.module_utils.safeindex.report.build import build_report, notices_from_events, summarize, summary_lines, write_report
from ansible.module_utils.safeindex.run.preflight import write_rehearsal_record
from ansible.module_utils.safeindex.run.record import RunRecord, now_iso

ARGUMENT_SPEC = dict(
    **run_options(required=("run_id", "run_dir")),
    event=dict(type="str", choices=["start", "phase_start", "phase_end", "finish"], required=True),
    phase=dict(type="str"),
    host=dict(type="str"),
    engine=dict(type="str"),
    status=dict(type="str", choices=["success", "failed", "refused", "interrupted"], default="success"),
    expected_indexes=dict(type="list", elements="str", default=[]),
    index_results=dict(type="list", elements="dict", default=[]),
    details=dict(type="dict", default={}),
    environment_name=dict(type="str"),
    rehearsal_dir=dict(type="path"),
)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        required_if=[("event", "phase_start", ("phase",)), ("event", "phase_end", ("phase",))],
    )
    check_run_options(module)
    params = module.params
    record = RunRecord(params["run_dir"])
    event = params["event"]
    if event != "finish":
        if not module.check_mode:
            data = dict(params["details"], run_id=params["run_id"], monotonic=time.monotonic())
            for key in ("phase", "host", "engine"):
                if params[key]:
                    data[key] = params[key]
            record.append(event, **data)
        module.exit_json(changed=False)

    details = dict(params["details"])
    phase_results = {key: details.pop(key, None) for key in ("backup", "snapshot", "verify", "probes_before", "monitor",
                                                             "backup_retention_days")}
    summary = summarize(params["index_results"], params["expected_indexes"], module.check_mode)
    lines = summary_lines(summary, params["host"], params["run_id"], module.check_mode, phase_results["verify"])
    if module.check_mode:
        module.exit_json(changed=False, summary=summary, summary_lines=lines, report=None, report_path=None)
    events = record.events()
    start = next((e for e in events if e.get("event") == "start"), {})
    total_seconds = round(time.monotonic() - start["monotonic"], 3) if start.get("monotonic") is not None else None
    report = build_report(
        run_id=params["run_id"], host=params["host"], engine=params["engine"], status=params["status"],
        summary=summary, index_results=params["index_results"], phases=record.phases(),
        started=start.get("at"), finished=now_iso(), extra=details, notices=notices_from_events(events),
        total_seconds=total_seconds, lines=lines, **phase_results,
    )
    record.append("finish", status=params["status"], summary=summary)
    path = write_report(params["run_dir"], report)
    rehearsal = None
    fingerprint = params["details"].get("spec_fingerprint")
    if params["environment_name"] == "staging" and params["status"] == "success" and params["rehearsal_dir"] and fingerprint:
        rehearsal = write_rehearsal_record(params["rehearsal_dir"], report, fingerprint)
    module.exit_json(changed=False, summary=summary, summary_lines=lines, report=report, report_path=os.path.abspath(path),
                     rehearsal_record=rehearsal)


if __name__ == "__main__":
    main()
