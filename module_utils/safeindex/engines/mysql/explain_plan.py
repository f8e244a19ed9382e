"""Reading MySQL's and MariaDB's EXPLAIN FORMAT=JSON; no server needed.

Both give a tree of objects in which each table access is an object with "table_name"; they nest it differently
(MySQL 8: "ordering_operation", "nested_loop"; MariaDB: "read_sorted_file", "filesort", "temporary_table",
"subqueries"), so the walk looks into every value rather than follow known keys.
"""

from ansible.module_utils.safeindex.engines.interface.explain import PlanReading

FULL_SCAN = ("ALL",)
# Objects below a table access that are themselves plans (a subquery in a condition), not part of the access.
NESTED_PLANS = ("query_block", "table", "nested_loop", "subqueries", "attached_subqueries", "materialized_from_subquery")


class MysqlPlanReading(PlanReading):
    def accesses(self, plan) -> list:
        return list(_accesses(plan))

    def possible_indexes(self, plan) -> list:
        names = []
        for table in _tables(plan):
            for name in table.get("possible_keys") or []:
                if name not in names:
                    names.append(name)
        return names


def _accesses(plan):
    for table in _tables(plan):
        access_type = table.get("access_type")
        keys = _keys(table)
        if keys:
            for key in keys:
                yield {"access": "%s access" % access_type if access_type else "access", "index": key, "table": table.get("table_name")}
        elif access_type in FULL_SCAN or access_type is None:
            yield {"access": "full scan", "index": None, "table": table.get("table_name")}


def _tables(value):
    """Every table access object, however deep the plan nests it."""
    if isinstance(value, dict):
        if "table_name" in value:
            yield value
        for child in value.values():
            yield from _tables(child)
    elif isinstance(value, list):
        for child in value:
            yield from _tables(child)


def _keys(table):
    """The indexes one table access reads: its "key" (MySQL lists an index merge's as "a,b"), or MariaDB's index merge
    members ("index_merge": {"sort_union": [{"range": {"key": ...}}]})."""
    keys = []
    if isinstance(table.get("key"), str):
        keys.extend(k for k in table["key"].split(",") if k)
    if isinstance(table.get("index_name"), str):  # MySQL's JSON format version 2
        keys.append(table["index_name"])
    for name, value in table.items():
        if name not in NESTED_PLANS and isinstance(value, (dict, list)):
            keys.extend(k for k in _nested_keys(value) if k not in keys)
    return keys


def _nested_keys(value):
    if isinstance(value, dict):
        if isinstance(value.get("key"), str) and "table_name" not in value:
            yield from (k for k in value["key"].split(",") if k)
        for name, child in value.items():
            if name not in NESTED_PLANS:
                yield from _nested_keys(child)
    elif isinstance(value, list):
        for child in value:
            yield from _nested_keys(child)
