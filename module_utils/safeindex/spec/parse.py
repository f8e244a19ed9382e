"""The index spec: parsing, validation and the engine-specific view of each entry.

A spec is a mapping with `indexes:` (and optionally `probes:`). An entry may carry
per-engine overrides (`postgresql: {...}`, `mysql: {...}`) that replace its fields
for that engine, so one file serves both. Every problem is reported at once, before
anything touches a database.
"""

import hashlib
import json
import re
from dataclasses import dataclass

from ansible.module_utils.safeindex.core.errors import SpecError
from ansible.module_utils.safeindex.engines import ENGINE_NAMES, features_for
from ansible.module_utils.safeindex.engines.features import Features
from ansible.module_utils.safeindex.spec.definition import IndexColumn, IndexDefinition

ENGINES = ENGINE_NAMES  # the per-engine override keys an entry may carry
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
INDEX_FIELDS = ("name", "table", "schema", "columns", "unique", "where", "method", "include")
PROBE_FIELDS = ("name", "sql", "expect_index")
COLUMN_TEXT = re.compile(
    r"^\s*(?P<name>[^\s()]+)\s*(?:\(\s*(?P<length>\d+)\s*\))?"
    r"(?:\s+(?P<order>ASC|DESC))?(?:\s+NULLS\s+(?P<nulls>FIRST|LAST))?\s*$",
    re.IGNORECASE,
)
# Index predicates are SQL text; these would let a spec smuggle in another statement or a subquery.
FORBIDDEN_IN_WHERE = ((";", "a ';'"), ("--", "a '--' comment"), ("/*", "a '/*' comment"))
SUBQUERY = re.compile(r"\bselect\b", re.IGNORECASE)


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    descending: bool = False
    nulls_first: bool = None  # None: the engine's default for the direction
    length: int = None


@dataclass(frozen=True)
class IndexSpec:
    name: str
    table: str
    columns: tuple
    schema: str = None
    unique: bool = False
    where: str = None
    method: str = "btree"
    include: tuple = ()

    def definition(self, engine, default_schema=None) -> IndexDefinition:
        """The definition this spec asks for, in the engine's normal form (no server needed); engine is its name or
        its Features."""
        features = _features(engine)
        columns = tuple(
            IndexColumn(
                name=c.name,
                descending=c.descending,
                nulls_first=_nulls_first(c, features),
                length=c.length,
            )
            for c in self.columns
        )
        return IndexDefinition(
            table=self.table,
            schema=self.schema or default_schema,
            columns=columns,
            unique=self.unique,
            method=self.method,
            where=self.where,
            include=tuple(self.include),
        )


@dataclass(frozen=True)
class Probe:
    name: str
    sql: str
    expect_index: str


def load_spec(data, engine) -> tuple:
    """Validate a parsed spec file for one engine (its name or its Features); returns (indexes, probes) or raises
    SpecError."""
    problems = []
    if not isinstance(engine, Features) and engine not in ENGINE_NAMES:
        raise SpecError("unknown engine %r: expected one of %s" % (engine, ", ".join(ENGINE_NAMES)))
    features = _features(engine)
    if not isinstance(data, dict):
        raise SpecError("the index spec must be a mapping with an 'indexes' list, not %s" % type(data).__name__)
    unknown = sorted(set(data) - {"indexes", "probes"})
    if unknown:
        problems.append("unknown top-level keys: %s (expected indexes, probes)" % ", ".join(map(str, unknown)))
    entries = data.get("indexes")
    if not isinstance(entries, list) or not entries:
        problems.append("'indexes' must be a non-empty list")
        entries = []
    indexes = []
    for position, entry in enumerate(entries, 1):
        try:
            indexes.append(parse_index(entry, engine))
        except SpecError as exc:
            problems.append("indexes[%d]: %s" % (position, exc))
    names = [i.name for i in indexes]
    # MySQL and MariaDB compare index names without case: idx_a and IDX_A are one index there.
    keys = [n.lower() if features.case_insensitive_index_names else n for n in names]
    duplicates = sorted({n for n, key in zip(names, keys, strict=True) if keys.count(key) > 1})
    if duplicates:
        note = " (MySQL ignores case in index names)" if len(duplicates) > len({d.lower() for d in duplicates}) else ""
        problems.append("duplicate index names: %s%s" % (", ".join(duplicates), note))
    probes = []
    raw_probes = data.get("probes") or []
    if not isinstance(raw_probes, list):
        problems.append("'probes' must be a list")
        raw_probes = []
    for position, entry in enumerate(raw_probes, 1):
        try:
            probe = parse_probe(entry, engine)
        except SpecError as exc:
            problems.append("probes[%d]: %s" % (position, exc))
            continue
        if probe.expect_index not in names:
            problems.append("probes[%d] (%s): expect_index %r is not an index of the spec" % (position, probe.name, probe.expect_index))
        probes.append(probe)
    if problems:
        raise SpecError("the index spec is not valid:\n  - " + "\n  - ".join(problems), problems=problems)
    return indexes, probes


def parse_index(entry, engine) -> IndexSpec:
    """One index entry, with its overrides for `engine` (its name or its Features) applied; raises SpecError naming the
    field."""
    features = _features(engine)
    fields = _for_engine(entry, INDEX_FIELDS, features.name)
    label = fields.get("name") if isinstance(fields.get("name"), str) else "?"
    try:
        name = _identifier(fields.get("name"), "name", features)
        table = _identifier(fields.get("table"), "table", features)
        schema = fields.get("schema")
        if schema is not None:
            if not features.has_schemas:
                raise SpecError("'schema' is PostgreSQL-only (on MySQL the database is the schema)")
            schema = _identifier(schema, "schema", features)
        raw_columns = fields.get("columns")
        if isinstance(raw_columns, str):
            raw_columns = [raw_columns]
        if not isinstance(raw_columns, list) or not raw_columns:
            raise SpecError("'columns' must be a non-empty list")
        columns = tuple(parse_column(c, features) for c in raw_columns)
        column_names = [c.name for c in columns]
        if len(set(column_names)) != len(column_names):
            raise SpecError("a column appears twice in 'columns': %s" % ", ".join(column_names))
        unique = fields.get("unique", False)
        if not isinstance(unique, bool):
            raise SpecError("'unique' must be true or false")
        method = fields.get("method") or "btree"
        if not isinstance(method, str) or method.lower() not in features.index_methods:
            raise SpecError("'method' %r is not supported on %s (use one of %s)"
                            % (method, features.name, ", ".join(features.index_methods)))
        where = fields.get("where")
        if where is not None:
            if not features.partial_indexes:
                raise SpecError("'where' (a partial index) is PostgreSQL-only; MySQL and MariaDB have no partial indexes")
            where = _predicate(where)
        include = fields.get("include") or []
        if isinstance(include, str):
            include = [include]
        if include and not features.include_columns:
            raise SpecError("'include' is PostgreSQL-only; MySQL and MariaDB have no INCLUDE columns")
        if not isinstance(include, list):
            raise SpecError("'include' must be a list of column names")
        include = tuple(_identifier(c, "include", features) for c in include)
        return IndexSpec(
            name=name, table=table, schema=schema, columns=columns, unique=unique,
            where=where, method=method.lower(), include=include,
        )
    except SpecError as exc:
        raise SpecError("%s: %s" % (label, exc)) from None


def index_reference(name, engine, table=None, schema=None) -> IndexSpec:
    """An index named for dropping: the name (and its table or schema where the engine needs them)."""
    try:
        return IndexSpec(
            name=_identifier(name, "name", engine),
            table=_identifier(table, "table", engine) if table else None,
            columns=(),
            schema=_identifier(schema, "schema", engine) if schema else None,
        )
    except SpecError as exc:
        raise SpecError("%s: %s" % (name, exc)) from None


def parse_column(value, engine) -> ColumnSpec:
    """`"name"`, `"name(20) DESC NULLS LAST"` or `{name, order, nulls, length}`."""
    features = _features(engine)
    if isinstance(value, str):
        match = COLUMN_TEXT.match(value)
        if not match:
            raise SpecError("column %r: expected 'name [(length)] [ASC|DESC] [NULLS FIRST|LAST]'" % value)
        parts = match.groupdict()
        name, length, order, nulls = parts["name"], parts["length"], parts["order"], parts["nulls"]
    elif isinstance(value, dict):
        unknown = sorted(set(value) - {"name", "order", "nulls", "length"})
        if unknown:
            raise SpecError("column %r: unknown keys %s" % (value, ", ".join(unknown)))
        name, length, order, nulls = value.get("name"), value.get("length"), value.get("order"), value.get("nulls")
    else:
        raise SpecError("a column must be a name or a mapping, not %r" % (value,))
    name = _identifier(name, "column", engine)
    if order is not None and str(order).lower() not in ("asc", "desc"):
        raise SpecError("column %s: order must be asc or desc" % name)
    if nulls is not None:
        if str(nulls).lower() not in ("first", "last"):
            raise SpecError("column %s: nulls must be first or last" % name)
        if not features.nulls_order:
            raise SpecError("column %s: NULLS FIRST/LAST is PostgreSQL-only" % name)
    if length is not None:
        if not features.prefix_lengths:
            raise SpecError("column %s: a prefix length is MySQL-only" % name)
        if isinstance(length, bool) or not str(length).isdigit() or int(length) < 1:
            raise SpecError("column %s: length must be a positive integer" % name)
        length = int(length)
    return ColumnSpec(
        name=name,
        descending=str(order).lower() == "desc" if order is not None else False,
        nulls_first=None if nulls is None else str(nulls).lower() == "first",
        length=length,
    )


def parse_probe(entry, engine) -> Probe:
    fields = _for_engine(entry, PROBE_FIELDS, _features(engine).name)
    name = fields.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SpecError("a probe needs a 'name'")
    sql = fields.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise SpecError("%s: 'sql' must be a query" % name)
    sql = sql.strip().rstrip(";").strip()
    # Probes are EXPLAINed (and timed), so they must be a single read-only query.
    if ";" in sql or not re.match(r"^(select|with)\b", sql, re.IGNORECASE):
        raise SpecError("%s: 'sql' must be one SELECT query" % name)
    expect = fields.get("expect_index")
    if not isinstance(expect, str) or not expect:
        raise SpecError("%s: 'expect_index' must name an index of the spec" % name)
    return Probe(name=name, sql=sql, expect_index=expect)


def fingerprint(data) -> str:
    """A stable digest of a parsed spec: the same indexes and probes give the same value."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _for_engine(entry, allowed, engine):
    if not isinstance(entry, dict):
        raise SpecError("an entry must be a mapping, not %r" % (entry,))
    unknown = sorted(set(entry) - set(allowed) - set(ENGINES))
    if unknown:
        raise SpecError(
            "%s: unknown keys %s (allowed: %s)" % (entry.get("name", "?"), ", ".join(map(str, unknown)), ", ".join(allowed + ENGINES))
        )
    fields = {k: v for k, v in entry.items() if k not in ENGINES}
    override = entry.get(engine) or {}
    if not isinstance(override, dict):
        raise SpecError("%s: the %r override must be a mapping" % (entry.get("name", "?"), engine))
    bad = sorted((set(override) - set(allowed)) | (set(override) & {"name"}))
    if bad:
        raise SpecError("%s: the %r override cannot set %s" % (entry.get("name", "?"), engine, ", ".join(bad)))
    fields.update(override)
    return {k: v for k, v in fields.items() if v is not None}


def _features(engine) -> Features:
    """The engine's Features, from its name or as given."""
    return engine if isinstance(engine, Features) else features_for(engine)


def _nulls_first(column, features):
    """Where the engine puts NULLs in this key column: as the spec says, else the engine's default for the direction;
    None where the engine has no NULLS order."""
    if not features.nulls_order:
        return None
    if column.nulls_first is not None:
        return column.nulls_first
    # PostgreSQL sorts NULLs last ascending and first descending unless told otherwise.
    return column.descending if features.nulls_first_when_descending else False


def _identifier(value, what, engine):
    if not isinstance(value, str) or not value:
        raise SpecError("%s is missing" % what)
    if not IDENTIFIER.match(value):
        raise SpecError("%s %r is not a plain identifier (letters, digits, _ and $, not starting with a digit)" % (what, value))
    features = _features(engine)
    limit = features.max_identifier_length
    if len(value) > limit:
        raise SpecError("%s %r is %d characters long; %s allows at most %d" % (what, value, len(value), features.name, limit))
    return value


def _predicate(where):
    if not isinstance(where, str) or not where.strip():
        raise SpecError("'where' must be a non-empty SQL condition")
    for token, label in FORBIDDEN_IN_WHERE:
        if token in where:
            raise SpecError("'where' may not contain %s: %r" % (label, where))
    if SUBQUERY.search(where):
        raise SpecError("'where' may not contain a subquery: %r" % where)
    return " ".join(where.split())
