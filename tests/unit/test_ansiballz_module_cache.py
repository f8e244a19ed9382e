"""scripts/ansiballz_module_cache.py: a module's module_utils are found once, then replayed while their sources stand."""

import json
import os
import subprocess
import sys

from tests.conftest import REPO

HOOK = REPO / "scripts" / "ansiballz_module_cache.py"
# In a fresh Python, as the .venv's .pth loads the hook: ansible's own recursive_finder on a module that imports
# basic and a module_utils package of the test's, into an in-memory payload; the payload's files and how many
# source files the walk read are printed.
PROBE = """
import hashlib, io, json, runpy, sys, zipfile, datetime
hook = runpy.run_path(sys.argv[1])
sys.meta_path.insert(0, hook["_PatchOnImport"]())
from ansible.executor import module_common
from ansible._internal._ansiballz import _builder
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
_AnsibleCollectionFinder()._install()  # as ansible-playbook does
read = []
slurp = module_common._slurp
def counting_slurp(path):
    read.append(path)
    return slurp(path)
module_common._slurp = counting_slurp
source = b"from ansible.module_utils.basic import AnsibleModule\\nfrom ansible.module_utils.demo.helper import VALUE\\n"
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w") as zf:
    metadata = module_common.recursive_finder("demo_module", "ansible.modules.demo_module", source, zf,
                                              datetime.datetime.now(datetime.timezone.utc),
                                              _builder.ExtensionManager.create(task_vars={}))
with zipfile.ZipFile(buffer) as zf:
    files = {name: hashlib.sha256(zf.read(name)).hexdigest() for name in zf.namelist()}
print(json.dumps({"files": files, "read": len(read), "profile": metadata.serialization_profile,
                  "patched": module_common.recursive_finder.__module__ != "ansible.executor.module_common"}))
"""


def walk(module_utils, cache):
    env = dict(os.environ, SAFEINDEX_ANSIBALLZ_MODULE_CACHE=str(cache), ANSIBLE_MODULE_UTILS=str(module_utils))
    env.pop("SAFEINDEX_ANSIBALLZ_MODULE_CACHE_OFF", None)
    result = subprocess.run([sys.executable, "-c", PROBE, str(HOOK)], capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout)


def demo_package(root, value):
    package = root / "demo"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "helper.py").write_text("VALUE = %r\n" % value)
    return package


def test_the_second_walk_is_replayed_and_the_payload_is_the_same_file_for_file(tmp_path):
    demo_package(tmp_path / "module_utils", 1)
    first = walk(tmp_path / "module_utils", tmp_path / "cache")
    assert first["patched"] and first["read"] > 5  # basic and its imports, the demo package
    assert "ansible/module_utils/demo/helper.py" in first["files"] and "ansible/module_utils/basic.py" in first["files"]
    assert len(list((tmp_path / "cache").iterdir())) == 1

    second = walk(tmp_path / "module_utils", tmp_path / "cache")
    assert second["read"] == 0, "the walk ran again"
    assert second["files"] == first["files"] and second["profile"] == first["profile"]


def test_a_changed_source_or_a_file_added_beside_one_walks_anew(tmp_path):
    package = demo_package(tmp_path / "module_utils", 1)
    first = walk(tmp_path / "module_utils", tmp_path / "cache")

    (package / "helper.py").write_text("VALUE = 2\n")  # same size, new content
    changed = walk(tmp_path / "module_utils", tmp_path / "cache")
    assert changed["read"] > 0
    assert changed["files"]["ansible/module_utils/demo/helper.py"] != first["files"]["ansible/module_utils/demo/helper.py"]
    assert walk(tmp_path / "module_utils", tmp_path / "cache")["read"] == 0  # and that is kept in turn

    # A new file where the walk read: it could be what an import now means (a module where an attribute was).
    (package / "other.py").write_text("")
    assert walk(tmp_path / "module_utils", tmp_path / "cache")["read"] > 0


def test_a_payload_with_an_extension_is_never_cached(tmp_path):
    demo_package(tmp_path / "module_utils", 1)
    # Coverage on (as ansible-test turns it on): its code goes into the payload, so each walk walks.
    with_coverage = PROBE.replace("_builder.ExtensionManager.create(task_vars={})",
                                  "_builder.ExtensionManager(coverage=_coverage.Options(config='', output=None))").replace(
        "from ansible._internal._ansiballz import _builder",
        "from ansible._internal._ansiballz import _builder\n"
        "from ansible.module_utils._internal._ansiballz._extensions import _coverage")
    assert with_coverage != PROBE
    env = dict(os.environ, SAFEINDEX_ANSIBALLZ_MODULE_CACHE=str(tmp_path / "cache"), ANSIBLE_MODULE_UTILS=str(tmp_path / "module_utils"))
    for _ in range(2):
        result = subprocess.run([sys.executable, "-c", with_coverage, str(HOOK)], capture_output=True, text=True, env=env, check=True)
        assert json.loads(result.stdout)["read"] > 5
    assert not (tmp_path / "cache").exists()
