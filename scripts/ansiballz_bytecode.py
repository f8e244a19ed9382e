"""A bytecode cache for the module_utils an AnsiballZ payload carries, installed into the project's .venv by `make setup`.

Ansible runs every module task from a zip (ansible_<module>_payload.zip) that holds sources only, and zipimport keeps
no bytecode: each task's Python compiles ansible's module_utils and safeindex's again (measured here: importing
ansible.module_utils.basic from such a zip takes 0.44 s, 0.26 s with this cache; a no-op migrate.yml on the two sandbox
hosts 17-20 CPU-s, 13-15 with it). This path hook serves those zips with code compiled once and kept under
<venv>/ansiballz-bytecode by the hash of the Python version, the file's path in the zip and its source, so a changed
source is compiled anew. Only payload zips are served; the code is the same compile() of the same source, with the
running file name put back. A Python without it (or another interpreter) runs the modules as Ansible always does.
"""

# Loaded by a .pth at every start of this Python, so it imports nothing that is not loaded already (hashlib only in a
# process that runs a payload).
import marshal
import os
import sys
import zipimport

CACHE = os.environ.get("SAFEINDEX_ANSIBALLZ_BYTECODE") or os.path.join(sys.prefix, "ansiballz-bytecode")
_PAYLOAD_SUFFIX = "_payload.zip"


def _renamed(code, filename):
    constants = tuple(_renamed(c, filename) if isinstance(c, type(code)) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=constants)


class _CachedPayload(zipimport.zipimporter):
    """zipimport, with the code from the cache. get_filename is answered from the zip's listing: zipimport's own
    compiles the module to find its file name (and importlib asks it for every module it finds)."""

    def _inner_path(self, fullname: str) -> str:
        name = fullname.rpartition(".")[2]
        return self.prefix + name + ("/__init__.py" if self.is_package(fullname) else ".py")

    def get_filename(self, fullname: str) -> str:
        return os.path.join(self.archive, self._inner_path(fullname))

    def get_code(self, fullname: str):
        inner = self._inner_path(fullname)
        try:
            source = self.get_data(inner)
        except OSError:  # bytecode only in the zip: zipimport's own way
            return super().get_code(fullname)
        filename = os.path.join(self.archive, inner)
        import hashlib

        key = hashlib.sha256(sys.version.encode() + b"\0" + inner.encode() + b"\0" + source).hexdigest()
        path = os.path.join(CACHE, key[:2], key)
        try:
            with open(path, "rb") as cached:
                return _renamed(marshal.load(cached), filename)
        except (OSError, EOFError, ValueError, TypeError):
            pass
        code = compile(source, filename, "exec", dont_inherit=True)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            partial = "%s.%d.tmp" % (path, os.getpid())
            with open(partial, "wb") as out:
                marshal.dump(code, out)
            os.replace(partial, path)  # whole or not at all, whoever else writes it at the same time
        except OSError:
            pass
        return code


def _hook(path):
    # The payload itself, and its packages' folders inside it (a package's __path__ is <zip>/ansible/...).
    if path.endswith(_PAYLOAD_SUFFIX) or _PAYLOAD_SUFFIX + os.sep in path:
        return _CachedPayload(path)
    raise ImportError("not an AnsiballZ payload")


if _hook not in sys.path_hooks:
    sys.path_hooks.insert(0, _hook)
