"""report.html read back as a browser's parser sees it: its tables, checklist, headings, and every tag and attribute."""

from html.parser import HTMLParser


class Page(HTMLParser):
    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags, self.attributes, self.tables, self.checklist, self.headings = [], [], {}, [], []
        self._table = self._row = self._cell = self._item = self._heading = None
        self._tables_seen = 0
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        self.attributes += list(attrs.items())
        if tag == "table":
            self._tables_seen += 1
            self._table = self.tables.setdefault(attrs.get("id") or "table-%d" % self._tables_seen, [])
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "li" and "data-ticked" in attrs:
            self._item = {"ticked": attrs["data-ticked"], "text": []}
        elif tag in ("h1", "h2", "h3"):
            self._heading = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "li" and self._item is not None:
            self.checklist.append({"ticked": self._item["ticked"], "text": " ".join("".join(self._item["text"]).split())})
            self._item = None
        elif tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append(" ".join("".join(self._heading).split()))
            self._heading = None

    def handle_data(self, data):
        for sink in (self._cell, self._item and self._item["text"], self._heading):
            if sink is not None:
                sink.append(data)

    def rows(self, table_id):
        """The table's rows as {header: cell text}."""
        header, *rows = self.tables[table_id]
        return [dict(zip(header, row, strict=True)) for row in rows]
