"""Retention removes only this tool's old backups of this host, and only the files their manifest names; scratch names."""

import json
import time

from ansible.module_utils.safeindex.backup.take import BackupOptions, apply_retention, scratch_name


def iso(days_ago):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - days_ago * 86400))


def make_backup(host_dir, run, days_ago, tool="safeindex", extra_file=None):
    folder = host_dir / run
    folder.mkdir(parents=True)
    (folder / "chatbot.pgdump").write_bytes(b"dump")
    (folder / "manifest.json").write_text(json.dumps({"tool": tool, "run_id": run, "file": "chatbot.pgdump", "finished": iso(days_ago)}))
    if extra_file:
        (folder / extra_file).write_text("not ours")
    return folder


def test_only_our_old_backups_of_this_host_go(tmp_path):
    host = tmp_path / "db1"
    old = make_backup(host, "old-run", 10)
    old_with_notes = make_backup(host, "old-run-2", 9, extra_file="operator-notes.txt")
    recent = make_backup(host, "recent-run", 2)
    foreign = make_backup(host, "foreign-run", 30, tool="other-tool")
    no_manifest = host / "hand-made"
    no_manifest.mkdir()
    (no_manifest / "backup.sql").write_text("old")
    other_host = make_backup(tmp_path / "db2", "old-run", 10)

    options = BackupOptions(run_id="current-run", host_name="db1", backup_dir=str(tmp_path), retention_days=7)
    planned = apply_retention(options, check_mode=True)
    assert sorted(planned) == sorted(str(p) for p in (
        old / "chatbot.pgdump", old / "manifest.json", old_with_notes / "chatbot.pgdump", old_with_notes / "manifest.json"))
    assert (old / "chatbot.pgdump").exists()  # check mode removed nothing

    removed = apply_retention(options)
    assert sorted(removed) == sorted(planned)
    assert not old.exists()
    assert sorted(p.name for p in old_with_notes.iterdir()) == ["operator-notes.txt"]
    for kept in (recent / "chatbot.pgdump", foreign / "chatbot.pgdump", no_manifest / "backup.sql", other_host / "chatbot.pgdump"):
        assert kept.exists()


def test_the_current_run_and_a_zero_retention_are_left_alone(tmp_path):
    current = make_backup(tmp_path / "db1", "current-run", 30)
    assert apply_retention(BackupOptions(run_id="current-run", host_name="db1", backup_dir=str(tmp_path))) == []
    assert apply_retention(BackupOptions(run_id="x", host_name="db1", backup_dir=str(tmp_path), retention_days=0)) == []
    assert (current / "chatbot.pgdump").exists()


def test_the_restore_check_scratch_database_is_the_run_and_the_database_s_own():
    # Two hosts of one run may be databases of one server, checked at the same time (a fleet).
    first, second = scratch_name("20261124T220000Z-5e7a", "chatbot"), scratch_name("20261124T220000Z-5e7a", "chatbot_2")
    assert first != second and first.startswith("safeindex_verify_20261124T220000Z_5e7a_chatbot_")
    long_run = "r" * 64
    assert scratch_name(long_run, "a" * 64) != scratch_name(long_run, "a" * 63 + "b")
    assert all(len(scratch_name(long_run, name)) <= 63 for name in ("a" * 64, "x"))
