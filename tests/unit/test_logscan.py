"""log_scan on files in tmp_path: only error lines written after the mark, through rotation and truncation."""

import os

from ansible.module_utils.safeindex.monitor import logscan

ERRORS = logscan.compile_patterns([r"\b(ERROR|CRITICAL|FATAL)\b|Traceback"])


def write(path, *lines, mode="a"):
    with open(path, mode) as log:
        log.write("".join(line + "\n" for line in lines))


def test_only_error_lines_after_the_mark_are_reported(tmp_path):
    log = tmp_path / "error.log"
    write(log, "INFO started", "ERROR old failure before the run")
    marked = logscan.mark(str(log))
    write(log, "INFO request ok", "ERROR new failure", "Traceback (most recent call last):", "DEBUG errors=0")

    found = logscan.scan(str(log), marked, ERRORS, 50)

    assert found["new_error_lines"] == ["ERROR new failure", "Traceback (most recent call last):"]
    assert found["count"] == 2


def test_nothing_new_reports_nothing(tmp_path):
    log = tmp_path / "error.log"
    write(log, "ERROR old failure")
    found = logscan.scan(str(log), logscan.mark(str(log)), ERRORS, 50)
    assert found["new_error_lines"] == [] and found["count"] == 0


def test_a_rotated_log_is_read_from_its_start_and_the_old_file_from_the_mark(tmp_path):
    log = tmp_path / "error.log"
    write(log, "ERROR before the run")
    marked = logscan.mark(str(log))
    write(log, "ERROR after the mark, before rotation")
    os.rename(log, tmp_path / "error.log.1")  # what logrotate does
    write(log, "ERROR in the new file", mode="w")

    found = logscan.scan(str(log), marked, ERRORS, 50)

    assert found["new_error_lines"] == ["ERROR after the mark, before rotation", "ERROR in the new file"]
    assert "rotated" in found["detail"] and "error.log.1" in found["detail"]


def test_a_rotated_log_whose_old_file_is_gone_is_read_from_its_start(tmp_path):
    log = tmp_path / "error.log"
    write(log, "ERROR before the run")
    marked = logscan.mark(str(log))
    os.remove(log)
    write(log, "ERROR in the new file", mode="w")

    found = logscan.scan(str(log), marked, ERRORS, 50)

    # The new file may even get the deleted one's inode: its first bytes tell them apart.
    assert found["new_error_lines"] == ["ERROR in the new file"]
    assert "from its start" in found["detail"]


def test_a_log_truncated_in_place_is_read_from_its_start(tmp_path):
    log = tmp_path / "error.log"
    write(log, "INFO padding " * 20, "ERROR before the run")
    marked = logscan.mark(str(log))
    write(log, "ERROR after truncation", mode="w")  # copytruncate: same inode, smaller

    found = logscan.scan(str(log), marked, ERRORS, 50)

    assert found["new_error_lines"] == ["ERROR after truncation"]
    assert "truncated" in found["detail"]


def test_a_log_created_after_the_mark_is_read_whole(tmp_path):
    log = tmp_path / "error.log"
    marked = logscan.mark(str(log))
    assert marked["exists"] is False
    write(log, "FATAL first line ever")

    found = logscan.scan(str(log), marked, ERRORS, 50)

    assert found["new_error_lines"] == ["FATAL first line ever"] and "created" in found["detail"]


def test_all_lines_are_counted_but_only_max_lines_returned(tmp_path):
    log = tmp_path / "error.log"
    marked = logscan.mark(str(log))
    write(log, *["ERROR number %d" % n for n in range(120)])

    found = logscan.scan(str(log), marked, ERRORS, 10)

    assert found["count"] == 120
    assert found["new_error_lines"] == ["ERROR number %d" % n for n in range(10)]


def test_a_partly_written_last_line_counts(tmp_path):
    log = tmp_path / "error.log"
    marked = logscan.mark(str(log))
    with open(log, "w") as out:
        out.write("INFO ok\nCRITICAL still being writ")

    found = logscan.scan(str(log), marked, ERRORS, 50)

    assert found["new_error_lines"] == ["CRITICAL still being writ"]


def test_the_module_marks_then_scans(tmp_path, run_module):
    log = tmp_path / "error.log"
    write(log, "ERROR before")
    marked = run_module("log_scan", {"state": "mark", "paths": [str(log)]})
    assert marked["changed"] is False and marked["marks"][0]["size"] == log.stat().st_size
    write(log, "ERROR after")

    scanned = run_module("log_scan", {"paths": [str(log), str(tmp_path / "absent.log")], "marks": marked["marks"]}, check_mode=True)

    assert scanned["_rc"] == 0, scanned and scanned["changed"] is False
    assert scanned["logs"][0]["new_error_lines"] == ["ERROR after"]
    assert scanned["logs"][1]["count"] == 0 and scanned["new_error_count"] == 1
