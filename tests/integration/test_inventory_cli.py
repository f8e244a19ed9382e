"""The inventories from the command line, as a user types them: `-i prod` and `-i staging` are the inventories of
inventories/, group_vars included, and a run with no database to work on fails loudly instead of exiting 0 having done
nothing. No server is needed: nothing here may reach a database (prod's hosts are not reachable from here anyway, so
prod is only listed, never run)."""

import json
import socket
import subprocess

import pytest

from tests.conftest import REPO
from tests.integration.conftest import ansible_command, run_playbook

PLAYBOOKS = ("migrate.yml", "rollback.yml")
# The plays that do the work; none of them may start when there is no database to work on.
WORK_PLAYS = {"migrate.yml": "PLAY [Add indexes online, safely]", "rollback.yml": "PLAY [Roll back a run]"}
STOPPED = "No database to work on: nothing was done."
INVENTORIES_LISTED = ("inventories/local", "prod or inventories/prod", "staging or inventories/staging")


def inventory_list(source):
    completed = subprocess.run([ansible_command("ansible-inventory"), "-i", source, "--list"], cwd=REPO,
                               capture_output=True, text=True, timeout=60, check=True)
    return json.loads(completed.stdout)


def host_vars(source, host):
    completed = subprocess.run([ansible_command("ansible-inventory"), "-i", source, "--host", host], cwd=REPO,
                               capture_output=True, text=True, timeout=60, check=True)
    return json.loads(completed.stdout)


def closed_port():
    """A loopback port nobody listens on: were a run to start after all, it would fail to connect, not touch a server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_inventory(path, databases=None, app=("app_web",)):
    """An inventory with an `app` group and, given, a `databases` group (hosts on a closed loopback port)."""
    lines = ["all:", "  children:", "    app:", "      hosts:"]
    lines += ["        %s: {ansible_host: 127.0.0.1}" % name for name in app]
    if databases is not None:
        lines += ["    databases:", "      hosts:" if databases else "      hosts: {}"]
        port = closed_port()
        lines += ["        %s: {db_engine: postgresql, db_host: 127.0.0.1, db_port: %d, db_name: app, db_user: app}"
                  % (name, port) for name in databases]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_stopped(playbook, inventory, tmp_path, *extra):
    """The playbook as typed, its artifacts in the test's folder; asserts it stopped before any work."""
    artifacts = tmp_path / "artifacts"
    completed = run_playbook(playbook, inventory, "-e", "artifacts_dir=%s" % artifacts, *extra, timeout=120)
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, output
    assert WORK_PLAYS[playbook] not in completed.stdout, output
    # No run folder, no record, no backup: no database was touched.
    assert not artifacts.exists(), list(artifacts.rglob("*"))
    return completed, output


@pytest.mark.parametrize("name", ["prod", "staging"])
def test_root_entry_is_the_inventory_with_its_group_vars(name):
    short, full = inventory_list(name), inventory_list("inventories/%s" % name)
    assert short == full
    assert short["databases"]["hosts"] == ["%s_app_db" % name]
    # group_vars/all/vars.yml of inventories/<name> applied through the short name: the rehearsal gate depends on it.
    found = host_vars(name, "%s_app_db" % name)
    assert found == host_vars("inventories/%s" % name, "%s_app_db" % name)
    assert found["environment_name"] == name
    assert found["db_password"] == "{{ vault_db_password }}"


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_prod_lists_its_database(playbook):
    completed = run_playbook(playbook, "prod", "--list-hosts", timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    work_play = completed.stdout.split("(databases):", 1)[1]
    assert "hosts (1):\n      prod_app_db" in work_play
    assert "Unable to parse" not in completed.stderr


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_an_inventory_that_does_not_exist_stops_the_run(playbook, tmp_path):
    completed, output = run_stopped(playbook, "nosuch", tmp_path)
    assert STOPPED in completed.stdout
    assert "Inventory read: %s/nosuch (no such file or directory" % REPO in completed.stdout
    assert "It has no host in group `databases`." in completed.stdout
    for listed in INVENTORIES_LISTED:
        assert listed in completed.stdout
    assert "inventories/local        (the default, ansible.cfg)" in completed.stdout


@pytest.mark.parametrize("playbook", PLAYBOOKS)
@pytest.mark.parametrize("databases", [None, []], ids=["no databases group", "empty databases group"])
def test_an_inventory_without_a_database_stops_the_run(playbook, databases, tmp_path):
    inventory = write_inventory(tmp_path / "hosts.yml", databases=databases)
    completed, output = run_stopped(playbook, inventory, tmp_path)
    assert STOPPED in completed.stdout
    assert "Inventory read: %s\n" % inventory in completed.stdout
    assert "It has no host in group `databases`." in completed.stdout
    for listed in INVENTORIES_LISTED:
        assert listed in completed.stdout


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_a_limit_without_a_database_stops_the_run(playbook, tmp_path):
    inventory = write_inventory(tmp_path / "hosts.yml", databases=["db_one", "db_two"])
    completed, output = run_stopped(playbook, inventory, tmp_path, "--limit", "app_web")
    assert STOPPED in completed.stdout
    assert "Inventory read: %s\n" % inventory in completed.stdout
    assert "Its group `databases` has 2 host(s) (db_one, db_two), none of them matched by --limit app_web." in completed.stdout
    for listed in INVENTORIES_LISTED:
        assert listed in completed.stdout


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_a_limit_that_matches_no_host_is_refused_by_ansible(playbook, tmp_path):
    """A limit that matches no host of the inventory at all is refused by ansible-playbook itself, before any play
    (so before our check, which cannot add its message here): exit 1, and it names the limit."""
    inventory = write_inventory(tmp_path / "hosts.yml", databases=["db_one"])
    completed, output = run_stopped(playbook, inventory, tmp_path, "--limit", "nomatch")
    assert completed.returncode == 1
    assert "Could not match supplied host pattern, ignoring: nomatch" in output
    assert "no hosts to target" in output


def test_the_check_lets_a_run_with_a_database_through(tmp_path):
    """The check alone: a database in the inventory (and in the limit) passes, without a module process."""
    inventory = write_inventory(tmp_path / "hosts.yml", databases=["db_one", "db_two"])
    for extra in ((), ("--limit", "db_two,app_web")):
        completed = run_playbook("playbooks/require_databases.yml", inventory, *extra, timeout=120)
        assert completed.returncode == 0, completed.stdout + completed.stderr
        assert "skipping: [" in completed.stdout
        assert STOPPED not in completed.stdout
