#!/usr/bin/python
"""Ansible module db_backup: a backup that proves itself before any index work."""

DOCUMENTATION = r"""
module: db_backup
short_description: Take a database backup and prove it restores
description:
  - Dumps the database with its own client tools and proves the dump before calling it a backup.
  - PostgreSQL uses C(pg_dump), custom format by default, or directory format with O(jobs) for a parallel dump. Each
    table's rows are counted in an exported snapshot that C(pg_dump) reads too (C(--snapshot)), so the counts are exactly
    the dump's.
  - MySQL and MariaDB use C(mariadb-dump) or C(mysqldump) with C(--single-transaction --routines --triggers --events
    --hex-blob), compressed with gzip as it streams. The rows are counted just before and just after the dump.
  - The password never appears in a command line or an environment variable. It goes to a 0600 passfile
    (PostgreSQL) or defaults-extra-file (MySQL) in a private temporary folder, removed afterwards.
  - The dump and its C(manifest.json) are written 0600 in C(<backup_dir>/<host_name>/<run_id>/). The manifest holds
    the engine, server and client versions, database, start and end, size, sha256, format, and every table with its
    row count.
  - O(verify) sets how the dump is proven, each level including the ones before it. V(checksum) re-reads the dump
    and matches its sha256. V(list) reads the dump's table of contents (C(pg_restore --list), or the dump's
    C(CREATE TABLE) statements) and finds every table. V(restore) restores the dump and compares every table's row
    count with the manifest, where O(verify_target) says.
  - O(verify_target=scratch) (the default) restores on the controller, into an ephemeral server of the module's own. It
    lives in a temporary folder (O(verify_scratch_dir)), on a random loopback port, with a random password. It is
    stopped and removed when the check ends, also when it fails or the module is stopped (SIGTERM, SIGINT). For
    PostgreSQL it is the newest server build on the controller whose major is the source's or later; for the MySQL
    family it is MariaDB. The dump is restored while it is written (custom format and MySQL's SQL). A directory-format
    dump is restored once it is whole. The production server only serves the dump. The controller must have room for
    the database (and the dump, when both are on one disk), or the module refuses before it dumps.
  - Where the scratch server cannot load the dump (no fitting PostgreSQL build, or collations MariaDB lacks, such as a
    MySQL 8 database's C(utf8mb4_0900_ai_ci)), the backup fails naming the cause and the settings that work instead.
    It never falls back in silence.
  - O(verify_target=server) restores into a scratch database on the production server itself
    (C(safeindex_verify_<run_id>_<database>_<digest>), dropped afterwards). Use it on controllers that cannot run a
    server. The price is a second copy of the data on the server for a while, and the restore's I/O competing with
    the application.
  - The client's version is checked first. A C(pg_dump) older than the server is an error before anything runs.
  - There must be room in O(backup_dir) for the database's size times O(space_factor), or the module refuses.
  - A dump is written under a C(.partial) name and renamed only after it passes verification. Only then is the
    manifest written. A failed dump or verification leaves no file that looks like a backup.
  - After a verified backup, this host's backups older than O(retention_days) are removed. Only backups whose
    manifest says this tool made them are touched, and only the files that manifest names.
  - With O(s3_bucket), the dump and manifest are uploaded with server-side encryption and the sha256 as object
    metadata. Each object is checked after upload.
  - O(state=verified) proves an existing backup again, found by O(manifest_path) or by O(backup_dir), O(host_name)
    and O(run_id).
  - In check mode the module says what it would dump, where, and how big the database is, and writes nothing.
version_added: "0.1.0"
author: safeindex developers (!UNKNOWN)
options:
  state:
    description: V(present) takes a backup, V(verified) proves an existing one.
    type: str
    choices: [present, verified]
    default: present
  run_id:
    description: Id of the run the backup belongs to; part of its path. Required when O(state=present).
  host_name:
    description: The folder under O(backup_dir) for this database, normally C(inventory_hostname).
    type: str
  backup_dir:
    description: Where backups are kept.
    type: path
  manifest_path:
    description: The manifest of the backup to prove, for O(state=verified).
    type: path
  format:
    description:
      - V(custom) (the default for PostgreSQL) or V(directory) (PostgreSQL, needed for a parallel dump).
        V(sql) (gzip-compressed SQL) is MySQL's only format and its default.
    type: str
    choices: [custom, directory, sql]
  jobs:
    description: Parallel jobs for a directory-format dump and for the restore check (PostgreSQL).
    type: int
    default: 1
  verify:
    description: How the backup is proven.
    type: str
    choices: [checksum, list, restore]
    default: restore
  verify_target:
    description:
      - Where O(verify=restore) restores. V(scratch) is an ephemeral server on the controller; the production server
        only serves the dump. V(server) is a scratch database on the production server.
      - The result's RV(verified) says where the check ran (C(target)).
    type: str
    choices: [scratch, server]
    default: scratch
  verify_scratch_dir:
    description:
      - The folder the scratch server of O(verify_target=scratch) lives in.
      - When unset, a database under 2 GiB that takes at most a quarter of the free space of C(/dev/shm) (memory) is
        checked there, where the server starts and restores several times faster. Otherwise the system's temporary
        folder is used.
    type: path
  stall_timeout:
    description:
      - Seconds of silence on the network after which the dump or the restore check's client gives its connection up
        as lost, so that a cut network fails the backup instead of hanging it. V(0) turns this off.
      - PostgreSQL's pg_dump and pg_restore get libpq's TCP keepalives (a probe after a quarter of it, three more a
        quarter apart) and C(tcp_user_timeout) of this many seconds. Their server sessions get the same settings
        (C(tcp_keepalives_*), C(tcp_user_timeout), as the connection's C(options)), so the server ends them too
        instead of keeping the dump's snapshot. A PgBouncer in front refuses C(options) unless its
        C(ignore_startup_parameters) lists it; V(0) sends none of these settings.
      - mariadb-dump and mariadb have no network timeout of their own. A watchdog stops the client when no byte of the
        dump (written by the dump, read by the restore) has moved for this long.
    type: int
    default: 120
  retention_days:
    description: Remove this tool's backups of this host older than this many days after a verified backup; V(0) keeps all.
    type: int
    default: 7
  space_factor:
    description: The free space O(backup_dir) must have, as a multiple of the database's size.
    type: float
    default: 1.0
  compress_level:
    description:
      - gzip level of the dump, V(0) (none) to V(9). At V(1) a dump takes about as long as an uncompressed one
        and is about a fifth of its size. At V(6), zlib's usual default, it takes about twice as long for a
        file a third smaller (bench/README.md).
    type: int
    default: 1
  s3_bucket:
    description: Upload the verified backup to this S3 bucket.
    type: str
  s3_prefix:
    description: Key prefix in the bucket; objects go to C(<prefix>/<host_name>/<run_id>/).
    type: str
    default: ""
  s3_sse:
    description: Server-side encryption of the uploaded objects.
    type: str
    choices: [AES256, "aws:kms"]
    default: AES256
  s3_kms_key_id:
    description: KMS key for O(s3_sse=aws:kms); the bucket's default key when unset.
    type: str
  run_dir:
    description: The run's folder, C(artifacts/<host>/<run_id>); its C(record.jsonl) gets this module's result, which the
      run's report is built from, and, for O(state=present), the start of the run's C(backup) phase and its end once
      the backup is proven. Nothing is written in check mode or without it.
    type: path
attributes:
  check_mode:
    support: full
    details: Dumps nothing; returns the plan (path, format, sizes, free space, the client command) and the backups retention would remove.
  diff_mode:
    support: none
extends_documentation_fragment:
  - safeindex_platform
  - safeindex_client
  - ansible.builtin.action_common_attributes
  - safeindex_connection
  - safeindex_progress
  - safeindex_aws
  - safeindex_run
notes:
  - Supports check mode.
  - O(verify=restore) with O(verify_target=scratch) needs a server build on the controller. That is PostgreSQL of
    the source's major or later (C(make setup) installs 17 and 18), or MariaDB for the MySQL family.
  - O(verify=restore) with O(verify_target=server) needs the right to create the scratch database. That is
    C(CREATEDB) on PostgreSQL and C(CREATE) on C(safeindex_verify_%) on MySQL. It also needs room for a second copy of
    the data on the server. Use O(verify=list) where either is missing.
"""

EXAMPLES = r"""
- name: Back up before building indexes, proven by a restore
  db_backup:
    database_url: "{{ database_url }}"
    run_id: "{{ run_id }}"
    host_name: "{{ inventory_hostname }}"
    backup_dir: /var/backups/safeindex
  register: backup

- name: A parallel dump of a big PostgreSQL database, proven by its table of contents, kept in S3
  db_backup:
    database_url: "{{ database_url }}"
    run_id: "{{ run_id }}"
    host_name: "{{ inventory_hostname }}"
    backup_dir: /var/backups/safeindex
    format: directory
    jobs: 4
    verify: list
    s3_bucket: acme-db-backups
    s3_prefix: safeindex

- name: Prove last night's backup again
  db_backup:
    database_url: "{{ database_url }}"
    state: verified
    manifest_path: /var/backups/safeindex/db1/20261124T220000Z-1a2b/manifest.json
"""

RETURN = r"""
path:
  description: The dump (a file, or a folder for the directory format).
  returned: success
  type: str
  sample: "/var/backups/safeindex/prod_db/2026-12-01T1015Z/app.dump"
manifest_path:
  description: The backup's manifest.
  returned: success
  type: str
  sample: "/var/backups/safeindex/prod_db/2026-12-01T1015Z/manifest.json"
size_bytes:
  description: Size of the dump.
  returned: success
  type: int
  sample: 734003200
sha256:
  description: SHA-256 of the dump (for a directory dump, of its files' names and digests).
  returned: success
  type: str
  sample: "3b9c358f36f0a20c3d4e1e2f0d2b4c5a6e7f8091a2b3c4d5e6f708192a3b4c5d"
format:
  description: The dump's format.
  returned: success
  type: str
  sample: "custom"
duration_seconds:
  description: Time to dump and verify.
  returned: success
  type: float
  sample: 212.4
verified:
  description:
    - The proof, with C(level), C(result) (V(ok)), C(tables_checked), C(mismatches) and C(seconds).
    - At level V(restore), C(target) says where the check ran (V(server), or the scratch server, for example
      C(scratch PostgreSQL 18.6 on the controller)). On a scratch server, C(streamed) says whether the dump was
      restored while it was written, and C(scratch_start_seconds) what starting the server took.
  returned: success
  type: dict
  sample: {"level": "restore", "result": "ok", "tables_checked": 12, "mismatches": [], "seconds": 98.1,
           "target": "scratch PostgreSQL 18.6 on the controller", "streamed": true, "scratch_start_seconds": 0.9}
tables:
  description: Each table with its row count (C(rows), and C(rows_after) on MySQL).
  returned: success
  type: list
  elements: dict
  sample: [{"table": "public.message", "rows": 1250000}]
reused:
  description: True when this run's backup already existed and was verified, so nothing was dumped.
  returned: success
  type: bool
  sample: false
s3:
  description: The uploaded objects.
  returned: when s3_bucket is set
  type: list
  elements: str
  sample: ["backups/prod_db/2026-12-01T1015Z/app.dump", "backups/prod_db/2026-12-01T1015Z/manifest.json"]
retention_removed:
  description: Old backups removed (or, in check mode, that would be removed).
  returned: when state is present
  type: list
  elements: str
  sample: ["/var/backups/safeindex/prod_db/2026-11-20T0900Z"]
plan:
  description: In check mode, what would be dumped, where and how big (path, format, database_size_bytes,
    estimated_dump_bytes, free_bytes, space_problem, command, client, verify, verify_target, scratch_space_problem).
  returned: in check mode
  type: dict
  sample:
    {
      "path": "/var/backups/safeindex/prod_db/2026-12-01T1015Z/app.dump",
      "format": "custom",
      "database_size_bytes": 2147483648,
      "estimated_dump_bytes": 751619276,
      "free_bytes": 53687091200,
      "space_problem": null,
      "client": "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)",
      "verify": "restore",
      "verify_target": "scratch",
      "scratch_space_problem": null
    }
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.backup import take as backup
from ansible.module_utils.safeindex.build.progress import PROGRESS_ARGUMENT_SPEC
from ansible.module_utils.safeindex.core.aws_options import AWS_ARGUMENT_SPEC, aws_settings
from ansible.module_utils.safeindex.core.module import argument_spec, connected
from ansible.module_utils.safeindex.core.run_options import check_run_options, run_options
from ansible.module_utils.safeindex.engines import dumper_for
from ansible.module_utils.safeindex.run.record import record_phase, record_phase_result

ARGUMENT_SPEC = argument_spec(
    state=dict(type="str", choices=["present", "verified"], default="present"),
    **run_options(),
    host_name=dict(type="str"),
    backup_dir=dict(type="path"),
    manifest_path=dict(type="path"),
    format=dict(type="str", choices=["custom", "directory", "sql"]),
    jobs=dict(type="int", default=1),
    verify=dict(type="str", choices=["checksum", "list", "restore"], default="restore"),
    verify_target=dict(type="str", choices=["scratch", "server"], default="scratch"),
    verify_scratch_dir=dict(type="path"),
    stall_timeout=dict(type="int", default=120),
    retention_days=dict(type="int", default=7),
    space_factor=dict(type="float", default=1.0),
    compress_level=dict(type="int", default=1),
    client_bin_dir=dict(type="path"),
    s3_bucket=dict(type="str"),
    s3_prefix=dict(type="str", default=""),
    s3_sse=dict(type="str", choices=["AES256", "aws:kms"], default="AES256"),
    s3_kms_key_id=dict(type="str"),
    **AWS_ARGUMENT_SPEC,
    **PROGRESS_ARGUMENT_SPEC,
)


def upload_to_s3(params, result):
    """Upload the dump's files and its manifest; keys <prefix>/<host>/<run_id>/<file>."""
    # Only here: boto3 takes a while to import, and only a backup that goes to S3 needs it.
    from ansible.module_utils.safeindex.aws import s3

    client = s3.s3_client(*aws_settings(params))
    folder = os.path.dirname(result["manifest_path"])
    base = "%s/%s" % (params["host_name"], params["run_id"])
    files = []
    dump = result["path"]
    paths = [os.path.join(dump, n) for n in sorted(os.listdir(dump))] if os.path.isdir(dump) else [dump]
    for path in paths + [result["manifest_path"]]:
        digest = result["sha256"] if path == dump else backup.checksum(path, False)
        files.append((path, "%s/%s" % (base, os.path.relpath(path, folder)), digest))
    metadata = {"safeindex-run-id": params["run_id"], "safeindex-backup-sha256": result["sha256"]}
    return s3.upload(client, files, params["s3_bucket"], params["s3_prefix"], metadata, params["s3_sse"], params["s3_kms_key_id"])


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        required_if=[("state", "present", ("run_id", "host_name", "backup_dir"))],
    )
    params = module.params
    check_run_options(module)
    if params["jobs"] < 1 or params["space_factor"] < 0 or params["retention_days"] < 0 or not 0 <= params["compress_level"] <= 9 \
            or params["stall_timeout"] < 0:
        module.fail_json(msg="jobs must be at least 1, compress_level 0 to 9; space_factor, retention_days and stall_timeout"
                             " not negative")
    options = backup.BackupOptions(
        run_id=params["run_id"], host_name=params["host_name"], backup_dir=params["backup_dir"], format=params["format"],
        jobs=params["jobs"], verify=params["verify"], retention_days=params["retention_days"], space_factor=params["space_factor"],
        compress_level=params["compress_level"], verify_target=params["verify_target"], scratch_dir=params["verify_scratch_dir"],
    )
    # A backup of a run (state present, with run_dir) is the run's backup phase: its start and, once the dump is proven,
    # its end go to the record (a backup that fails leaves the phase unfinished, as the report shows it).
    phase = params["state"] == "present" and not module.check_mode
    if phase:
        record_phase(params["run_dir"], "phase_start", "backup", run_id=params["run_id"])
    with connected(module, "db_backup", dict(changed=False)) as dialect:
        dumper = dumper_for(dialect.params, params["client_bin_dir"], params["progress_file"], dialect.server_version())
        dumper.stall_timeout = params["stall_timeout"]
        allowed = dialect.features.backup_formats
        if params["format"] and params["format"] not in allowed:
            raise backup.BackupFailed("format %s does not apply to %s: use %s" % (params["format"], dialect.engine, " or ".join(allowed)))
        if params["state"] == "verified":
            manifest_path = params["manifest_path"] or (
                os.path.join(backup.run_dir(options), backup.MANIFEST) if params["backup_dir"] and params["host_name"] and params["run_id"]
                else None)
            if not manifest_path:
                raise backup.BackupFailed("state=verified needs manifest_path, or backup_dir, host_name and run_id")
            proof = backup.verify_existing(dialect, dumper, manifest_path, params["verify"], params["jobs"],
                                           params["verify_target"])
            module.exit_json(changed=False, **proof)
        if module.check_mode:
            plan = backup.plan(dialect, dumper, options)
            module.exit_json(changed=True, plan=plan, path=plan["path"], retention_removed=backup.apply_retention(options, True))
        result = backup.take(dialect, dumper, options)
        if params["s3_bucket"]:
            result["s3"] = upload_to_s3(params, result)
        result["retention_removed"] = backup.apply_retention(options)
        record_phase_result(params["run_dir"], "backup", result, module.check_mode)
    if phase:
        record_phase(params["run_dir"], "phase_end", "backup", run_id=params["run_id"])
    module.exit_json(changed=not result["reused"], **result)


if __name__ == "__main__":
    main()
