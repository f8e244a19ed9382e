"""A broken migration must fail the staging rehearsal: `molecule test -s postgres` with a spec naming a column that
does not exist exits non-zero, names the failing check, and leaves no server running (destroy ran)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

WRONG_COLUMN = "sent_at_no_such_column"
# create.yml prints it: the scenario's temporary folder, which holds the server, its data and the write load's files.
SANDBOX_FOLDER = re.compile(r"staging sandbox folder: (/\S+)")


def processes_in(folder):
    """Pids of running processes whose command line names the folder (the sandbox's server, the write load)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if folder in command:
            found.append(int(cmdline.parent.name))
    return found


def broken_spec(folder):
    """The project's spec with one index on a column the message table does not have."""
    spec = yaml.safe_load((REPO / "migrations/indexes.yml").read_text())
    index = next(entry for entry in spec["indexes"] if entry["name"] == "idx_message_timestamp")
    index["columns"] = [WRONG_COLUMN]
    path = folder / "indexes-broken.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_a_spec_with_a_wrong_column_fails_the_rehearsal_and_destroy_cleans_up(tmp_path):
    venv_bin = str(Path(sys.executable).parent)
    env = dict(
        os.environ,
        PATH=venv_bin + os.pathsep + os.environ.get("PATH", ""),
        ANSIBLE_NOCOLOR="1",
        NO_COLOR="1",
        SAFEINDEX_INDEX_SPEC_FILE=str(broken_spec(tmp_path)),
        # Its own molecule state and rehearsal records: other runs of the suite on this machine keep theirs.
        MOLECULE_EPHEMERAL_DIRECTORY=str(tmp_path / "molecule"),
        SAFEINDEX_REHEARSAL_DIR=str(tmp_path / "rehearsals"),
        SAFEINDEX_REHEARSAL_MESSAGES="20000",
    )
    completed = subprocess.run([str(Path(venv_bin) / "molecule"), "test", "-s", "postgres"], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=840)
    output = completed.stdout + completed.stderr

    assert completed.returncode != 0, output[-3000:]
    # The preflight check that refuses the spec, with the column it could not find.
    assert "index spec" in output and WRONG_COLUMN in output, output[-3000:]
    assert "converge: Executed: Failed" in output, output[-3000:]
    # destroy ran: the scenario's folder is gone and nothing started in it still runs.
    folders = SANDBOX_FOLDER.findall(output)
    assert folders, "create.yml did not say where the sandbox lives:\n" + output[-3000:]
    for folder in folders:
        assert not Path(folder).exists(), folder
        assert processes_in(folder) == [], folder
    assert not list((tmp_path / "rehearsals").glob("*.json")), "a failed rehearsal must not leave a rehearsal record"
