"""Files this tool writes (records, reports, lock state): private to their owner, 0600 in 0700 folders."""

import json
import os
from typing import Any


def make_private_dir(path: str) -> str:
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def write_private(path: str, content: Any) -> None:
    """Replace `path` atomically with `content` (str, or anything JSON can hold), mode 0600."""
    directory = os.path.dirname(path)
    if directory:
        make_private_dir(directory)
    if not isinstance(content, str):
        content = json.dumps(content, indent=2, sort_keys=True, default=str) + "\n"
    temporary = "%s.%d.tmp" % (path, os.getpid())
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    os.replace(temporary, path)


def append_private(path: str, line: str) -> None:
    """Append one line and make it durable before returning (a record must survive a crash)."""
    directory = os.path.dirname(path)
    if directory:
        make_private_dir(directory)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
