"""The execution environment (AWX / AAP) installs exactly the versions the project is tested with."""

import yaml

from tests.conftest import REPO


def pins(path):
    lines = (REPO / path).read_text().splitlines()
    return dict(line.split("==", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_execution_environment_pins_match_the_tested_versions():
    tested = {**pins("constraints.txt"), **pins("requirements.txt")}
    environment = yaml.safe_load((REPO / "execution-environment.yml").read_text())
    wanted = pins(environment["dependencies"]["python"])
    wanted.update([environment["dependencies"]["ansible_core"]["package_pip"].split("==", 1)])
    assert {"psycopg2-binary", "PyMySQL", "boto3", "ansible-core"} <= set(wanted)
    assert {name: version for name, version in wanted.items() if tested.get(name) != version} == {}
