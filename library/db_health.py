#!/usr/bin/python
"""Ansible module db_health: the database's connections and lock waits over the monitoring window."""

DOCUMENTATION = r"""
module: db_health
short_description: Sample a database's connections and lock waits for a while
description:
  - Takes a sample at once and then every O(interval_seconds) until O(duration_seconds) have passed (the last sample
    at the end), so the monitoring window is spent measuring. O(duration_seconds=0) takes one sample.
  - Each sample counts the client sessions (other than its own) on the database (PostgreSQL) or the server (MySQL),
    the active ones among them, and the sessions waiting for a lock. PostgreSQL reads C(pg_stat_activity) sessions
    of this database whose wait event is C(Lock) (and the lock from C(pg_locks)); MySQL and MariaDB read
    C(INNODB_TRX) transactions in C(LOCK WAIT) and C(PROCESSLIST) sessions waiting for a metadata or table lock.
  - Each sample also reads every replica's lag (as M(db_index) and M(db_preflight) read it, from the primary and from
    each replica O(replicas) lists), kept in the sample as C(replicas); a lag that cannot be read is noted in the sample
    (C(replica_error)) and the rest of the sample stands. RV(replica_lag) has the most lag seen per replica.
  - O(max_connections), O(max_lock_waits), O(max_replication_lag_seconds) and O(max_replication_lag_bytes) are
    thresholds for warnings here, never failures.
  - A sample that fails (the server went away) is kept with its error and the next one connects again. The module
    fails only when its options are wrong.
  - Reads only; never changed; supports check mode.
  - With O(smoke_answers) (the smoke checks' answers at the window's start), judges them first (the same verdicts as
    M(run_record) C(event=monitor)). When one failed, it takes one sample and returns at once, since a broken app
    is not watched for the whole window.
  - With O(run_dir), the start of the run's C(monitor) phase goes to its record, dated O(phase_started) when given.
  - With O(end_phase=true), for a window that nothing else watches after the sampling (no smoke check at its end,
    no error log, no CloudWatch), it also judges what the window found and records it with the end of the phase,
    as M(run_record) C(event=monitor) does, and returns C(monitor) and C(failure).
version_added: "0.1.0"
author: safeindex developers (!UNKNOWN)
options:
  duration_seconds:
    description: How long to watch.
    type: float
    default: 0
  interval_seconds:
    description: Seconds between two samples.
    type: float
    default: 10
  max_connections:
    description: Warn when a sample counts more client sessions than this.
    type: int
  max_lock_waits:
    description: Warn when a sample counts more sessions waiting for a lock than this.
    type: int
  smoke_answers:
    description: A registered M(ansible.builtin.uri) loop's C(results) at the window's start, each with its smoke check
      as C(item) (C(name), C(url), C(method), C(status), C(body)).
    type: list
    elements: dict
  phase_started:
    description: When the monitor phase began (epoch seconds), for the phase's start in the run record.
    type: float
  end_phase:
    description: Judge the window and record the end of the monitor phase here (see above).
    type: bool
    default: false
  host:
    description: The inventory host, for the rollback command of a failure; required with O(end_phase=true).
    type: str
  inventories:
    description: The inventory sources of the run (C(ansible_inventory_sources)), for the rollback command.
    type: list
    elements: str
attributes:
  check_mode:
    support: full
    details: Reads only, so check mode runs it as usual; the run record is not written in check mode.
  diff_mode:
    support: none
extends_documentation_fragment:
  - safeindex_platform
  - ansible.builtin.action_common_attributes
  - safeindex_connection
  - safeindex_run
  - replicas
"""

EXAMPLES = r"""
- name: Watch the database for 30 minutes after the migration
  db_health:
    database_url: "{{ database_url }}"
    duration_seconds: 1800
    interval_seconds: 15
    max_connections: 80
    max_lock_waits: 0
  register: health
"""

RETURN = r"""
samples:
  description: Each sample, C(seconds) since the start, C(connections), C(active_connections), C(lock_waits) and
    C(waiting) (up to 5 waiting sessions with C(pid), C(waiting_seconds), C(query), C(blocked_by), C(lock)) and
    C(replicas) (each replica's C(name), C(source), C(state), C(lag_seconds), C(lag_bytes), C(detail), C(extra));
    or C(seconds) and C(error).
  returned: always
  type: list
  elements: dict
  sample: [{"seconds": 0.0, "connections": 14, "active_connections": 3, "lock_waits": 0, "waiting": [],
            "replicas": [{"name": "127.0.0.1:5433", "source": "replica", "state": "streaming", "lag_seconds": 0.4,
                          "lag_bytes": 0, "detail": "", "extra": {}}]}]
replica_lag:
  description: Per replica, the most lag seen over the samples (C(max_lag_seconds), C(max_lag_bytes), C(at_seconds)
    of the sample with the most seconds), C(samples), and the failing states seen (C(not_replicating),
    C(samples_not_replicating)); empty without replicas.
  returned: always
  type: dict
  sample: {"127.0.0.1:5433": {"max_lag_seconds": 3.2, "max_lag_bytes": 81920, "at_seconds": 20.0, "samples": 7,
                              "not_replicating": [], "samples_not_replicating": 0}}
max_connections:
  description: Most client sessions in a sample; null when no sample succeeded.
  returned: always
  type: int
  sample: 14
avg_connections:
  description: Average client sessions over the samples.
  returned: always
  type: float
  sample: 11.2
max_lock_waits:
  description: Most sessions waiting for a lock in a sample.
  returned: always
  type: int
  sample: 1
avg_lock_waits:
  description: Average sessions waiting for a lock over the samples.
  returned: always
  type: float
  sample: 0.08
lock_waiters:
  description: Each session seen waiting for a lock, once, with the longest wait seen (longest first, at most 20).
  returned: always
  type: list
  elements: dict
  sample: [{"pid": 4242, "waiting_seconds": 1.4, "query": "UPDATE message SET ...", "blocked_by": [4100], "lock": "RowExclusiveLock"}]
threshold_warnings:
  description: The thresholds crossed, and failed samples, one line each.
  returned: always
  type: list
  elements: str
  sample: ["lock waits reached 3 (threshold 2) at 120 s"]
detail:
  description: One line for the report.
  returned: always
  type: str
  sample: "12 samples: connections max 14 avg 11.2; lock waits max 1 avg 0.08"
duration_seconds:
  description: Seconds the watch took.
  returned: always
  type: float
  sample: 1800.2
smoke_checks:
  description: The verdicts on O(smoke_answers), each with C(name), C(url), C(method), C(status), C(expected_status),
    C(ok), C(round) (V(start)) and C(detail); empty without them.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "login", "url": "https://app.example.com/login", "method": "GET", "status": 200, "expected_status": 200,
            "ok": true, "round": "start", "detail": "start of the window: HTTP 200"}]
smoke_failed:
  description: Whether a smoke check failed at the window's start (the window then ended at once).
  returned: always
  type: bool
  sample: false
monitor:
  description: What monitoring found, as the report keeps it (duration_seconds, smoke_checks, error_logs, health,
    cloudwatch, failed, rollback_command).
  returned: when end_phase is true
  type: dict
  sample: {"duration_seconds": 300.1, "smoke_checks": [], "error_logs": [], "health": null, "cloudwatch": null,
           "failed": [], "rollback_command": "ansible-playbook rollback.yml -i prod -e run_id=20260105T020000Z-1a2b --limit app_db"}
failure:
  description: The run's failure message on what monitoring found, with the rollback command; null when it found nothing.
  returned: when end_phase is true
  type: str
  sample: "Monitoring of db1 after run 20261124T220000Z-1a2b found problems: ..."
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.core.module import argument_spec, connect
from ansible.module_utils.safeindex.core.run_options import check_run_options, run_options
from ansible.module_utils.safeindex.monitor import health, smoke, window
from ansible.module_utils.safeindex.run.record import record_phase
from ansible.module_utils.safeindex.run.replica_lag import REPLICA_ARGUMENT_SPEC, read_replica_lags

ARGUMENT_SPEC = argument_spec(
    duration_seconds=dict(type="float", default=0),
    interval_seconds=dict(type="float", default=10),
    max_connections=dict(type="int"),
    max_lock_waits=dict(type="int"),
    smoke_answers=dict(type="list", elements="dict"),
    phase_started=dict(type="float"),
    end_phase=dict(type="bool", default=False),
    host=dict(type="str"),
    inventories=dict(type="list", elements="str"),
    **run_options(),
    **REPLICA_ARGUMENT_SPEC,
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           required_if=[("end_phase", True, ("host",))])
    params = module.params
    check_run_options(module)
    # First, so the report shows the monitor phase also when the options are wrong.
    record_phase(params["run_dir"], "phase_start", "monitor", module.check_mode, params["run_id"], params["phase_started"])
    if params["duration_seconds"] < 0 or params["interval_seconds"] <= 0:
        module.fail_json(msg="duration_seconds must be 0 or more, and interval_seconds more than 0")
    verdicts = smoke.judge_round(params["smoke_answers"] or [], "start")
    failed = smoke.any_failed(verdicts)
    duration = 0 if failed else params["duration_seconds"]
    # health.watch opens the session itself and opens a new one after an error, so a dropped connection costs one sample.
    samples, took = health.watch(lambda: connect(module, "db_health"), duration, params["interval_seconds"],
                                 read_lags=lambda dialect: read_replica_lags(dialect, params, params["replicas"]))
    result = health.summary(samples, params["max_connections"], params["max_lock_waits"],
                            params["max_replication_lag_seconds"], params["max_replication_lag_bytes"])
    for warning in result["threshold_warnings"]:
        module.warn(warning)
    found = dict(samples=samples, duration_seconds=took, smoke_checks=verdicts, smoke_failed=failed, **result)
    if params["end_phase"]:
        details = {"started": params["phase_started"], "smoke_checks": verdicts, "health": found,
                   "inventories": params["inventories"] or []}
        found["monitor"], found["failure"] = window.judge_window(params["run_dir"], params["run_id"], params["host"],
                                                                 details, module.check_mode)
    module.exit_json(changed=False, **found)


if __name__ == "__main__":
    main()
