"""The database password in no argv (`ps`), no environment, no output (-vvv), no file the run writes; those files 0600.

test_migrate_playbook.py already reads the -vvv output and the artifacts after a run. This case also watches the run
while it happens: every process's command line (and this user's processes' environments) sampled every 20 ms, the
pg_dump / mysqldump and restore children included, and every file under the run's temporary folder (Ansible's, the
progress callback's spool, the client tools' secrets folder) while it exists. Then a rollback that restores the
backup, watched the same way.
"""

import contextlib
import gzip
import os
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import run_playbook, said_of, write_inventory_of
from tests.integration.test_rollback_restore import database_to_restore_into
from tests.reliability.conftest import assert_consistent, assert_no_secret, assert_private, files_under, table_counts

pytestmark = pytest.mark.slow

SPEC = {"indexes": [
    {"name": "idx_user_username", "table": "user", "columns": ["username"]},
    {"name": "idx_message_conversation_timestamp", "table": "message", "columns": ["conversation_id", "timestamp"]},
]}
DUMP_TOOLS = {"postgresql": {"pg_dump"}, "mysql": {"mariadb-dump", "mysqldump"}}
RESTORE_TOOLS = {"postgresql": {"pg_restore"}, "mysql": {"mariadb", "mysql"}}
# The client tools read the password from a 0600 file in a private 0700 folder, removed after: the one place it may be.
SECRETS_FOLDER_PREFIX = "safeindex-secrets-"


class Sampler(threading.Thread):
    """Every ~20 ms: each process's argv, our own processes' environments, and the files under the run's temp folder,
    for any of the secrets."""

    def __init__(self, secrets, temp_dir):
        super().__init__(name="secret sampler", daemon=True)
        self.secrets, self.temp_dir = [secret.encode() for secret in secrets], temp_dir
        self.stopping = threading.Event()
        self.programs, self.leaks, self.sweeps, self.files_read = set(), [], 0, set()

    def run(self):
        while not self.stopping.is_set():
            self.sweep_processes()
            self.sweep_files()
            self.sweeps += 1
            time.sleep(0.02)

    def sweep_processes(self):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                argv = Path(entry.path, "cmdline").read_bytes()
                environment = Path(entry.path, "environ").read_bytes() if entry.stat().st_uid == os.getuid() else b""
            except OSError:
                continue  # gone, or not ours to read
            words = argv.split(b"\0")
            self.programs.update(os.path.basename(w.decode("utf-8", "replace")) for w in words[:2] if w)
            if any(secret in argv for secret in self.secrets):
                self.leaks.append("argv of pid %s: %s" % (entry.name, words[0].decode("utf-8", "replace")))
            if any(secret in environment for secret in self.secrets):
                self.leaks.append("environment of pid %s: %s" % (entry.name, words[0].decode("utf-8", "replace")))

    def sweep_files(self):
        for root, dirs, names in os.walk(self.temp_dir):
            dirs[:] = [d for d in dirs if not d.startswith(SECRETS_FOLDER_PREFIX)]
            for name in names:
                path = os.path.join(root, name)
                try:
                    content = Path(path).read_bytes()
                except OSError:
                    continue
                self.files_read.add(path)
                if any(secret in content for secret in self.secrets):
                    self.leaks.append("file %s" % path)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stopping.set()
        self.join(30)


def watched_playbook(secrets, temp_dir, playbook, inventory, *extra):
    """Run a playbook -vvv with every temporary file it makes under temp_dir, sampled all along for the secrets."""
    env = {"TMPDIR": str(temp_dir), "ANSIBLE_LOCAL_TEMP": str(temp_dir / "ansible-local"),
           "ANSIBLE_REMOTE_TEMP": str(temp_dir / "ansible-remote")}
    with Sampler(secrets, temp_dir) as sampler:
        completed = run_playbook(playbook, inventory, "-vvv", *extra, env=env)
    assert sampler.sweeps > 50, "the sampler barely ran"
    assert sampler.leaks == [], sampler.leaks[:5]
    # The secrets folder is gone with the run.
    assert not [p for p in temp_dir.rglob(SECRETS_FOLDER_PREFIX + "*")]
    return completed, sampler


def test_the_password_is_in_no_argv_environment_output_or_file_of_a_migration_and_its_restore(dbs, tmp_path):
    """Both engines in each run (a host each), each one's password looked for everywhere."""
    passwords = [db.password for db in dbs.values()]
    assert all(len(password) >= 12 for password in passwords), "the sandbox's random password is the distinctive secret"
    counts_before = {host: table_counts(db) for host, db in dbs.items()}
    temp_dir = tmp_path / "tmp"
    temp_dir.mkdir()
    inventory = write_inventory_of(tmp_path / "inventory", dbs)
    spec = tmp_path / "indexes.yml"
    spec.write_text(yaml.safe_dump(SPEC))
    migrated, sampler = watched_playbook(passwords, temp_dir, "migrate.yml", inventory, "-e", "index_spec_file=%s" % spec,
                                         "-e", "run_id=secret-run")
    assert migrated.returncode == 0, migrated.stdout[-3000:]
    for db in dbs.values():
        # The sampler saw the client tools run: their command lines were checked, not missed.
        assert sampler.programs & DUMP_TOOLS[db.engine], sorted(sampler.programs)
        assert sampler.programs & RESTORE_TOOLS[db.engine], sorted(sampler.programs)

    with contextlib.ExitStack() as stack:
        restored = {host: stack.enter_context(database_to_restore_into(db, "%s_restored_secrets" % db.name))
                    for host, db in dbs.items()}
        write_inventory_of(inventory, dbs, host_vars={host: {"restore_database": into.name} for host, into in restored.items()})
        rolled_back, sampler = watched_playbook(passwords, temp_dir, "rollback.yml", inventory, "-e", "run_id=secret-run",
                                                "-e", "rollback_mode=restore_backup")
        assert rolled_back.returncode == 0, rolled_back.stdout[-3000:]
        for host, into in restored.items():
            assert into.name in said_of(rolled_back, host)  # each host restored into its own database
        for db in dbs.values():
            assert sampler.programs & RESTORE_TOOLS[db.engine], sorted(sampler.programs)
    folders = (inventory / "artifacts", inventory / "backups")
    for host, db in dbs.items():
        assert_consistent(db, counts_before[host])
        assert list(files_under(inventory / "backups" / host / "secret-run")), "the run left no backup to check"
    for password in passwords:
        assert_no_secret(password, migrated.stdout, migrated.stderr, rolled_back.stdout, rolled_back.stderr, folders=folders)
        assert_no_secret(password, folders=[temp_dir])
        # MySQL dumps are gzip-compressed as they stream: read them as a restore would.
        for dump in (inventory / "backups").rglob("*.gz"):
            assert password.encode() not in gzip.decompress(dump.read_bytes()), dump
    assert_private(*folders)
