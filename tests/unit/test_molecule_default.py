"""Bare `molecule test` is the staging rehearsal: the default scenario resolves to the postgres scenario's playbooks,
inventory links, platform and settings (only the relative paths differ), so the named scenarios' runs in `make test`
prove it too, without a third run."""

import os

import yaml

from tests.conftest import REPO

MOLECULE = REPO / "molecule"


def resolved(scenario):
    """The scenario's molecule.yml with every playbook and inventory link made an absolute, real path."""
    folder = MOLECULE / scenario
    config = yaml.safe_load((folder / "molecule.yml").read_text())
    real = {}
    for name, path in config["provisioner"]["inventory"]["links"].items():
        real[name] = os.path.realpath(folder / path)
    config["provisioner"]["inventory"]["links"] = real
    config["ansible"]["playbooks"] = {name: os.path.realpath(folder / path)
                                      for name, path in config["ansible"]["playbooks"].items()}
    return config


def test_the_default_scenario_is_the_postgres_rehearsal():
    default, postgres = resolved("default"), resolved("postgres")
    assert default == postgres
    for path in list(default["ansible"]["playbooks"].values()) + list(default["provisioner"]["inventory"]["links"].values()):
        assert os.path.exists(path), path
