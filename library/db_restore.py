#!/usr/bin/python
"""Ansible module db_restore: a run's verified backup restored into a new database, or over the live one when confirmed."""

DOCUMENTATION = r"""
module: db_restore
short_description: Restore a verified safeindex backup into a new database, or in place when confirmed
description:
  - O(state=restored) restores the backup of O(manifest_path) (a C(db_backup) manifest) into a NEW database on the same
    server, O(database) (by default C(<db_name>_restored_<run_id>), the run id's C(-) and C(.) made C(_)). Then it counts
    every table's rows and compares them with the manifest. The live database is not touched.
  - The backup must have been verified and its dump must still have the manifest's sha256.
  - The target must not exist, unless it is this same backup's complete restore, as O(restore_record) says, and its
    row counts still match the manifest. Then the module reports ok without change.
  - A restore that fails, or whose row counts do not match, drops the database it created.
  - O(in_place=true) restores over the connected database itself. O(confirm) must equal its name, or the module refuses
    before anything. PostgreSQL runs C(pg_restore --clean --if-exists --single-transaction), so a failure changes
    nothing. MySQL replays the dump, whose statements drop and recreate each of its tables.
    Take a safety backup first (C(db_backup)).
  - O(state=compared) only reads. It returns each table's row count now against the backup's (RV(deltas)), the rows a
    restore in place would lose.
  - In check mode nothing is created or restored.
version_added: "0.1.0"
author: safeindex developers (!UNKNOWN)
options:
  state:
    description: V(restored) restores, V(compared) reports the row count deltas since the backup.
    type: str
    choices: [restored, compared]
    default: restored
  manifest_path:
    description: The backup's C(manifest.json), as C(db_backup) wrote it.
    type: path
    required: true
  run_id:
    description: The run the backup belongs to; names the default target and the session.
  database:
    description: Name of the new database; letters, digits and C(_). Defaults to C(<db_name>_restored_<run_id>).
    type: str
  in_place:
    description: Restore over the connected database instead of into a new one.
    type: bool
    default: false
  confirm:
    description: With O(in_place), the connected database's name, typed out.
    type: str
  restore_record:
    description: A file (0600) written when a restore into a new database is complete; a later run that finds it
      and the same rows reports ok without change.
    type: path
  jobs:
    description: Parallel jobs of C(pg_restore) into a new PostgreSQL database.
    type: int
    default: 1
attributes:
  check_mode:
    support: full
    details: Restores nothing; checks the confirmation, the manifest and the target.
  diff_mode:
    support: none
extends_documentation_fragment:
  - safeindex_platform
  - safeindex_client
  - ansible.builtin.action_common_attributes
  - safeindex_connection
  - safeindex_progress
  - safeindex_run.run_id
notes:
  - Supports check mode.
  - A restore into a new database needs C(CREATEDB) on PostgreSQL, or C(CREATE) on the target's name on MySQL
    (e.g. C(GRANT ALL ON `app\_restored\_%`.* TO app)). It needs room on the server for a second copy of the data.
  - A restore in place needs the rights to drop and create the backup's tables (their owner).
"""

EXAMPLES = r"""
- name: Restore a run's backup beside the live database
  db_restore:
    database_url: "{{ database_url }}"
    manifest_path: /var/backups/safeindex/db1/20261124T220000Z-1a2b/manifest.json
    run_id: 20261124T220000Z-1a2b
  register: restored

- name: How many rows changed since the backup
  db_restore:
    database_url: "{{ database_url }}"
    state: compared
    manifest_path: /var/backups/safeindex/db1/20261124T220000Z-1a2b/manifest.json

- name: Restore over the live database (after a safety backup)
  db_restore:
    database_url: "{{ database_url }}"
    manifest_path: /var/backups/safeindex/db1/20261124T220000Z-1a2b/manifest.json
    in_place: true
    confirm: app
"""

RETURN = r"""
database:
  description: The database restored into (V(compared), the database compared).
  returned: success
  type: str
  sample: "app_restored_first_run"
database_url:
  description: The DATABASE_URL of that database, without the password.
  returned: when state is restored
  type: str
  sample: "postgresql://app_owner@db.internal:5432/app_restored_first_run"
manifest_path:
  description: The backup's manifest.
  returned: success
  type: str
  sample: "/var/backups/safeindex/prod_db/first-run/manifest.json"
dump_path:
  description: The dump restored.
  returned: when state is restored
  type: str
  sample: "/var/backups/safeindex/prod_db/first-run/app.dump"
in_place:
  description: Whether the live database was restored over.
  returned: when state is restored
  type: bool
  sample: false
already_restored:
  description: True when the target was this backup's complete restore already, so nothing was done.
  returned: when state is restored
  type: bool
  sample: false
tables:
  description: Each table (C(table)) with its rows in the backup (C(backup_rows)) and in the restored database (C(rows)).
  returned: when state is restored
  type: list
  elements: dict
  sample: [{"table": "public.message", "backup_rows": 1250000, "rows": 1250000}]
deltas:
  description: Each table (C(table)) with its rows in the backup (C(backup_rows)), now (C(rows), null if the table is
    gone) and the difference (C(delta)).
  returned: when state is compared
  type: list
  elements: dict
  sample: [{"table": "public.message", "backup_rows": 1250000, "rows": 1250342, "delta": 342}]
delta_lines:
  description: One line per table whose row count changed since the backup.
  returned: when state is compared
  type: list
  elements: str
  sample: ["public.message: 1250000 -> 1250342 (+342)"]
rows_changed:
  description: The sum of the absolute row count differences.
  returned: when state is compared
  type: int
  sample: 342
tables_added:
  description: Tables the database has now that the backup does not (a restore in place leaves them as they are).
  returned: when state is compared
  type: list
  elements: str
  sample: ["public.audit_log"]
refused:
  description: True when the module refused before changing anything (an existing target, no confirmation, no right
    to create the database, a backup that is not verified).
  returned: when refused
  type: bool
  sample: false
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.backup import restore
from ansible.module_utils.safeindex.build.progress import PROGRESS_ARGUMENT_SPEC
from ansible.module_utils.safeindex.core.module import argument_spec, connected
from ansible.module_utils.safeindex.core.run_options import check_run_options, run_options
from ansible.module_utils.safeindex.engines import dumper_for

ARGUMENT_SPEC = argument_spec(
    state=dict(type="str", choices=["restored", "compared"], default="restored"),
    manifest_path=dict(type="path", required=True),
    **run_options("run_id"),
    database=dict(type="str"),
    in_place=dict(type="bool", default=False),
    confirm=dict(type="str"),
    restore_record=dict(type="path"),
    jobs=dict(type="int", default=1),
    client_bin_dir=dict(type="path"),
    **PROGRESS_ARGUMENT_SPEC,
)


def compared(dialect, params):
    manifest, _path = restore.load(params["manifest_path"])
    deltas, added = restore.row_deltas(dialect, manifest)
    changed_rows = sum(abs(d["delta"]) if d["delta"] is not None else d["backup_rows"] for d in deltas)
    return {"changed": False, "database": dialect.params.database, "manifest_path": params["manifest_path"],
            "deltas": deltas, "delta_lines": restore.delta_lines(deltas), "rows_changed": changed_rows, "tables_added": added}


def restored(module, dialect):
    params = module.params
    dumper = dumper_for(dialect.params, params["client_bin_dir"], params["progress_file"], dialect.server_version())
    if params["in_place"]:
        if module.check_mode:
            restore.check_confirmation(dialect.params.database, params["confirm"])
            restore.load(params["manifest_path"])
            return {"changed": True, "database": dialect.params.database, "in_place": True}
        result = restore.restore_in_place(dialect, dumper, params["manifest_path"], params["confirm"], params["jobs"])
        return dict(result, changed=True)
    target = params["database"] or restore.default_target(dialect.params.database, params["run_id"] or "")
    if not params["database"] and not params["run_id"]:
        raise restore.RestoreRefused("give database (the new database's name) or run_id")
    result, changed = restore.restore_new(dialect, dumper, params["manifest_path"], target, params["jobs"],
                                          params["restore_record"], module.check_mode)
    return dict(result, changed=changed)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    check_run_options(module)
    if params["jobs"] < 1:
        module.fail_json(msg="jobs must be at least 1")
    # Refuse an unconfirmed restore in place before even connecting.
    if params["state"] == "restored" and params["in_place"] and not params["confirm"]:
        module.fail_json(msg="a restore in place needs confirm=<the database's name>; nothing was touched", changed=False,
                         refused=True)
    with connected(module, "db_restore", dict(changed=False)) as dialect:
        result = compared(dialect, params) if params["state"] == "compared" else restored(module, dialect)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
