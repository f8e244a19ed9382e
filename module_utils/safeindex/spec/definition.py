"""The shape of an index, independent of its name, and how two shapes differ.

Both sides of every comparison are built the same way (from the catalog, or from a
spec the server has canonicalised), so comparing fields is comparing definitions.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class IndexColumn:
    name: str = None          # a table column; None when the key is an expression
    expression: str = None    # the server's text of an expression key
    descending: bool = False
    nulls_first: bool = None  # None where the engine has no NULLS ordering (MySQL)
    length: int = None        # MySQL prefix length
    opclass: str = None       # PostgreSQL operator class, None for the type's default

    def describe(self):
        text = self.name if self.name is not None else "(%s)" % self.expression
        if self.length:
            text += "(%d)" % self.length
        if self.opclass:
            text += " " + self.opclass
        if self.descending:
            text += " DESC"
        if self.nulls_first is not None and self.nulls_first != self.descending:
            text += " NULLS FIRST" if self.nulls_first else " NULLS LAST"
        return text


@dataclass(frozen=True)
class IndexDefinition:
    table: str
    columns: tuple
    schema: str = None
    unique: bool = False
    method: str = "btree"
    where: str = None
    include: tuple = field(default_factory=tuple)
    nulls_distinct: bool = True  # False: NULLS NOT DISTINCT (PostgreSQL 15+), NULL keys count as equal

    def describe(self):
        """A one-line, engine-neutral summary for messages: `table USING method (cols) ...`."""
        target = "%s.%s" % (self.schema, self.table) if self.schema else self.table
        text = "%s%s USING %s (%s)" % (
            "UNIQUE " if self.unique else "",
            target,
            self.method,
            ", ".join(c.describe() for c in self.columns),
        )
        if self.include:
            text += " INCLUDE (%s)" % ", ".join(self.include)
        if not self.nulls_distinct:
            text += " NULLS NOT DISTINCT"
        if self.where:
            text += " WHERE %s" % self.where
        return text


def differences(current, wanted):
    """Fields in which two definitions differ, as readable lines; empty when they are equal."""
    lines = []
    if (current.schema, current.table) != (wanted.schema, wanted.table):
        lines.append("table: %s.%s != %s.%s" % (current.schema, current.table, wanted.schema, wanted.table))
    if current.columns != wanted.columns:
        lines.append(
            "columns: (%s) != (%s)"
            % (", ".join(c.describe() for c in current.columns), ", ".join(c.describe() for c in wanted.columns))
        )
    if current.unique != wanted.unique:
        lines.append("unique: %s != %s" % (current.unique, wanted.unique))
    if current.method != wanted.method:
        lines.append("method: %s != %s" % (current.method, wanted.method))
    if _normal_text(current.where) != _normal_text(wanted.where):
        lines.append("where: %s != %s" % (current.where, wanted.where))
    if tuple(current.include) != tuple(wanted.include):
        lines.append("include: (%s) != (%s)" % (", ".join(current.include), ", ".join(wanted.include)))
    if current.nulls_distinct != wanted.nulls_distinct:
        lines.append("nulls: %s != %s" % (_nulls_text(current), _nulls_text(wanted)))
    return lines


def _nulls_text(definition):
    return "NULLS DISTINCT" if definition.nulls_distinct else "NULLS NOT DISTINCT"


def _normal_text(text):
    return " ".join(text.split()) if text else None
