"""Read query plans (EXPLAIN's JSON) for what a verification needs: which indexes a plan uses, which tables it reads whole.

PostgreSQL's plan is a tree of nodes ("Plan", "Plans"). MySQL and MariaDB both give a tree of
objects in which each table access is an object with "table_name"; they nest it differently
(MySQL 8: "ordering_operation", "nested_loop"; MariaDB: "read_sorted_file", "filesort",
"temporary_table", "subqueries"), so the walk looks into every value rather than follow known keys.
"""

PG_INDEX_NODES = ("Index Scan", "Index Only Scan", "Bitmap Index Scan")
PG_FULL_SCAN_NODES = ("Seq Scan",)  # a parallel sequential scan is a "Seq Scan" node with "Parallel Aware"
MYSQL_FULL_SCAN = ("ALL",)
# Objects below a table access that are themselves plans (a subquery in a condition), not part of the access.
MYSQL_NESTED_PLANS = ("query_block", "table", "nested_loop", "subqueries", "attached_subqueries", "materialized_from_subquery")


def accesses(engine, plan):
    """Every table access of a plan, in plan order: [{access, index, table}]; index is None for a full scan."""
    if engine == "postgresql":
        return list(_pg_accesses(plan))
    return list(_mysql_accesses(plan))


def indexes_used(engine, plan):
    """Names of the indexes a plan reads, each once, in plan order."""
    names = []
    for access in accesses(engine, plan):
        if access["index"] and access["index"] not in names:
            names.append(access["index"])
    return names


def full_scans(engine, plan):
    """Tables the plan reads whole (PostgreSQL: by relation name; MySQL: by the name or alias the query gives)."""
    return [a["table"] for a in accesses(engine, plan) if a["index"] is None]


def possible_indexes(engine, plan):
    """Indexes the optimizer found applicable to the query (MySQL's possible_keys); PostgreSQL does not say."""
    if engine == "postgresql":
        return []
    names = []
    for table in _mysql_tables(plan):
        for name in table.get("possible_keys") or []:
            if name not in names:
                names.append(name)
    return names


def describe(accesses_found):
    """`Index Scan on idx_a, Seq Scan on user`, for messages."""
    parts = []
    for access in accesses_found:
        target = access["index"] or access["table"]
        parts.append("%s on %s" % (access["access"], target))
    return ", ".join(parts) or "no table access"


# PostgreSQL


def _pg_accesses(plan):
    roots = plan if isinstance(plan, list) else [plan]
    for root in roots:
        node = root.get("Plan", root) if isinstance(root, dict) else None
        if node:
            yield from _pg_walk(node)


def _pg_walk(node):
    kind = node.get("Node Type")
    if kind in PG_INDEX_NODES and node.get("Index Name"):
        yield {"access": kind, "index": node["Index Name"], "table": node.get("Relation Name")}
    elif kind in PG_FULL_SCAN_NODES:
        yield {"access": kind, "index": None, "table": node.get("Relation Name")}
    for child in node.get("Plans") or []:
        yield from _pg_walk(child)


# MySQL and MariaDB


def _mysql_accesses(plan):
    for table in _mysql_tables(plan):
        access_type = table.get("access_type")
        keys = _mysql_keys(table)
        if keys:
            for key in keys:
                yield {"access": "%s access" % access_type if access_type else "access", "index": key, "table": table.get("table_name")}
        elif access_type in MYSQL_FULL_SCAN or access_type is None:
            yield {"access": "full scan", "index": None, "table": table.get("table_name")}


def _mysql_tables(value):
    """Every table access object, however deep the plan nests it."""
    if isinstance(value, dict):
        if "table_name" in value:
            yield value
        for child in value.values():
            yield from _mysql_tables(child)
    elif isinstance(value, list):
        for child in value:
            yield from _mysql_tables(child)


def _mysql_keys(table):
    """The indexes one table access reads: its "key" (MySQL lists an index merge's as "a,b"), or MariaDB's index merge
    members ("index_merge": {"sort_union": [{"range": {"key": ...}}]})."""
    keys = []
    if isinstance(table.get("key"), str):
        keys.extend(k for k in table["key"].split(",") if k)
    if isinstance(table.get("index_name"), str):  # MySQL's JSON format version 2
        keys.append(table["index_name"])
    for name, value in table.items():
        if name not in MYSQL_NESTED_PLANS and isinstance(value, (dict, list)):
            keys.extend(k for k in _nested_keys(value) if k not in keys)
    return keys


def _nested_keys(value):
    if isinstance(value, dict):
        if isinstance(value.get("key"), str) and "table_name" not in value:
            yield from (k for k in value["key"].split(",") if k)
        for name, child in value.items():
            if name not in MYSQL_NESTED_PLANS:
                yield from _nested_keys(child)
    elif isinstance(value, list):
        for child in value:
            yield from _nested_keys(child)
