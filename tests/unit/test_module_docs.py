"""Every module's DOCUMENTATION, EXAMPLES and RETURN parse, match its argument_spec, and ansible-doc renders them."""

import os
import re
import subprocess
import sys

import pytest
import yaml
from ansible.plugins.loader import fragment_loader, init_plugin_loader
from ansible.utils.plugin_docs import add_fragments

from tests.conftest import REPO, load_module

MODULES = sorted(p.stem for p in (REPO / "library").glob("*.py"))
TYPES = {"str": "str", "int": "int", "bool": "bool", "float": "float", "list": "list", "dict": "dict", "path": "path", "raw": "raw"}
# ansible.builtin.action_common_attributes needs the collection loader, as ansible-doc has it.
init_plugin_loader()
fragment_loader.add_directory(str(REPO / "doc_fragments"))

# An option that can carry a secret must be no_log: by its name, or by what its description says it may hold.
SECRET_NAME = re.compile(r"password|passwd|token|secret|credential|api_key|private_key|webhook(_url)?$|header|(^|_)hook$|deployment_check|"
                         r"database_url")
SECRET_WORDS = re.compile(r"\b(token|bearer|password|secret|credentials?)\b", re.I)
# Options whose description names a secret they never hold, each with the reason.
NOT_SECRETS = {
    "aws_profile": "names a profile; the credentials stay in the AWS config files",
    "database": "run_notice's database as people read it; its description says: never the password",
    "replicas": "a list of replicas: the secret is its entries' password, a suboption that must be no_log (checked below)",
}
SUPPORT = {"full", "partial", "none", "N/A"}
SAMPLE_TYPES = {"str": str, "int": int, "bool": bool, "float": (int, float), "list": list, "dict": dict, "path": str, "raw": object}


def merged_documentation(name):
    """The module's DOCUMENTATION with its fragments merged as Ansible merges them (the module's keys win)."""
    module = load_module(name)
    doc = yaml.safe_load(module.DOCUMENTATION)
    add_fragments(doc, str(REPO / "library" / ("%s.py" % name)), fragment_loader, is_module=True)
    return module, doc


def description(option):
    text = option.get("description") or ""
    return " ".join(text) if isinstance(text, list) else text


@pytest.mark.parametrize("name", MODULES)
def test_documentation_matches_the_argument_spec(name):
    module, doc = merged_documentation(name)
    options = doc.get("options") or {}
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
def test_every_option_that_can_carry_a_secret_is_no_log(name):
    module, doc = merged_documentation(name)
    for option, documented in (doc.get("options") or {}).items():
        if option in NOT_SECRETS:
            continue
        if SECRET_NAME.search(option) or SECRET_WORDS.search(description(documented)):
            assert module.ARGUMENT_SPEC[option].get("no_log") is True, "%s can carry a secret: it must be no_log" % option
        else:
            # no_log on an option that holds nothing secret would mask its value in every output for no reason
            assert not module.ARGUMENT_SPEC[option].get("no_log"), "%s is no_log but not recognised as a secret here" % option


@pytest.mark.parametrize("name", MODULES)
def test_every_suboption_that_can_carry_a_secret_is_no_log_and_documented(name):
    module, doc = merged_documentation(name)
    for option, settings in module.ARGUMENT_SPEC.items():
        suboptions = settings.get("options") or {}
        documented = (doc.get("options") or {}).get(option, {}).get("suboptions") or {}
        assert sorted(documented) == sorted(suboptions), "%s: documented suboptions differ from the argument_spec" % option
        for name_, sub in suboptions.items():
            if SECRET_NAME.search(name_):
                assert sub.get("no_log") is True, "%s.%s can carry a secret: it must be no_log" % (option, name_)


@pytest.mark.parametrize("name", MODULES)
def test_attributes_say_what_check_mode_diff_mode_and_platform_support(name):
    _module, doc = merged_documentation(name)
    attributes = doc.get("attributes") or {}
    source = (REPO / "library" / ("%s.py" % name)).read_text()
    for attribute in ("check_mode", "diff_mode", "platform"):
        assert attribute in attributes, "attributes.%s is missing" % attribute
        entry = attributes[attribute]
        assert entry.get("description"), "attributes.%s has no description (fragment action_common_attributes)" % attribute
        assert entry.get("support") in SUPPORT, "attributes.%s.support is %r" % (attribute, entry.get("support"))
        if entry["support"] == "partial":
            assert entry.get("details"), "attributes.%s is partial: its details say what is left out" % attribute
    assert (attributes["check_mode"]["support"] != "none") == ("supports_check_mode=True" in source)
    assert (attributes["diff_mode"]["support"] != "none") == ("module._diff" in source)
    assert attributes["platform"].get("platforms"), "attributes.platform names its platforms"


@pytest.mark.parametrize("name", MODULES)
def test_every_return_value_has_a_sample_of_its_type(name):
    returned = yaml.safe_load(load_module(name).RETURN)
    for key, entry in returned.items():
        assert "sample" in entry, "RETURN %s has no sample" % key
        sample = entry["sample"]
        assert isinstance(sample, SAMPLE_TYPES[entry["type"]]), "RETURN %s: sample %r is not a %s" % (key, sample, entry["type"])
        if entry["type"] == "list" and entry.get("elements"):
            assert sample and all(isinstance(item, SAMPLE_TYPES[entry["elements"]]) for item in sample), key


@pytest.mark.parametrize("name", MODULES)
def test_ansible_doc_renders(name):
    completed = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-doc"), "-M", "library", name],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert "ERROR" not in completed.stderr
    assert "OPTIONS" in completed.stdout and "RETURN VALUES" in completed.stdout
