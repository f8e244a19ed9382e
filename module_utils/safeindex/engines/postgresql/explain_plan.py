"""Reading PostgreSQL's EXPLAIN (FORMAT JSON): a tree of nodes ("Plan", "Plans"); no server needed."""

from ansible.module_utils.safeindex.engines.interface.explain import PlanReading

INDEX_NODES = ("Index Scan", "Index Only Scan", "Bitmap Index Scan")
FULL_SCAN_NODES = ("Seq Scan",)  # a parallel sequential scan is a "Seq Scan" node with "Parallel Aware"


class PostgresPlanReading(PlanReading):
    def accesses(self, plan) -> list:
        return list(_accesses(plan))

    # possible_indexes: PostgreSQL's plan does not say which other indexes would have applied.


def _accesses(plan):
    roots = plan if isinstance(plan, list) else [plan]
    for root in roots:
        node = root.get("Plan", root) if isinstance(root, dict) else None
        if node:
            yield from _walk(node)


def _walk(node):
    kind = node.get("Node Type")
    if kind in INDEX_NODES and node.get("Index Name"):
        yield {"access": kind, "index": node["Index Name"], "table": node.get("Relation Name")}
    elif kind in FULL_SCAN_NODES:
        yield {"access": kind, "index": None, "table": node.get("Relation Name")}
    for child in node.get("Plans") or []:
        yield from _walk(child)
