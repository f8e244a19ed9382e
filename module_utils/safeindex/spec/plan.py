"""Load an index spec file for one engine, check it against the database and plan each index.

db_preflight plans with it before any backup: what a run will build is decided in one place.
"""

import os

from ansible.module_utils.safeindex.build.indexer import BuildOptions, IndexFailed, ensure_present
from ansible.module_utils.safeindex.core.errors import SpecError
from ansible.module_utils.safeindex.spec.parse import fingerprint, load_spec

try:
    import yaml
except ImportError:  # PyYAML comes with ansible-core
    yaml = None


def read_spec_file(path):
    if not os.path.isfile(path):
        raise SpecError("index spec file %s does not exist" % path)
    try:
        with open(path) as handle:
            return yaml.safe_load(handle)
    except yaml.YAMLError as exc:
        raise SpecError("index spec file %s is not valid YAML: %s" % (path, exc)) from None


def as_module_args(spec):
    """An IndexSpec as db_index options."""
    columns = []
    for column in spec.columns:
        entry = {"name": column.name} if column.expression is None else {"expression": column.expression}
        if column.descending:
            entry["order"] = "desc"
        if column.nulls_first is not None:
            entry["nulls"] = "first" if column.nulls_first else "last"
        if column.length:
            entry["length"] = column.length
        columns.append(entry)
    args = {"name": spec.name, "table": spec.table, "columns": columns, "unique": spec.unique, "method": spec.method}
    for key in ("schema", "where"):
        if getattr(spec, key):
            args[key] = getattr(spec, key)
    if spec.include:
        args["include"] = list(spec.include)
    if not spec.nulls_distinct:
        args["nulls_distinct"] = False
    return args


def load(path, engine):
    """The parsed file's fingerprint and the spec for `engine`; SpecError if either is wrong."""
    data = read_spec_file(path)
    indexes, probes = load_spec(data, engine)
    return fingerprint(data), indexes, probes


def plan(dialect, indexes, on_equivalent="skip"):
    """What db_index will do with each index; SpecError listing every index that does not fit the database."""
    options = BuildOptions(run_id="plan", on_equivalent=on_equivalent)
    actions, equivalents, problems = {}, {}, []
    for spec in indexes:
        try:
            planned = ensure_present(dialect, spec, options, check_mode=True)
        except (SpecError, IndexFailed) as exc:
            problems.append(str(exc))
            continue
        actions[spec.name] = planned.action
        if planned.equivalent_to:
            equivalents[spec.name] = planned.equivalent_to
    if problems:
        raise SpecError("the index spec does not fit the database:\n  - " + "\n  - ".join(problems), problems=problems)
    return actions, equivalents


def summary(fingerprint_value, indexes, probes, actions=None, equivalents=None):
    """What a playbook needs of a spec: the entries for db_index, the plan, the probes."""
    actions = actions or {}
    return {
        "fingerprint": fingerprint_value,
        "indexes": [as_module_args(i) for i in indexes],
        "names": [i.name for i in indexes],
        "tables": sorted({i.table for i in indexes}),
        "probes": [dict(name=p.name, sql=p.sql, expect_index=p.expect_index) for p in probes],
        "plan": actions,
        "pending": [name for name, action in actions.items() if action in ("created", "rebuilt_invalid")],
        "equivalents": equivalents or {},
    }
