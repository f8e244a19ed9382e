#!/usr/bin/python
"""Ansible module db_preflight: the runbook's checklist, before any backup or index work."""

DOCUMENTATION = r"""
module: db_preflight
short_description: Check a database and its surroundings are fit for an online index migration
description:
  - Runs the runbook's checks and returns one row per check (C(check), C(result) V(ok), V(warn), V(fail) or V(skip),
    C(detail)). A check that cannot be made says so rather than pass in silence.
  - connection, server version and privileges (the user may create indexes on every table of the spec).
  - index spec (O(spec_path)). Every table and column exists, the server accepts each definition, and no index of the
    same name has another definition. Each index is planned, and RV(spec) holds the plan for the rest of the run.
  - maintenance window (O(maintenance_window); outside it the check fails unless O(ignore_maintenance_window)).
  - active connections (against O(max_active_connections)).
  - long transactions, older than O(max_transaction_age_seconds), which stall online builds; listed, V(fail) or V(warn)
    as O(long_transaction_action) says.
  - replication lag of every replica (against O(max_replication_lag_seconds) and O(max_replication_lag_bytes)); a
    replica that is paused, stopped, in error or unreachable fails on its own, named. PostgreSQL reads each standby from
    the primary (seconds and bytes behind) and each replica of O(replicas) itself (replay paused, WAL not yet replayed);
    MySQL/MariaDB reads each replica of O(replicas) itself (C(SHOW REPLICA STATUS)), and warns when replicas are
    connected that are not listed. There it also predicts each replica's lag during the run, about as long as each
    build (the longest from the table's size at O(build_bytes_per_second)).
  - INVALID leftovers of failed builds, and existing indexes equal to a spec entry under another name.
  - disk space, the estimated size of the indexes to build times O(disk_headroom_factor) against the free
    space. It uses CloudWatch FreeStorageSpace for RDS, O(free_bytes) when given, or the data directory's file system
    when the server runs on this machine.
  - RDS replica lag, for a host with O(rds_instance_id) or O(rds_cluster_id). The instance's read replicas, or the
    Aurora cluster's readers, each with the newest CloudWatch C(ReplicaLag) or C(AuroraReplicaLag) of the last five
    minutes against O(max_replication_lag_seconds). A replica RDS reports not available or not replicating fails the
    check; one without a datapoint warns, and so does an AWS call that fails (naming the call).
  - unique indexes (O(unique_precheck)). Each unique index the plan builds is checked for duplicate keys before the
    backup, with the index's own semantics (key parts, predicate, collations, prefix lengths, NULLs), read-only and
    within O(unique_precheck_timeout_seconds); duplicates fail the check, naming the index and the number of duplicate
    groups (key values only with O(show_duplicate_samples)). A scan that cannot finish in time follows
    O(unique_precheck_action).
  - client tools, the dump client the backup will use for this server and why (O(client_bin_dir), else for PostgreSQL
    the installed client of the server's own major or the nearest newer one); refused when none fits.
  - known server bugs and traps, each with its reason. Concurrent builds are refused on a server with a known bug of
    them (PostgreSQL 14.0 to 14.3, fixed in 14.4). Prepared transactions older than O(max_transaction_age_seconds), which
    a concurrent build waits for forever, are listed (PostgreSQL) as O(long_transaction_action) says. On MySQL/MariaDB,
    the free space of the server's sort directory (C(innodb_tmpdir) or C(tmpdir)) against the biggest index
    (O(tmpdir_free_bytes), or the directory when the server runs on this machine), and C(innodb_online_alter_log_max_size)
    against the table's writes during the build (sampled over O(write_rate_sample_seconds), the build time assumed from
    the table's size at O(build_bytes_per_second)).
  - deployment (O(deployment_check), a command that exits 0 or a URL that answers 2xx when no deployment is running).
  - run lock, taken for the whole run as M(db_lock) takes it (O(run_id), O(holder_file)); another run holding it is
    named. In check mode the lock is only tested, not held.
  - orphaned builds, once the lock is held. Index DDL of an earlier run still running on the server (its client gone
    without a word, as after a cut network or a killed process; MariaDB and PostgreSQL before 14 let it run on) is named and
    stopped (C(KILL QUERY), C(pg_cancel_backend)), a warning; in check mode only named.
  - time estimates (RV(estimates)), not a check. Each index to build takes its table's size over a build rate, and the
    backup the database's size over a backup rate. The rates come from the spec's newest successful staging rehearsal
    (O(rehearsal_dir)), else this host's own earlier runs (their report.json next to O(run_dir)), else a conservative
    default of the engine, labelled V(uncalibrated).
  - rehearsal, for O(environment_name=prod). The spec's fingerprint must have passed the staging rehearsal (a record in
    O(rehearsal_dir)), unless O(skip_rehearsal_gate).
  - Changes nothing in the database but stopping such orphans; supports check mode. Fails, with one line per failed
    check, when any check fails.
  - With O(probe_baseline), once every check passed, it times the spec's probe queries before the build on the same
    connection, as M(db_verify) C(phase=before) does (the same code), and returns that as RV(probes_before); it fails
    when a probe's SQL fails (the probe is broken, and verification could not prove anything with it).
  - With O(before_notice), once the checks and the baseline passed, it writes the runbook's before notice from the plan
    to C(<run_dir>/notice_before.txt) and posts it to the team's webhook, as M(run_notice) C(kind=before) does (the
    same code), and returns it as RV(notice_before). In check mode the notice is returned, not written or posted.
  - The runbook's emergency contacts come from the task's environment, C(SAFEINDEX_EMERGENCY_CONTACTS) (JSON, the
    inventory's C(emergency_contacts)), never as an option (personal data; Ansible logs a module's options).
    A malformed entry is the failed check C(emergency contacts); valid ones end the before notice and are recorded
    in O(run_dir) for the report.
  - With O(start_run) (the first module of a migration run), the run record in O(run_dir) starts here. The run's
    C(start) event (O(host), the engine, O(run_details)) and the start of the C(preflight) phase come first, and its end
    comes after the checks and the baseline passed. When preflight refuses the run the phase is left unfinished,
    as the report shows it.
version_added: "0.1.0"
author: safeindex developers (!UNKNOWN)
options:
  min_server_version:
    description:
      - Oldest server version accepted, as V(major.minor). Defaults to the oldest the online build supports,
        V(12.0) for PostgreSQL (C(pg_stat_progress_create_index)) and V(5.6) for MySQL (online DDL).
    type: str
  schema:
    description: Schema of the spec's tables (PostgreSQL); the connection's current schema when unset.
    type: str
  spec_path:
    description: The index spec file.
    type: path
    required: true
  on_equivalent:
    description: How M(db_index) will treat an equal index under another name, so the plan matches.
    type: str
    choices: [skip, create]
    default: skip
  run_id:
    required: true
  holder_file:
    description: File (0600) where the run lock's holder keeps its pid; M(db_lock) C(state=released) lets it go.
    type: path
    required: true
  run_dir:
    description:
      - The run's folder. Should the ansible-playbook process end before the run lock is released (Ctrl-C, kill, crash),
        the lock's holder appends an C(interrupted) event to the run record there and writes the run's report with
        status V(interrupted), before it lets the lock go.
    type: path
  maintenance_window:
    description: C(days) (V(mon)..V(sun), default every day), C(start) and C(end) (V(HH:MM); it may cross midnight) and
      C(timezone) (default V(UTC)). Unset, the check is skipped.
    type: dict
  ignore_maintenance_window:
    description: Outside the window, warn instead of failing.
    type: bool
    default: false
  max_active_connections:
    description: Most client sessions allowed on the database (PostgreSQL) or server (MySQL); unset, only reported.
    type: int
  max_transaction_age_seconds:
    description: Transactions older than this stall online builds and are listed.
    type: float
    default: 300
  long_transaction_action:
    description: What long transactions make of the check.
    type: str
    choices: [fail, warn]
    default: fail
  disk_headroom_factor:
    description: Free space needed, as a multiple of the indexes' estimated size (the build also writes WAL or redo).
    type: float
    default: 2.0
  free_bytes:
    description: Free space on the server's data volume, when known from elsewhere (for example C(df) run on the server).
    type: int
  rds_instance_id:
    description: The RDS instance, to read its free storage and its read replicas' lag from CloudWatch.
    type: str
  rds_cluster_id:
    description: The Aurora cluster (its storage grows as needed), to read its readers' lag from CloudWatch.
    type: str
  tmpdir_free_bytes:
    description: Free space in the MySQL/MariaDB server's sort directory (C(innodb_tmpdir) or C(tmpdir)), when known from
      elsewhere; unset, it is read where the server runs on this machine.
    type: int
  write_rate_sample_seconds:
    description: How long the MySQL/MariaDB table's write rate is sampled, for the online log check (only when there is
      something to build).
    type: float
    default: 2.0
  blocking_builds:
    description: The run builds with the blocking statement (plain C(CREATE INDEX), M(db_index)'s C(allow_blocking)), which
      the known bug of concurrent builds does not touch, so that bug only warns.
    type: bool
    default: false
  build_bytes_per_second:
    description: The assumed speed of an online MySQL/MariaDB build, in bytes of table data a second, from which the
      build time of the online log check is estimated.
    type: int
    default: 20971520
  deployment_check:
    description: A command line (exit 0 means no deployment is running), a URL (2xx means the same), or a mapping
      with C(command), or with C(url), C(method), C(headers), C(body) and C(status).
    type: raw
  environment_name:
    description: The inventory's environment. V(prod) turns the rehearsal gate on.
    type: str
  rehearsal_dir:
    description: Where successful staging rehearsals leave their records.
    type: path
  skip_rehearsal_gate:
    description: On prod, warn instead of failing when the spec was not rehearsed.
    type: bool
    default: false
  start_run:
    description: Start the run's record in O(run_dir) and record the C(preflight) phase (see above).
    type: bool
    default: false
  host:
    description: The inventory host the run is for, for the record's C(start) (O(start_run)).
    type: str
  run_details:
    description: The run's settings for the record's C(start) (O(start_run)), for example C(backup_retention_days),
      C(check_mode), C(index_spec_file), C(environment_name).
    type: dict
    default: {}
  probe_baseline:
    description: Time the spec's probe queries once the checks passed (see above).
    type: bool
    default: false
  probe_runs:
    description: How many times each probe runs for the baseline; its median time counts.
    type: int
    default: 5
  probe_timeout:
    description: Seconds one probe statement may run before the server stops it; V(0) for no limit.
    type: float
    default: 30
  small_table_rows:
    description: A table the catalog estimates at no more rows than this is small (see M(db_verify)).
    type: int
    default: 10000
  before_notice:
    description: Write and post the before notice (see above), with these settings of M(run_notice).
    type: dict
    suboptions:
      monitor_duration_seconds:
        description: How long the monitor phase watches the app, for the notice's expected duration.
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
        description: The time zone of the notice's times (an IANA name); UTC when unset.
        type: str
      webhook_url:
        description: A Slack-compatible webhook to post the notice to; a credential, never printed or written.
        type: str
      webhook_timeout:
        description: Seconds to wait for the webhook.
        type: int
        default: 10
  unique_precheck:
    description: Look for duplicate keys of the unique indexes to build (V(full)), or not (V(off)).
    type: str
    choices: [full, "off"]
    default: full
  unique_precheck_action:
    description: What a duplicate scan that could not finish (its timeout, or an error) makes of the check.
    type: str
    choices: [fail, warn]
    default: fail
  unique_precheck_timeout_seconds:
    description: Seconds one index's duplicate scan may run before the server stops it; V(0) for no limit.
    type: float
    default: 60
  show_duplicate_samples:
    description: Show up to five duplicate keys per index in the check's detail. Key values are data, so off by default
      (the number of duplicate groups and rows is always given).
    type: bool
    default: false
attributes:
  check_mode:
    support: partial
    details: Runs every check, but only tests that the run lock is free instead of taking it.
  diff_mode:
    support: none
extends_documentation_fragment:
  - safeindex_platform
  - safeindex_client
  - ansible.builtin.action_common_attributes
  - safeindex_connection
  - safeindex_aws
  - safeindex_run
  - replicas
"""

EXAMPLES = r"""
- name: Preflight checks
  db_preflight:
    database_url: "{{ database_url }}"
    spec_path: migrations/indexes.yml
    run_id: "{{ run_id }}"
    holder_file: "{{ run_dir }}/run-lock.json"
    maintenance_window: {days: [mon, tue, wed, thu, fri], start: "22:00", end: "06:00", timezone: Europe/Berlin}
    max_active_connections: 50
    max_transaction_age_seconds: 120
    deployment_check: ./bin/deploy-status --quiet
  register: preflight
"""

RETURN = r"""
engine:
  description: The database engine.
  returned: always
  type: str
  sample: "postgresql"
server_version:
  description: The server's version string.
  returned: when connected
  type: str
  sample: 15.18 (Debian 15.18-0+deb12u1)
checks:
  description: One entry per check, with C(check), C(result) (V(ok), V(warn), V(fail), V(skip)) and C(detail).
  returned: always
  type: list
  elements: dict
  sample: [{"check": "connection", "result": "ok", "detail": "connected to postgresql://app_owner@db.internal:5432/app"}]
failed_checks:
  description: The checks that failed, one line each.
  returned: always
  type: list
  elements: str
  sample: ["long transactions: 1 transaction older than 300 s (pid 4100, 620 s)"]
warnings_found:
  description: The checks that warned, one line each.
  returned: always
  type: list
  elements: str
  sample: ["replication lag: not measured (no replicas given)"]
spec:
  description: The index spec for this engine and its plan, (fingerprint, indexes,
    names, tables, probes, plan, pending, equivalents).
  returned: when the spec loaded
  type: dict
  sample: {"fingerprint": "5d41402abc4b2a76b9719d911017c592", "pending": ["idx_message_timestamp"], "equivalents": {}}
table:
  description: The checks as a table to print, a line each (check, result, detail).
  returned: always
  type: list
  elements: str
  sample: ["connection    ok    connected to postgresql://app_owner@db.internal:5432/app"]
estimates:
  description:
    - The plan's time estimates. C(indexes), one per index still to build (C(name), C(schema), C(table), C(table_bytes),
      C(estimated_index_bytes), C(bytes_per_second), C(estimated_seconds), C(calibrated_by)). C(builds_seconds) is their
      total. C(backup) has C(database_bytes), C(bytes_per_second), C(estimated_seconds) and C(calibrated_by); it is null
      when nothing is built.
    - C(calibrated_by) says where the rates come from. V(rehearsal <run id>) is the spec's staging rehearsal in
      O(rehearsal_dir), V(earlier run <run id>) is this host's newest earlier run (the folders next to O(run_dir)), and
      V(uncalibrated) is the engine's conservative default. C(source) is V(rehearsal), V(history) or V(uncalibrated).
    - C(rate_is_lower_bound) and C(note) are set when the calibrating builds took under a second (floored to one).
      C(table) is the lines to print.
  returned: when the spec loaded and preflight connected
  type: dict
  sample: {"indexes": [{"name": "idx_message_timestamp", "schema": "public", "table": "message", "table_bytes": 2727936,
            "estimated_index_bytes": 450560, "bytes_per_second": 2727936.0, "estimated_seconds": 1.0,
            "calibrated_by": "rehearsal 20240506T220000-1a2b"}],
           "builds_seconds": 1.0, "unknown": [], "calibrated_by": "rehearsal 20240506T220000-1a2b", "source": "rehearsal",
           "backup": {"database_bytes": 9650176, "bytes_per_second": 4825088.0, "estimated_seconds": 2.0,
                      "calibrated_by": "rehearsal 20240506T220000-1a2b"},
           "rate_is_lower_bound": true, "note": "the calibrating run's builds took under 1 s each ...",
           "table": ["index                  table size  est. index size  est. time  calibrated by"]}
lock_holder_pid:
  description: Pid of the process holding the run lock for this run.
  returned: when the lock was taken
  type: int
  sample: 51234
database:
  description: Where preflight connected, as the notices name the database (engine://user@host:port/database, never the password).
  returned: when connected
  type: str
  sample: postgresql://app@db.example.com:5432/chat
refused_by_lock:
  description: Whether the run is refused because another run holds the database's run lock.
  returned: always
  type: bool
  sample: false
probes_before:
  description: The probes' baseline, as M(db_verify) C(phase=before) returns it (C(probes), C(problems),
    C(summary_lines), C(indexes), C(index_usage), C(index_usage_note)); pass its C(probes) to M(db_verify) as
    C(baseline) after the build. Null without O(probe_baseline) or when a check failed.
  returned: always
  type: dict
  sample: {"probes": [{"name": "login_by_username", "verdict": "small_table", "median_ms": 0.12}], "problems": [],
           "summary_lines": ["probe login_by_username: 0.12 ms, small table user, read whole"]}
notice_before:
  description: The before notice, C(text), C(path) (the file written; null in check mode) and C(webhook) (C(configured),
    C(posted), C(status), C(detail)); null without O(before_notice) or when preflight failed.
  returned: always
  type: dict
  sample: {"text": "Scheduled Maintenance ...", "path": "/srv/safeindex/artifacts/prod_db/first-run/notice_before.txt",
           "webhook": {"configured": false, "posted": null, "status": null, "detail": "no notify_webhook_url set"}}
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.core.aws_options import AWS_ARGUMENT_SPEC, aws_settings
from ansible.module_utils.safeindex.core.connection import connection_params
from ansible.module_utils.safeindex.core.errors import RunLocked, SafeIndexError
from ansible.module_utils.safeindex.core.module import argument_spec, connect
from ansible.module_utils.safeindex.core.run_options import check_run_options, run_options
from ansible.module_utils.safeindex.report import contacts as emergency
from ansible.module_utils.safeindex.run import interruption, preflight, server_checks
from ansible.module_utils.safeindex.run import lock as runlock
from ansible.module_utils.safeindex.run.orphans import orphans_row
from ansible.module_utils.safeindex.run.record import record_phase, record_phase_result, record_start
from ansible.module_utils.safeindex.run.replica_lag import REPLICA_ARGUMENT_SPEC
from ansible.module_utils.safeindex.spec import plan as planning
from ansible.module_utils.safeindex.verify import check as verification

ARGUMENT_SPEC = argument_spec(
    min_server_version=dict(type="str"),
    schema=dict(type="str"),
    spec_path=dict(type="path", required=True),
    on_equivalent=dict(type="str", choices=["skip", "create"], default="skip"),
    holder_file=dict(type="path", required=True),
    **run_options(required=("run_id",)),
    maintenance_window=dict(type="dict"),
    ignore_maintenance_window=dict(type="bool", default=False),
    max_active_connections=dict(type="int"),
    max_transaction_age_seconds=dict(type="float", default=300),
    long_transaction_action=dict(type="str", choices=["fail", "warn"], default="fail"),
    **REPLICA_ARGUMENT_SPEC,
    disk_headroom_factor=dict(type="float", default=2.0),
    free_bytes=dict(type="int"),
    rds_instance_id=dict(type="str"),
    rds_cluster_id=dict(type="str"),
    **AWS_ARGUMENT_SPEC,
    client_bin_dir=dict(type="path"),
    # Known server bugs and traps (run/server_checks.py).
    tmpdir_free_bytes=dict(type="int"),
    write_rate_sample_seconds=dict(type="float", default=2.0),
    build_bytes_per_second=dict(type="int", default=server_checks.DEFAULT_BUILD_BYTES_PER_SECOND),
    blocking_builds=dict(type="bool", default=False),
    # A command line or URL that may carry a token, or a mapping with headers (a bearer header): never logged.
    deployment_check=dict(type="raw", no_log=True),
    environment_name=dict(type="str"),
    rehearsal_dir=dict(type="path"),
    skip_rehearsal_gate=dict(type="bool", default=False),
    start_run=dict(type="bool", default=False),
    host=dict(type="str"),
    run_details=dict(type="dict", default={}),
    probe_baseline=dict(type="bool", default=False),
    probe_runs=dict(type="int", default=5),
    probe_timeout=dict(type="float", default=30),
    small_table_rows=dict(type="int", default=verification.DEFAULT_SMALL_TABLE_ROWS),
    before_notice=dict(type="dict", options=dict(
        monitor_duration_seconds=dict(type="int", default=1800),
        blocking=dict(type="bool", default=False),
        maintenance_mode=dict(type="bool", default=False),
        timezone=dict(type="str"),
        webhook_url=dict(type="str", no_log=True),
        webhook_timeout=dict(type="int", default=10),
    )),
    # Unique prechecks (run/unique_precheck.py).
    unique_precheck=dict(type="str", choices=["full", "off"], default="full"),
    unique_precheck_action=dict(type="str", choices=["fail", "warn"], default="fail"),
    unique_precheck_timeout_seconds=dict(type="float", default=60),
    show_duplicate_samples=dict(type="bool", default=False),
)


def version_tuple(text):
    numbers = re.findall(r"\d+", text or "")
    return tuple(int(n) for n in numbers[:2]) if numbers else ()


def spec_check(module, dialect, loaded):
    """The index spec against the live schema, and the plan; (row, summary or None)."""
    fingerprint, indexes, probes = loaded
    try:
        actions, equivalents = planning.plan(dialect, indexes, module.params["on_equivalent"])
    except SafeIndexError as exc:
        problems = exc.details.get("problems") or [str(exc)]
        return preflight.row("index spec", "fail", "; ".join(p.replace("\n", " ") for p in problems)), None
    summary = planning.summary(fingerprint, indexes, probes, actions, equivalents)
    return preflight.row("index spec", "ok", "%d indexes on %d tables, all tables and columns there: %d to build (spec %s)" % (
        len(indexes), len(summary["tables"]), len(summary["pending"]), fingerprint[:12])), summary


def unique_check(module, dialect, loaded, summary):
    """The "unique indexes" row: duplicate keys of the unique indexes to build, before the backup."""
    from ansible.module_utils.safeindex.run.unique_precheck import CHECK, unique_precheck

    params = module.params
    return preflight.guarded(CHECK, unique_precheck, dialect, loaded[1] if loaded else [], summary, params["unique_precheck"],
                             params["unique_precheck_action"], params["unique_precheck_timeout_seconds"],
                             params["show_duplicate_samples"], params["on_equivalent"])


def run_lock(module, dialect):
    """Take the run lock for the whole run (check mode: only test it); (row, holder pid or None)."""
    params = module.params
    try:
        if module.check_mode:
            runlock.probe(dialect)
            return preflight.row("run lock", "ok", "free (check mode: not taken)"), None
        pid = runlock.acquire(lambda: connect(module, "lock"), params["run_id"], params["holder_file"], runlock.find_owner_pid(),
                              on_owner_gone=interruption.recorder(params["run_dir"], params["run_id"]))
    except RunLocked as exc:
        return preflight.row("run lock", "fail", str(exc)), None
    except SafeIndexError as exc:
        return preflight.row("run lock", "fail", "could not take it: %s" % exc), None
    return preflight.row("run lock", "ok", "held by this run until it ends (holder pid %d)" % pid), pid


def pending_builds(dialect, summary, schema):
    """(name, schema, definition) of each index the plan still builds."""
    from ansible.module_utils.safeindex.spec.parse import parse_index

    found = []
    for entry in (summary or {}).get("indexes") or []:
        if entry["name"] in summary["pending"]:
            spec = parse_index(entry, dialect.engine)
            found.append((entry["name"], spec.schema or schema, spec.definition(dialect.engine, spec.schema or schema)))
    return found


def plan_estimates(module, dialect, summary):
    """Each build's time to come and the backup's (run/estimates.py), calibrated by the spec's rehearsal, else this host's
    earlier runs (their folders next to this run's), else the engine's defaults; None without a plan."""
    from ansible.module_utils.safeindex.run import estimates

    if not summary:
        return None
    params = module.params
    schema = params["schema"] or dialect.default_schema()
    rehearsal = None
    if params["rehearsal_dir"]:
        rehearsal = preflight.rehearsal_record(params["rehearsal_dir"], summary["fingerprint"], dialect.engine)
    host_dir = os.path.dirname(os.path.abspath(params["run_dir"])) if params["run_dir"] else None
    calibration = estimates.calibrate(dialect.features, rehearsal, estimates.earlier_reports(host_dir, dialect.engine, params["run_id"]))
    builds = [{"name": name, "schema": where, "table": definition.table, "table_bytes": dialect.table_bytes(where, definition.table),
               "estimated_index_bytes": dialect.estimated_index_bytes(where, definition)}
              for name, where, definition in pending_builds(dialect, summary, schema)]
    found = estimates.plan(calibration, builds, dialect.database_size() if builds else None)
    found["table"] = estimates.table(found)
    return found


def database_checks(module, dialect, tables, summary):
    """The checks that need the database, each guarded so one failure does not hide the others."""
    params = module.params
    schema = params["schema"] or dialect.default_schema()
    minimum = params["min_server_version"] or dialect.features.minimum_version
    to_build = [(where, definition) for _name, where, definition in pending_builds(dialect, summary, schema)]
    cloudwatch = None
    if params["rds_instance_id"]:
        # Only here: boto3 takes a while to import, and only an RDS host needs it.
        from ansible.module_utils.safeindex.aws.client import aws_client

        cloudwatch = aws_client("cloudwatch", *aws_settings(params))
    g = preflight.guarded
    # An RDS host's read replicas and their CloudWatch lag: one row, for an RDS host only (run/rds_replica_check.py).
    from ansible.module_utils.safeindex.run.rds_replica_check import rds_replica_rows

    return [
        g("server version", preflight.server_version, dialect, minimum, version_tuple),
        g("privileges", preflight.privileges, dialect, schema, tables),
        g("active connections", preflight.active_connections, dialect, params["max_active_connections"]),
        g("long transactions", preflight.long_transactions, dialect, params["max_transaction_age_seconds"],
          params["long_transaction_action"]),
        g("replication lag", preflight.replication_lag, dialect, params, params["replicas"],
          params["max_replication_lag_seconds"], params["max_replication_lag_bytes"], to_build,
          params["build_bytes_per_second"]),
        *rds_replica_rows(params, cloudwatch),
        g("invalid and duplicate indexes", preflight.leftovers, dialect, summary["equivalents"] if summary else {}),
        g("disk space", preflight.disk_space, dialect, to_build, params["disk_headroom_factor"], params["rds_instance_id"],
          params["rds_cluster_id"], params["free_bytes"], cloudwatch),
        g("client tools", preflight.client_tools, dialect, params["client_bin_dir"]),
        # Known server bugs and traps: the rows of those this server has.
        *server_checks.server_checks(dialect, to_build, server_checks.TrapOptions(
            max_transaction_age_seconds=params["max_transaction_age_seconds"], long_transaction_action=params["long_transaction_action"],
            headroom=params["disk_headroom_factor"], tmpdir_free_bytes=params["tmpdir_free_bytes"],
            write_rate_sample_seconds=params["write_rate_sample_seconds"], build_bytes_per_second=params["build_bytes_per_second"],
            blocking_builds=params["blocking_builds"])),
    ]


def probe_baseline(module, dialect, loaded):
    """The probes timed before the build (db_verify's phase before, on preflight's connection), recorded for the report;
    (result, failure message or None)."""
    params = module.params
    options = verification.VerifyOptions(runs=params["probe_runs"], timeout=params["probe_timeout"],
                                         small_table_rows=params["small_table_rows"], on_equivalent=params["on_equivalent"],
                                         schema=params["schema"])
    _fingerprint, indexes, probes = loaded
    try:
        result = verification.verify(dialect, indexes, probes, "before", options)
    except SafeIndexError as exc:
        verification.record_result(params["run_dir"], "before", {}, str(exc), module.check_mode)
        return {"probes": [], "problems": [str(exc)]}, "could not time the spec's probes: %s" % exc
    msg = verification.failure_message("before", result["problems"])
    verification.record_result(params["run_dir"], "before", result, msg, module.check_mode)
    return result, msg


def before_notice(module, summary, database, engine, contacts=None, plan_times=None):
    """The runbook's before notice from the plan: written and posted (check mode: only returned); (notice, error)."""
    params = module.params
    # Only here: the notices' code is needed by a migration run's preflight, not by every preflight.
    from ansible.module_utils.safeindex.report import deliver, notices

    try:
        notice, warning = deliver.before_notice(params["run_dir"], params["run_id"], params["host"], engine, database, summary,
                                                params["before_notice"], module.check_mode, contacts, estimates=plan_times)
    except (notices.NoticeError, ValueError, OSError) as exc:
        return None, "could not write the before notice: %s" % exc
    if warning:
        module.warn(warning)
    return notice, None


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    check_run_options(module)
    params = module.params
    if params["probe_runs"] < 1 or params["probe_timeout"] < 0 or params["small_table_rows"] < 0:
        module.fail_json(msg="probe_runs must be at least 1, probe_timeout and small_table_rows not negative", changed=False)
    if params["unique_precheck_timeout_seconds"] < 0:
        module.fail_json(msg="unique_precheck_timeout_seconds must not be negative", changed=False)
    checks, engine, version, summary, holder, database = [], None, None, None, None, None
    loaded, fingerprint, plan_times = None, None, None
    try:
        engine = connection_params(params).engine
    except SafeIndexError as exc:
        # Bad connection settings (a malformed database_url): the connection's failure, not the spec's.
        checks.append(preflight.row("connection", "fail", str(exc)))
    if params["start_run"]:
        # Before anything can fail: the report of a refused run is built from this record too.
        who = {key: value for key, value in (("host", params["host"]), ("engine", engine)) if value}
        record_start(params["run_dir"], params["run_id"], dict(params["run_details"], **who), module.check_mode)
        record_phase(params["run_dir"], "phase_start", "preflight", module.check_mode)
    # The runbook's emergency contacts come by the task's environment (personal data: never a module argument).
    contacts_row, contacts = emergency.preflight_check(params["run_dir"] if params["start_run"] else None, module.check_mode)
    if contacts_row:
        checks.append(contacts_row)
    if engine:
        try:
            loaded = planning.load(params["spec_path"], engine)
            fingerprint = loaded[0]
        except SafeIndexError as exc:
            checks.append(preflight.row("index spec", "fail", str(exc).replace("\n", " ")))
    # Not core.module.connected(): here a connection that fails is one failed check among the others, not the end.
    dialect = None
    if engine:
        try:
            dialect = connect(module, "db_preflight")
        except SafeIndexError as exc:
            checks.insert(0, preflight.row("connection", "fail", str(exc)))
    try:
        if dialect is not None:
            version = dialect.server_version()
            database = dialect.params.describe()
            checks.insert(0, preflight.row("connection", "ok", "connected to %s" % database))
            # The lock first: with it held, an earlier run's build still running is an orphan, stopped before the
            # spec's catalog reads queue behind its metadata lock (MariaDB) or the plan misses what it leaves.
            lock_row, holder = run_lock(module, dialect)
            if lock_row["result"] == "ok":
                checks.append(orphans_row(dialect, params["run_id"], module.check_mode))
            if loaded:
                spec_row, summary = spec_check(module, dialect, loaded)
                checks.append(spec_row)
            tables = sorted({i.table for i in loaded[1]}) if loaded else []
            checks.extend(database_checks(module, dialect, tables, summary))
            checks.append(unique_check(module, dialect, loaded, summary))
            try:
                plan_times = plan_estimates(module, dialect, summary)
            except SafeIndexError as exc:  # a plan without times is still a plan: said, not fatal
                plan_times = None
                module.warn("could not estimate the build times: %s" % exc)
        else:
            lock_row = preflight.row("run lock", "skip", "not connected")
        checks.append(preflight.guarded("maintenance window", preflight.maintenance_window, params["maintenance_window"],
                                        params["ignore_maintenance_window"]))
        checks.append(preflight.guarded("deployment", preflight.deployment, params["deployment_check"]))
        checks.append(lock_row)
        checks.append(preflight.guarded("rehearsal", preflight.rehearsal, params["environment_name"], fingerprint, engine,
                                        params["rehearsal_dir"] or "", params["skip_rehearsal_gate"]))
        failed = ["%s: %s" % (c["check"], c["detail"]) for c in checks if c["result"] == "fail"]
        warned = ["%s: %s" % (c["check"], c["detail"]) for c in checks if c["result"] == "warn"]
        result = dict(changed=False, engine=engine, server_version=version, checks=checks, table=preflight.table(checks),
                      failed_checks=failed, warnings_found=warned, spec=summary, lock_holder_pid=holder, database=database,
                      estimates=plan_times,
                      refused_by_lock=lock_row["result"] == "fail")
        # The report is built from the run record alone: the checks, the plan and where preflight connected go there.
        record_phase_result(params["run_dir"], "preflight", result, module.check_mode)
        if failed:
            module.fail_json(msg="preflight refused the run:\n" + "\n".join(failed), probes_before=None, notice_before=None, **result)
        probes_before, probe_failure = None, None
        if params["probe_baseline"]:
            probes_before, probe_failure = probe_baseline(module, dialect, loaded)
    finally:
        if dialect is not None:
            dialect.close()
    if probe_failure:
        module.fail_json(msg=probe_failure, probes_before=probes_before, notice_before=None, **result)
    notice = None
    if params["before_notice"] is not None:
        notice, notice_failure = before_notice(module, summary, database, engine, contacts, plan_times)
        if notice_failure:
            module.fail_json(msg=notice_failure, probes_before=probes_before, notice_before=None, **result)
    if params["start_run"]:
        record_phase(params["run_dir"], "phase_end", "preflight", module.check_mode)
    module.exit_json(probes_before=probes_before, notice_before=notice, **result)


if __name__ == "__main__":
    main()
