#!/usr/bin/python
"""Ansible module db_index_spec: read an index spec file and prove it fits the database, before any change."""

DOCUMENTATION = r"""
module: db_index_spec
short_description: Load and validate an index spec against the live schema
description:
  - Reads an index spec file (C(indexes:) and C(probes:)), applies the per-engine overrides of each entry, and checks
    every entry, all at once, before anything changes. Structure, names, duplicate names and engine support are checked
    locally; that each table and column exists and that the server accepts each definition is checked against the database.
  - Plans each index against the catalog, as M(db_index) would, and returns which need work (O(check_server)).
    An index whose name exists with another definition is a problem of the spec, so the module fails, showing both
    definitions, so a run refuses before any backup or change.
  - Returns the entries in the form M(db_index) takes, so a playbook can loop over them.
  - Read-only; supports check mode.
version_added: "0.1.0"
author: safeindex developers
options:
  path:
    description: The spec file (YAML).
    type: path
    required: true
  check_server:
    description: Also check the tables, columns and definitions against the database, and plan each index.
    type: bool
    default: true
  on_equivalent:
    description: How M(db_index) will treat an equal index under another name, so the plan matches.
    type: str
    choices: [skip, create]
    default: skip
extends_documentation_fragment:
  - safeindex_connection
"""

EXAMPLES = r"""
- name: Load the index spec for this host's engine
  db_index_spec:
    path: "{{ playbook_dir }}/migrations/indexes.yml"
    database_url: "{{ database_url }}"
  register: index_spec
"""

RETURN = r"""
indexes:
  description: The entries for this engine, overrides applied, in the order of the file.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "idx_user_role", "table": "user", "columns": [{"name": "role"}], "unique": false, "method": "btree"}]
probes:
  description: The probe queries for this engine (name, sql, expect_index).
  returned: always
  type: list
  elements: dict
names:
  description: The index names, in order.
  returned: always
  type: list
  elements: str
fingerprint:
  description: SHA-256 of the spec's content (formatting and comments aside).
  returned: always
  type: str
engine:
  description: The engine the entries were resolved for.
  returned: always
  type: str
plan:
  description: What M(db_index) will do with each index (V(created), V(exists), V(rebuilt_invalid), V(skipped_equivalent)).
  returned: when check_server
  type: dict
  sample: {"idx_user_role": "created", "idx_user_username": "exists"}
pending:
  description: The indexes that need work (to build, or to rebuild from an INVALID leftover), in order.
  returned: when check_server
  type: list
  elements: str
equivalents:
  description: Spec index names mapped to the existing index, under another name, that equals them.
  returned: when check_server
  type: dict
tables:
  description: The tables the spec indexes, each once.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.safeindex.core.connection import connection_params
from ansible.module_utils.safeindex.core.errors import SafeIndexError
from ansible.module_utils.safeindex.core.module import argument_spec, connect, fail
from ansible.module_utils.safeindex.spec import plan as planning

ARGUMENT_SPEC = argument_spec(
    path=dict(type="path", required=True),
    check_server=dict(type="bool", default=True),
    on_equivalent=dict(type="str", choices=["skip", "create"], default="skip"),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    dialect = None
    actions, equivalents = {}, {}
    try:
        engine = connection_params(module.params).engine
        fingerprint, indexes, probes = planning.load(module.params["path"], engine)
        if module.params["check_server"]:
            dialect = connect(module, "db_index_spec")
            actions, equivalents = planning.plan(dialect, indexes, module.params["on_equivalent"])
    except SafeIndexError as exc:
        fail(module, exc, changed=False)
    finally:
        if dialect is not None:
            dialect.close()
    module.exit_json(changed=False, engine=engine, **planning.summary(fingerprint, indexes, probes, actions, equivalents))


if __name__ == "__main__":
    main()
