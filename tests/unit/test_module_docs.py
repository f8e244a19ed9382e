"""Every module's DOCUMENTATION, EXAMPLES and RETURN parse, match its argument_spec, and ansible-doc renders them."""

import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO, load_module

MODULES = sorted(p.stem for p in (REPO / "library").glob("*.py"))
FRAGMENTS = {p.stem: p for p in (REPO / "doc_fragments").glob("*.py")}
TYPES = {"str": "str", "int": "int", "bool": "bool", "float": "float", "list": "list", "dict": "dict", "path": "path", "raw": "raw"}


def documented_options(module):
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = dict(doc.get("options") or {})
    for fragment in doc.get("extends_documentation_fragment") or []:
        namespace = {}
        exec(FRAGMENTS[fragment].read_text(), namespace)
        options.update(yaml.safe_load(namespace["ModuleDocFragment"].DOCUMENTATION)["options"])
    return doc, options


@pytest.mark.parametrize("name", MODULES)
def test_documentation_matches_the_argument_spec(name):
    module = load_module(name)
    doc, options = documented_options(module)
    assert doc["module"] == name and doc["short_description"] and doc["description"]
    spec = module.ARGUMENT_SPEC
    assert sorted(options) == sorted(spec), "documented options differ from the argument_spec"
    for option, settings in spec.items():
        documented = options[option]
        assert documented.get("description"), "%s has no description" % option
        assert TYPES[documented.get("type", "str")] == settings.get("type", "str"), option
        assert documented.get("default") == settings.get("default"), option
        assert documented.get("choices") == settings.get("choices"), option
        assert bool(documented.get("required")) == bool(settings.get("required")), option
        assert documented.get("elements") == settings.get("elements"), option
        if "password" in option or option == "database_url":
            assert settings.get("no_log") is True, "%s must be no_log" % option
    assert yaml.safe_load(module.EXAMPLES)
    returned = yaml.safe_load(module.RETURN)
    assert returned and all(v.get("description") and v.get("type") for v in returned.values())


@pytest.mark.parametrize("name", MODULES)
def test_ansible_doc_renders(name):
    completed = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-doc"), "-M", "library", name],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert "ERROR" not in completed.stderr
    assert "OPTIONS" in completed.stdout and "RETURN VALUES" in completed.stdout
