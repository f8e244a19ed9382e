"""A cache of the module_utils each module's AnsiballZ payload carries, kept across ansible-playbook runs; installed
into the project's .venv by `make setup`, beside ansiballz_bytecode.py.

Before a module's first task in a run, the controller walks its imports to find the module_utils it needs, parsing
every file it reaches (ansible's recursive_finder; Ansible keeps the result only for the run). safeindex's modules
reach 80-107 files each, so on a run that has nothing to do this walk was about a quarter of the controller's CPU:
~3 CPU-s of a no-op migrate.yml's ~12, on every run. This keeps the walk's result: the files it put into the payload,
and the path and SHA-256 of every source file it read, with the listing of each folder it read from. A later walk of
the same module (same source, same Ansible, same module_utils paths) replays the result when every file it read has
the same content and no folder it read from has gained or lost a file; else it walks anew. Not cached: payloads with
debugger or coverage extensions, and any that carry collection code (read another way, so not checked here).

Loaded by a .pth at every start of this Python: it only adds an import hook for ansible.executor.module_common, so a
Python that never builds a payload imports nothing more.
"""

import os
import sys

CACHE = os.environ.get("SAFEINDEX_ANSIBALLZ_MODULE_CACHE") or os.path.join(sys.prefix, "ansiballz-modules")
TARGET = "ansible.executor.module_common"
FORMAT = b"safeindex-ansiballz-module-cache 1"


def _digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _listing(folder: str) -> str:
    try:
        return _digest("\0".join(sorted(os.listdir(folder))).encode("utf-8", "surrogateescape"))
    except OSError:
        return ""


def _file_digest(path: str) -> str:
    try:
        with open(path, "rb") as source:
            return _digest(source.read())
    except OSError:
        return ""


def _still_valid(entry: dict) -> bool:
    return all(_file_digest(path) == digest for path, digest in entry["files"]) and all(
        _listing(folder) == digest for folder, digest in entry["folders"])


def _key(module_common, name, module_fqn, module_data, zf) -> str:
    from ansible import __version__
    from ansible.plugins.loader import module_utils_loader

    paths = module_utils_loader._get_paths(subdirs=False)
    parts = [FORMAT, __version__.encode(), sys.version.encode(), name.encode(), module_fqn.encode(),
             str(zf.compression).encode(), "\0".join(paths).encode("utf-8", "surrogateescape"), bytes(module_data)]
    return _digest(b"\0\0".join(parts))


def _load(path: str):
    import pickle

    try:
        with open(path, "rb") as cached:
            return pickle.load(cached)
    except Exception:  # absent, cut short by a crash, or written by another version: walk anew
        return None


def _store(path: str, entry: dict) -> None:
    import pickle

    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        partial = "%s.%d.tmp" % (path, os.getpid())
        with open(partial, "wb") as out:
            pickle.dump(entry, out)
        os.replace(partial, path)  # whole or not at all, whoever else writes it at the same time
    except OSError:
        pass


def _patch(module_common) -> None:
    walk = module_common.recursive_finder

    def recursive_finder(name, module_fqn, module_data, zf, date_time, extension_manager):
        if extension_manager.extension_names:
            return walk(name, module_fqn, module_data, zf, date_time, extension_manager)
        path = os.path.join(CACHE, _key(module_common, name, module_fqn, module_data, zf))
        entry = _load(path)
        if entry is not None and _still_valid(entry):
            for filename, data in entry["written"]:
                zf.writestr(module_common._make_zinfo(filename, date_time, zf=zf), data)
            return entry["metadata"]
        return _walk_and_keep(walk, module_common, path, (name, module_fqn, module_data, zf, date_time, extension_manager))

    module_common.recursive_finder = recursive_finder


def _walk_and_keep(walk, module_common, path, args):
    zf = args[3]
    read, written = [], []
    slurp, writestr = module_common._slurp, zf.writestr

    def recording_slurp(source_path):
        data = slurp(source_path)
        read.append(os.path.abspath(source_path))
        return data

    def recording_writestr(zinfo, data, *more, **options):
        written.append((getattr(zinfo, "filename", zinfo), bytes(data.encode("utf-8") if isinstance(data, str) else data)))
        return writestr(zinfo, data, *more, **options)

    module_common._slurp, zf.writestr = recording_slurp, recording_writestr
    try:
        metadata = walk(*args)
    finally:
        module_common._slurp = slurp
        vars(zf).pop("writestr", None)
    if all(filename.startswith("ansible/") for filename, _data in written):
        files = sorted(set(read))
        _store(path, {"metadata": metadata, "written": written,
                      "files": [(source, _file_digest(source)) for source in files],
                      "folders": [(folder, _listing(folder)) for folder in sorted({os.path.dirname(f) for f in files})]})
    return metadata


class _PatchOnImport:
    """A meta path finder that lets the usual finders load module_common, then patches it once."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != TARGET:
            return None
        import importlib.util

        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            try:
                _patch(module)
            except Exception:  # another Ansible's module_common: build as Ansible always does
                pass

        spec.loader.exec_module = exec_module
        return spec


if not os.environ.get("SAFEINDEX_ANSIBALLZ_MODULE_CACHE_OFF") and not any(isinstance(f, _PatchOnImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _PatchOnImport())
