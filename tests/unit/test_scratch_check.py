"""The restore check's scratch server: the judgements made before it starts (room on the controller, whether it can
load the dump), where a check ran in the report, and a template cache no two builds share."""

import os
from pathlib import Path

import pytest
from ansible.module_utils.safeindex.backup import scratch_check, scratch_server
from ansible.module_utils.safeindex.core.processes import ServerProcessError
from ansible.module_utils.safeindex.engines.mysql.scratch import MariadbScratch, missing_collations
from ansible.module_utils.safeindex.engines.postgresql.scratch import PostgresScratch
from ansible.module_utils.safeindex.report.values import verified_by


def test_a_mysql_8_dump_with_collations_mariadb_lacks_is_refused_naming_them_and_what_works():
    used = {"utf8mb4_0900_ai_ci", "utf8mb4_unicode_ci", "utf8mb4_0900_as_cs"}
    problem = missing_collations(used, {"utf8mb4_unicode_ci", "utf8mb4_general_ci"}, "8.0.36", "MariaDB 10.11.18")
    assert "utf8mb4_0900_ai_ci, utf8mb4_0900_as_cs" in problem and "utf8mb4_unicode_ci" not in problem
    assert "MariaDB 10.11.18 on the controller" in problem and "8.0.36" in problem
    assert "backup_verify_target: server" in problem and "backup_verify: list" in problem


def test_collations_the_scratch_server_knows_are_no_problem():
    assert missing_collations({"utf8mb4_unicode_ci"}, {"utf8mb4_unicode_ci", "latin1_swedish_ci"}, "10.11.6-MariaDB",
                              "MariaDB 10.11.18") is None


def test_room_for_the_copy_counts_the_dump_too_when_both_are_on_one_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(scratch_check, "_free_bytes", lambda path: 10 << 30)
    gib = 1 << 30
    assert scratch_check.space_problem(str(tmp_path), 4 * gib, 4 * gib, str(tmp_path)) is None
    problem = scratch_check.space_problem(str(tmp_path), 6 * gib, 5 * gib, str(tmp_path))
    assert "not enough space on the controller" in problem and "and the dump's %d, on the same disk" % (5 * gib) in problem
    assert "backup_verify_scratch_dir" in problem and "backup_verify_target: server" in problem
    monkeypatch.setattr(scratch_check, "_device", lambda path: hash(path))  # two disks: the dump is not the copy's worry
    assert scratch_check.space_problem(str(tmp_path / "a"), 6 * gib, 5 * gib, str(tmp_path / "b")) is None


@pytest.mark.parametrize(("verification", "text"), [
    ({"level": "restore", "target": "scratch PostgreSQL 18.6 on the controller", "streamed": True},
     "restore on scratch PostgreSQL 18.6 on the controller (restored while dumped)"),
    ({"level": "restore", "target": "scratch MariaDB 10.11.18 on the controller", "streamed": False},
     "restore on scratch MariaDB 10.11.18 on the controller"),
    ({"level": "restore", "target": "server"}, "restore on the server (a scratch database beside the live one)"),
    ({"level": "list"}, "list"),
])
def test_the_report_says_where_the_restore_check_ran(verification, text):
    assert verified_by(verification) == text


def _fake_build(folder, size):
    for name in ("initdb", "postgres", "pg_ctl"):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
        path.chmod(0o755)
    return folder


def test_two_builds_never_share_a_template(tmp_path):
    first = PostgresScratch(tmp_path / "a", str(_fake_build(tmp_path / "pg15/bin", 10)), port=1)
    same = PostgresScratch(tmp_path / "b", str(tmp_path / "pg15/bin"), port=2)
    other = PostgresScratch(tmp_path / "c", str(_fake_build(tmp_path / "pg18/bin", 10)), port=3)
    assert first.template_key() == same.template_key() != other.template_key()
    other_options = PostgresScratch(tmp_path / "d", str(tmp_path / "pg15/bin"), port=4)
    other_options.initdb_options = (*other_options.initdb_options, "--wal-segsize=1")
    assert other_options.template_key() != first.template_key()
    before_upgrade = first.template_key()
    _fake_build(tmp_path / "pg15/bin", 11)  # the same folder, upgraded in place
    assert PostgresScratch(tmp_path / "e", str(tmp_path / "pg15/bin"), port=5).template_key() != before_upgrade
    assert MariadbScratch.__name__ not in first.template_key()


def test_a_template_cache_of_someone_else_is_refused(tmp_path, monkeypatch):
    elsewhere = tmp_path / "cache"
    elsewhere.symlink_to(tmp_path)
    monkeypatch.setenv("SAFEINDEX_SCRATCH_CACHE", str(elsewhere))
    with pytest.raises(ServerProcessError, match="must not be shared"):
        scratch_server._own_folder(scratch_server.template_cache_root())
    own = tmp_path / "own"
    assert scratch_server._own_folder(own) == own and (os.stat(own).st_mode & 0o777) == 0o711


def test_a_signal_during_the_check_unwinds_and_the_handlers_come_back():
    import signal

    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(scratch_check.CheckInterrupted, match="SIGTERM"), scratch_check.signals_unwind():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):
            Path("/").exists()
    assert signal.getsignal(signal.SIGTERM) == previous


def test_a_small_database_is_checked_in_memory_a_big_one_on_disk_and_a_chosen_folder_wins(monkeypatch, tmp_path):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(0, 0, 16 << 30))
    monkeypatch.setattr(os.path, "ismount", lambda path: path == scratch_check.MEMORY_DIR)
    assert scratch_check.choose_dir(None, 100 << 20) == scratch_check.MEMORY_DIR
    assert scratch_check.choose_dir(None, 3 << 30) != scratch_check.MEMORY_DIR  # over MEMORY_MAX_BYTES
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(0, 0, 1 << 30))
    assert scratch_check.choose_dir(None, 100 << 20) != scratch_check.MEMORY_DIR  # more than a quarter of what is free
    assert scratch_check.choose_dir(str(tmp_path), 100 << 20) == str(tmp_path)


def test_as_root_a_private_temporary_folder_is_passed_over_for_one_the_server_user_can_enter(tmp_path, monkeypatch):
    # CI and AWX often run with TMPDIR in a 0700 folder; the scratch PostgreSQL runs as the postgres system user.
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    os.chmod(private, 0o700)
    monkeypatch.setattr(scratch_server.tempfile, "gettempdir", lambda: str(private))
    monkeypatch.setattr(scratch_server.os, "geteuid", lambda: 0)
    chosen = scratch_server.temporary_folder()
    assert chosen in ("/var/tmp", "/tmp") and scratch_server._others_may_enter(chosen)
    assert str(scratch_server.template_cache_root()).startswith(chosen + "/")
    # Not root: the server runs as ourselves, the private folder is fine.
    monkeypatch.setattr(scratch_server.os, "geteuid", lambda: 1000)
    assert scratch_server.temporary_folder() == str(private)


def test_the_restore_check_s_client_runs_at_background_priority(tmp_path):
    # Where the controller shares the CPU with a database, the check must yield to it.
    import sys

    from ansible.module_utils.safeindex.backup.stream import RestoreFeed
    from ansible.module_utils.safeindex.core.processes import BACKGROUND_NICENESS

    seen = tmp_path / "niceness"
    feed = RestoreFeed([sys.executable, "-c", "import os, sys; sys.stdin.read(); open(%r, 'w').write(str(os.nice(0)))" % str(seen)],
                       dict(os.environ))
    feed.write(b"dump bytes")
    feed.finish()
    assert int(seen.read_text()) == os.nice(0) + BACKGROUND_NICENESS
