"""`make collection`: the collection tree is the repository's own sources with the names a collection needs."""

import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import build_collection  # noqa: E402  (scripts/ is not a package)

MODULES = ["db_index", "db_lock"]
FRAGMENTS = ["safeindex_connection", "safeindex_run"]


def rewrite(text):
    return build_collection.rewrite_python(text, MODULES, FRAGMENTS, ["safeindex_progress"])


def test_module_utils_imports_move_under_the_collection():
    text = "from ansible.module_utils.safeindex.core.module import connected\nimport ansible.module_utils.safeindex.run.lock as lock\n"
    assert rewrite(text) == (
        "from ansible_collections.safeindex.safeindex.plugins.module_utils.core.module import connected\n"
        "import ansible_collections.safeindex.safeindex.plugins.module_utils.run.lock as lock\n"
    )


def test_ansible_own_module_utils_stay_as_they_are():
    text = "from ansible.module_utils.basic import AnsibleModule\nfrom ansible.module_utils.urls import open_url\n"
    assert rewrite(text) == text


def test_doc_fragments_get_their_fqcn_also_with_a_variable_and_builtin_ones_stay():
    doc = ("extends_documentation_fragment:\n  - ansible.builtin.action_common_attributes\n  - safeindex_connection\n"
           "  - safeindex_run.run_id\n")
    assert rewrite(doc) == ("extends_documentation_fragment:\n  - ansible.builtin.action_common_attributes\n"
                            "  - safeindex.safeindex.safeindex_connection\n  - safeindex.safeindex.safeindex_run.run_id\n")


def test_module_references_and_example_tasks_get_their_fqcn():
    text = ('DOCUMENTATION = r"""\ndescription: Takes the lock as M(db_lock) does; M(other) stays.\nseealso:\n  - module: db_index\n"""\n'
            'EXAMPLES = r"""\n- name: Build it\n  db_index:\n    name: idx\n    run_id: first-run\n"""\n'
            'RETURN = r"""\ndb_index:\n  description: a return key named like a module is left alone\n"""\n')
    out = rewrite(text)
    assert "M(safeindex.safeindex.db_lock) does; M(other) stays" in out
    assert "  - module: safeindex.safeindex.db_index\n" in out
    assert "- name: Build it\n  safeindex.safeindex.db_index:\n" in out
    assert 'RETURN = r"""\ndb_index:\n' in out


def test_the_callback_is_named_by_its_fqcn():
    assert rewrite('    CALLBACK_NAME = "safeindex_progress"\n') == '    CALLBACK_NAME = "safeindex.safeindex.safeindex_progress"\n'


def test_galaxy_yml_takes_the_version_of_pyproject():
    template = (REPO / "scripts" / "collection" / build_collection.GALAXY_TEMPLATE).read_text()
    galaxy = yaml.safe_load(build_collection.galaxy_yml(template, "1.2.3"))
    assert (galaxy["namespace"], galaxy["name"], galaxy["version"]) == ("safeindex", "safeindex", "1.2.3")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return build_collection.build(tmp_path_factory.mktemp("collection"))


def test_the_tree_holds_every_module_fragment_plugin_and_role_of_the_repository(tree):
    assert tree.parts[-3:] == ("ansible_collections", "safeindex", "safeindex")
    for source, target in (("library", "plugins/modules"), ("doc_fragments", "plugins/doc_fragments"),
                           ("callback_plugins", "plugins/callback")):
        assert sorted(p.name for p in (REPO / source).glob("*.py")) == sorted(p.name for p in (tree / target).glob("*.py"))
    assert sorted(p.name for p in (REPO / "roles").iterdir()) == sorted(p.name for p in (tree / "roles").iterdir())
    assert (tree / "plugins" / "module_utils" / "core" / "module.py").exists()
    assert (tree / "meta" / "runtime.yml").exists() and (tree / "README.md").exists()
    galaxy = yaml.safe_load((tree / "galaxy.yml").read_text())
    assert galaxy["version"] == build_collection.project_version()
    leftovers = [str(p) for p in tree.rglob("*.py") if "ansible.module_utils.safeindex" in p.read_text()]
    assert leftovers == []


def test_the_built_tarball_installs_and_ansible_doc_knows_its_modules(tree, tmp_path):
    tarball = build_collection.build_tarball(tree, tmp_path)
    bin_dir = os.path.dirname(sys.executable)
    installed = tmp_path / "collections"
    subprocess.run([os.path.join(bin_dir, "ansible-galaxy"), "collection", "install", "--offline", "-p", str(installed), str(tarball)],
                   check=True, capture_output=True, text=True, timeout=120)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(installed))
    completed = subprocess.run([os.path.join(bin_dir, "ansible-doc"), "safeindex.safeindex.db_index"], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert "safeindex.safeindex.db_index" in completed.stdout and "db_password" in completed.stdout
