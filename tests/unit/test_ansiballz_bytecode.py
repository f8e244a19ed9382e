"""scripts/ansiballz_bytecode.py: module_utils run from an AnsiballZ payload zip are compiled once, then loaded."""

import json
import os
import subprocess
import sys
import zipfile

from tests.conftest import REPO

HOOK = REPO / "scripts" / "ansiballz_bytecode.py"
# In a fresh Python: the hook (as the .venv's .pth loads it), the zip first on sys.path as AnsiballZ puts it, and a
# count of the compile() calls for the package's own files.
PROBE = """
import builtins, json, runpy, sys, traceback
hook = runpy.run_path(sys.argv[1])
sys.path_hooks.insert(0, hook["_hook"])
sys.path.insert(0, sys.argv[2])
compiled = []
real_compile = builtins.compile
def counting_compile(source, filename, *args, **kwargs):
    if "/pkg/" in str(filename):
        compiled.append(str(filename))
    return real_compile(source, filename, *args, **kwargs)
builtins.compile = counting_compile
from pkg import mod
try:
    mod.fail()
except RuntimeError:
    where = traceback.extract_tb(sys.exc_info()[2])[-1].filename
print(json.dumps({"value": mod.VALUE, "file": mod.__file__, "raised_in": where, "compiled": compiled,
                  "loader": type(mod.__loader__).__name__}))
"""


def payload(folder, name, value):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pkg/__init__.py", "")
        archive.writestr("pkg/mod.py", "VALUE = %r\n\ndef fail():\n    raise RuntimeError('from the zip')\n" % value)
    return path


def run(zip_path, cache):
    result = subprocess.run([sys.executable, "-c", PROBE, str(HOOK), str(zip_path)], capture_output=True, text=True,
                            check=True, env=dict(os.environ, SAFEINDEX_ANSIBALLZ_BYTECODE=str(cache)))
    return json.loads(result.stdout)


def test_a_payload_is_compiled_once_then_loaded_from_the_cache_under_its_own_file_name(tmp_path):
    cache = tmp_path / "cache"
    first = run(payload(tmp_path / "task1", "ansible_db_index_payload.zip", 1), cache)
    assert first["value"] == 1 and first["loader"] == "_CachedPayload"
    assert len(first["compiled"]) == 2  # pkg/__init__.py and pkg/mod.py, once each
    assert any(cache.rglob("*"))

    # The next task: the same sources in another temporary folder. Nothing compiled; names are the new zip's.
    second_zip = payload(tmp_path / "task2", "ansible_db_index_payload.zip", 1)
    second = run(second_zip, cache)
    assert second["compiled"] == []
    assert second["value"] == 1
    assert second["file"] == str(second_zip / "pkg" / "mod.py")
    assert second["raised_in"] == str(second_zip / "pkg" / "mod.py")


def test_a_changed_source_is_compiled_anew_never_served_stale(tmp_path):
    cache = tmp_path / "cache"
    run(payload(tmp_path / "old", "ansible_db_index_payload.zip", "old"), cache)
    changed = run(payload(tmp_path / "new", "ansible_db_index_payload.zip", "new"), cache)
    assert changed["value"] == "new"
    assert [os.path.basename(name) for name in changed["compiled"]] == ["mod.py"]


def test_other_zips_are_left_to_zipimport(tmp_path):
    cache = tmp_path / "cache"
    other = run(payload(tmp_path, "library.zip", 1), cache)
    assert other["loader"] == "zipimporter"
    assert not cache.exists()
