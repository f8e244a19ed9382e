"""Error lines an app log gained since a mark: where the log ended (inode and size) before the run.

A log rotated since the mark (another inode) is read from its start, and the rest of the old file,
found by its inode beside it (error.log.1), from the mark on; a log truncated in place (smaller than
at the mark) is read from its start. A log only grows at its end, so its first bytes identify it
where the inode cannot (a new file may get the inode of a deleted one). Lines written before the
mark are never reported.
"""

from __future__ import annotations

import hashlib
import os
import re

LONGEST_LINE = 500  # characters kept of one reported line; a stack dump on one line is noise
CHUNK = 1 << 16
HEAD_BYTES = 256


def mark(path: str) -> dict:
    """Where the log ends now: {path, exists, inode, size, head (sha256 of its first bytes, None if unreadable)};
    a missing log is marked as empty."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {"path": path, "exists": False, "inode": None, "size": 0, "head": None}
    return {"path": path, "exists": True, "inode": st.st_ino, "size": st.st_size, "head": _head(path, min(st.st_size, HEAD_BYTES))}


def _head(path, length):
    try:
        with open(path, "rb") as log:
            return hashlib.sha256(log.read(length)).hexdigest()
    except OSError:
        return None


def compile_patterns(patterns: list[str]) -> list[re.Pattern]:
    return [re.compile(p) for p in patterns]


def scan(path: str, marked: dict | None, patterns: list[re.Pattern], max_lines: int) -> dict:
    """Lines matching any pattern written after the mark: {path, new_error_lines (at most max_lines), count,
    bytes_read, detail}. Raises OSError when the log cannot be read."""
    now = mark(path)
    marked = marked or {"exists": False, "inode": None, "size": 0}
    found = {"path": path, "new_error_lines": [], "count": 0, "bytes_read": 0, "detail": ""}
    if not now["exists"]:
        found["detail"] = "not there" + (" (it was at the mark: moved away and not recreated)" if marked.get("exists") else "")
        sources = [(_rotated_copy(path, marked["inode"]), marked["size"])] if marked.get("exists") else []
    elif not marked.get("exists"):
        found["detail"] = "created since the mark: read from its start"
        sources = [(path, 0)]
    elif now["inode"] != marked["inode"]:
        old = _rotated_copy(path, marked["inode"])
        found["detail"] = "rotated since the mark: read the new file from its start" + (
            ", and %s from the mark" % os.path.basename(old) if old else " (the old file is gone)")
        sources = [(old, marked["size"]), (path, 0)]
    elif now["size"] < marked["size"]:
        found["detail"] = "truncated since the mark: read from its start"
        sources = [(path, 0)]
    elif marked.get("head") and _head(path, min(marked["size"], HEAD_BYTES)) != marked["head"]:
        found["detail"] = "replaced since the mark (same inode, other content): read from its start"
        sources = [(path, 0)]
    else:
        sources = [(path, marked["size"])]
    for source, offset in sources:
        if source:
            _collect(source, offset, patterns, max_lines, found)
    if not found["detail"]:
        found["detail"] = "read %d new bytes" % found["bytes_read"]
    return found


def _rotated_copy(path, inode):
    """The file beside the log that still has the marked inode (logrotate renamed it), or None."""
    if inode is None:
        return None
    folder, name = os.path.split(path)
    try:
        candidates = sorted(n for n in os.listdir(folder or ".") if n.startswith(name) and n != name)
    except OSError:
        return None
    for candidate in candidates:
        full = os.path.join(folder, candidate)
        try:
            if os.stat(full).st_ino == inode:
                return full
        except OSError:
            continue
    return None


def _collect(path, offset, patterns, max_lines, found):
    """Read from offset up to the size the file has now (not what is written meanwhile) and keep matching lines."""
    with open(path, "rb") as log:
        end = os.fstat(log.fileno()).st_size
        if offset > end:
            offset = 0
        log.seek(offset)
        remaining, pending = end - offset, b""
        while remaining > 0:
            chunk = log.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            found["bytes_read"] += len(chunk)
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                _match(line, patterns, max_lines, found)
        if pending:
            _match(pending, patterns, max_lines, found)


def _match(raw, patterns, max_lines, found):
    line = raw.decode("utf-8", errors="replace").rstrip("\r")
    if any(p.search(line) for p in patterns):
        found["count"] += 1
        if len(found["new_error_lines"]) < max_lines:
            found["new_error_lines"].append(line[:LONGEST_LINE])
