"""The run options (module_utils/safeindex/core/run_options.py): the run's id and its folder.

A module states what differs in its own DOCUMENTATION (for example `run_id: {required: true}`, or a description of
what it writes there); Ansible merges that over these."""


class ModuleDocFragment:
    # run_id and run_dir
    DOCUMENTATION = r"""
options:
  run_id:
    description:
      - Id of the run. It names the run's folders, is written into the comment of every index the run builds (the
        ownership marker rollback uses) and into the names of the run's database sessions.
      - 1 to 64 letters, digits, C(.), C(_) or C(-), starting with a letter or digit; any other value fails the module
        before anything changes.
    type: str
  run_dir:
    description:
      - The run's folder, C(artifacts/<inventory_hostname>/<run_id>), whose C(record.jsonl) the module appends to.
    type: path
"""

    # run_id alone, for the modules that keep no run record
    RUN_ID = r"""
options:
  run_id:
    description:
      - Id of the run. It names the run's folders, is written into the comment of every index the run builds (the
        ownership marker rollback uses) and into the names of the run's database sessions.
      - 1 to 64 letters, digits, C(.), C(_) or C(-), starting with a letter or digit; any other value fails the module
        before anything changes.
    type: str
"""

    # run_dir alone, for the modules that do not take the run's id
    RUN_DIR = r"""
options:
  run_dir:
    description:
      - The run's folder, C(artifacts/<inventory_hostname>/<run_id>), whose C(record.jsonl) the module appends to.
    type: path
"""
