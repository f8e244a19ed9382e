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
# A plain name: what the short column form ("created_at DESC") may name. Any other legal name goes in a mapping.
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
INDEX_FIELDS = ("name", "table", "schema", "columns", "unique", "where", "method", "include", "nulls_distinct")
COLUMN_KEYS = ("name", "expression", "order", "nulls", "length")
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
    name: str = None          # a table column; None for an expression key
    descending: bool = False
    nulls_first: bool = None  # None: the engine's default for the direction
    length: int = None
    expression: str = None    # an expression key as the spec writes it: `lower(email)`

    @property
    def label(self) -> str:
        return self.name if self.name is not None else "(%s)" % self.expression


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
    nulls_distinct: bool = True  # False: NULLS NOT DISTINCT (a unique index where NULL keys count as equal)

    def definition(self, engine, default_schema=None) -> IndexDefinition:
        """The definition this spec asks for, in the engine's normal form (no server needed); engine is its name or
        its Features."""
        features = _features(engine)
        columns = tuple(
            IndexColumn(
                name=c.name,
                expression=c.expression,
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
            nulls_distinct=self.nulls_distinct,
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
        column_names = [c.label for c in columns]
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
        nulls_distinct = fields.get("nulls_distinct", True)
        if not isinstance(nulls_distinct, bool):
            raise SpecError("'nulls_distinct' must be true or false")
        if not nulls_distinct and not unique:
            raise SpecError("'nulls_distinct: false' is for a unique index: add 'unique: true'")
        spec = IndexSpec(
            name=name, table=table, schema=schema, columns=columns, unique=unique,
            where=where, method=method.lower(), include=include, nulls_distinct=nulls_distinct,
        )
    except SpecError as exc:
        raise SpecError("%s: %s" % (label, exc)) from None
    check_server_can_build(spec, features)  # its messages name the index
    return spec


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


def check_server_can_build(spec, features) -> None:
    """SpecError where this server (its Features: by engine, or made specific by for_server) cannot build what the spec
    asks: the parser asks it of the engine, the build's resolve() of the server itself (so MariaDB refuses an expression
    key in preflight, before the backup)."""
    if any(c.expression is not None for c in spec.columns) and not features.expression_keys:
        raise SpecError(
            "%s: expression keys (%s) are not supported on this %s server; use a per-engine override instead, e.g. an"
            " index on a generated column: `%s: {columns: [email_lower]}` with a column email_lower generated as the"
            " expression" % (spec.name, ", ".join(c.label for c in spec.columns if c.expression is not None),
                             features.flavour or features.label, features.name))
    if not spec.nulls_distinct and not features.nulls_not_distinct:
        raise SpecError("%s: 'nulls_distinct: false' (NULLS NOT DISTINCT) needs PostgreSQL 15 or newer; this %s server"
                        " cannot build it" % (spec.name, features.flavour or features.label))


def parse_column(value, engine) -> ColumnSpec:
    """`"name"`, `"name(20) DESC NULLS LAST"` (a plain name), `{name, order, nulls, length}` (any legal name) or
    `{expression, order, nulls}`."""
    features = _features(engine)
    expression = None
    if isinstance(value, str):
        match = COLUMN_TEXT.match(value)
        if not match or not IDENTIFIER.match(match.group("name")):
            raise SpecError("column %r: expected 'name [(length)] [ASC|DESC] [NULLS FIRST|LAST]' with a plain name; for"
                            " any other name use the mapping form {name: ..., order: ...}" % value)
        parts = match.groupdict()
        name, length, order, nulls = parts["name"], parts["length"], parts["order"], parts["nulls"]
    elif isinstance(value, dict):
        unknown = sorted(set(value) - set(COLUMN_KEYS), key=str)
        if unknown:
            raise SpecError("column %r: unknown keys %s (allowed: %s)" % (value, ", ".join(map(str, unknown)), ", ".join(COLUMN_KEYS)))
        name, length, order, nulls = value.get("name"), value.get("length"), value.get("order"), value.get("nulls")
        expression = value.get("expression")
    else:
        raise SpecError("a column must be a name or a mapping, not %r" % (value,))
    if expression is not None:
        if name is not None or length is not None:
            raise SpecError("column %r: an expression key takes no 'name' or 'length' (only order and nulls)" % (value,))
        expression = _sql_text(expression, "expression")
        name = None
    else:
        name = _identifier(name, "column", engine)
    label = name if name is not None else "(%s)" % expression
    if order is not None and str(order).lower() not in ("asc", "desc"):
        raise SpecError("column %s: order must be asc or desc" % label)
    if nulls is not None:
        if str(nulls).lower() not in ("first", "last"):
            raise SpecError("column %s: nulls must be first or last" % label)
        if not features.nulls_order:
            raise SpecError("column %s: NULLS FIRST/LAST is PostgreSQL-only" % label)
    if length is not None:
        if not features.prefix_lengths:
            raise SpecError("column %s: a prefix length is MySQL-only" % label)
        if isinstance(length, bool) or not str(length).isdigit() or int(length) < 1:
            raise SpecError("column %s: length must be a positive integer" % label)
        length = int(length)
    return ColumnSpec(
        name=name,
        expression=expression,
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
    """Any name the engine allows (the driver quotes it wherever it reaches SQL): its own rule, from its Features."""
    if not isinstance(value, str) or not value:
        raise SpecError("%s is missing" % what)
    problem = _features(engine).identifier_problem(value)
    if problem:
        raise SpecError("%s %r %s" % (what, value, problem))
    return value


def _predicate(where):
    return _sql_text(where, "where")


def _sql_text(text, what):
    """A predicate or an expression key: SQL by nature, so no second statement, comment or subquery may ride in it."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError("'%s' must be a non-empty SQL %s" % (what, "condition" if what == "where" else "expression"))
    for token, label in FORBIDDEN_IN_WHERE:
        if token in text:
            raise SpecError("'%s' may not contain %s: %r" % (what, label, text))
    if SUBQUERY.search(text):
        raise SpecError("'%s' may not contain a subquery: %r" % (what, text))
    return " ".join(text.split())
