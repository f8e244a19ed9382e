"""The app's hooks: a command or an HTTP call (a deployment check, maintenance mode on and off).

A hook is a string (an http(s):// URL, otherwise a command line, split like a shell would but run
without one) or a mapping: {command: ...} or {url, method, headers, body, status}.
"""

from __future__ import annotations

import shlex
import subprocess
import urllib.error
from urllib.parse import urlsplit, urlunsplit

from ansible.module_utils.safeindex.core.errors import SafeIndexError


class HookError(SafeIndexError):
    """The hook is malformed, could not run, or said no."""


def normalise(hook: str | dict) -> dict:
    if isinstance(hook, str):
        hook = {"url": hook} if hook.strip().lower().startswith(("http://", "https://")) else {"command": hook}
    if not isinstance(hook, dict) or bool(hook.get("command")) == bool(hook.get("url")):
        raise HookError("a hook is a command line, a URL, or a mapping with command or url: %r" % (hook,))
    unknown = sorted(set(hook) - {"command", "url", "method", "headers", "body", "status"})
    if unknown:
        raise HookError("hook: unknown keys %s" % ", ".join(unknown))
    return hook


def describe(hook: str | dict) -> str:
    """What the hook does, safe to print: a URL without its query or credentials."""
    hook = normalise(hook)
    if hook.get("command"):
        return "command `%s`" % hook["command"]
    parts = urlsplit(hook["url"])
    return "%s %s" % (hook.get("method", "POST" if hook.get("body") is not None else "GET").upper(),
                      urlunsplit((parts.scheme, parts.hostname + (":%d" % parts.port if parts.port else ""), parts.path, "", "")))


def run(hook: str | dict, timeout: float = 60) -> dict:
    """Run it; returns {ok, what, rc or status, output}. `ok` means exit 0, or an expected HTTP status."""
    hook = normalise(hook)
    what = describe(hook)
    if hook.get("command"):
        try:
            argv = shlex.split(hook["command"])
            completed = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except (OSError, ValueError) as exc:
            return {"ok": False, "what": what, "rc": None, "output": str(exc)}
        except subprocess.TimeoutExpired:
            return {"ok": False, "what": what, "rc": None, "output": "still running after %ss: stopped" % timeout}
        output = (completed.stdout + completed.stderr).strip()
        return {"ok": completed.returncode == 0, "what": what, "rc": completed.returncode, "output": output[-500:]}
    body = hook.get("body")
    data = body.encode("utf-8") if isinstance(body, str) else (None if body is None else str(body).encode("utf-8"))
    method = hook.get("method", "POST" if data is not None else "GET").upper()
    expected = hook.get("status")
    expected = [int(s) for s in (expected if isinstance(expected, list) else [expected])] if expected else None
    # Only here: ansible.module_utils.urls (and the TLS stack it loads) is a fair part of a module's start-up, and most
    # modules that import this file never call a URL.
    from ansible.module_utils.urls import ConnectionError as UrlConnectionError
    from ansible.module_utils.urls import open_url

    try:
        # Ansible's open_url: its proxy and certificate handling, like every other module's HTTP call.
        with open_url(hook["url"], data=data, headers=hook.get("headers") or {}, method=method, timeout=timeout) as response:
            status, output = response.status, response.read(2000).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, output = exc.code, exc.read(2000).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, UrlConnectionError) as exc:
        return {"ok": False, "what": what, "status": None, "output": str(getattr(exc, "reason", exc))}
    ok = status in expected if expected else 200 <= status < 300
    return {"ok": ok, "what": what, "status": status, "output": output.strip()[-500:]}
