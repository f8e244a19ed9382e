"""The monitor's judgments: a smoke check's answer, the error lines an app log gained, and what fails the run."""

from ansible.module_utils.safeindex.monitor import smoke

HOME = {"name": "home page", "url": "http://app/", "body": "Welcome"}
LOGIN = {"name": "login", "url": "http://app/login", "method": "POST", "status": [200, 302]}


def answer(check, status, content=""):
    return {"item": check, "status": status, "content": content}


def test_a_check_passes_on_an_expected_status_and_the_body_it_names():
    verdict = smoke.judge_smoke(HOME, answer(HOME, 200, "<h1>Welcome</h1>"), "start")
    assert verdict["ok"] is True and verdict["detail"] == "start of the window: HTTP 200, body has 'Welcome'"
    assert (verdict["name"], verdict["method"], verdict["status"], verdict["expected_status"]) == ("home page", "GET", 200, 200)
    assert smoke.judge_smoke(LOGIN, answer(LOGIN, 302), "end")["detail"] == "end of the window: HTTP 302"


def test_a_check_fails_on_another_status_naming_the_expected_ones():
    verdict = smoke.judge_smoke(LOGIN, answer(LOGIN, 500), "start")
    assert verdict["ok"] is False and verdict["detail"] == "start of the window: HTTP 500, expected 200 or 302"


def test_a_check_fails_when_the_body_lacks_its_text():
    verdict = smoke.judge_smoke(HOME, answer(HOME, 200, "maintenance"), "end")
    assert verdict["ok"] is False and verdict["detail"] == "end of the window: HTTP 200, but the body lacks 'Welcome'"


def test_a_check_without_an_answer_says_why():
    no_answer = {"item": HOME, "status": -1, "msg": "Status code was -1: Connection refused"}
    verdict = smoke.judge_smoke(HOME, no_answer, "start")
    assert verdict["ok"] is False and verdict["status"] == -1
    assert verdict["detail"] == "start of the window: no answer: Status code was -1: Connection refused"
    assert smoke.judge_smoke({"url": "http://app/x"}, {}, "start")["name"] == "http://app/x"


def test_a_round_is_judged_check_by_check():
    verdicts = smoke.judge_round([answer(HOME, 200, "Welcome"), answer(LOGIN, 500)], "start")
    assert [v["ok"] for v in verdicts] == [True, False] and smoke.any_failed(verdicts)
    assert not smoke.any_failed(verdicts[:1]) and not smoke.any_failed([])


def test_a_log_that_could_not_be_scanned_says_so_with_its_host():
    scanned = [{"item": "app1", "logs": [{"path": "/var/log/app.log", "new_error_lines": ["ERROR x"], "count": 1}]},
               {"item": "app2", "msg": "Permission denied"}, {"item": "app3", "unreachable": True}]
    logs = smoke.error_logs(scanned, {"app1": "/var/log/app.log", "app2": ["/a.log", "/b.log"], "app3": "/c.log"})
    assert [log["host"] for log in logs] == ["app1", "app2", "app3"]
    assert logs[1] == {"host": "app2", "path": "/a.log, /b.log", "new_error_lines": [], "count": 0,
                       "detail": "could not scan: Permission denied"}
    assert logs[2]["detail"] == "could not scan: unreachable"


def test_the_problems_name_failed_checks_and_new_error_lines_with_how_many_more():
    checks = smoke.judge_round([answer(HOME, 200, "Welcome"), answer(LOGIN, 500)], "start")
    logs = [{"host": "app1", "path": "/var/log/app.log", "new_error_lines": ["ERROR a", "ERROR b"], "count": 5},
            {"host": "app2", "path": "/var/log/app.log", "new_error_lines": [], "count": 0}]
    problems = smoke.problems(checks, logs)
    assert problems == ["smoke check login: start of the window: HTTP 500, expected 200 or 302",
                        "5 new error lines in app1:/var/log/app.log:\n    ERROR a\n    ERROR b\n    ... and 3 more\n"]
    one = [{"host": "h", "path": "p", "new_error_lines": ["E"], "count": 1}]
    assert smoke.problems([], one) == ["1 new error line in h:p:\n    E\n"]


def test_the_monitor_result_and_the_failure_with_the_rollback_command():
    checks = smoke.judge_round([answer(LOGIN, 500)], "start")
    command = smoke.rollback_command(["inventories/prod", "my inv"], "run-42", "db1")
    assert command == "ansible-playbook rollback.yml -i inventories/prod -i 'my inv' -e run_id=run-42 --limit db1"
    health = {"samples": [{"seconds": 0}], "max_connections": 3, "max_lock_waits": 0, "detail": "1 samples", "changed": False}
    result = smoke.monitor_result(checks, [], health, {"metrics": {"CPUUtilization": {"before": 1, "after": 2}}}, 12.34, command)
    assert result["duration_seconds"] == 12.3 and result["health"] == {"samples": [{"seconds": 0}], "max_connections": 3,
                                                                       "max_lock_waits": 0, "detail": "1 samples"}
    assert result["cloudwatch"] == {"CPUUtilization": {"before": 1, "after": 2}} and result["rollback_command"] == command
    assert smoke.failure_message(result, "db1", "run-42") == (
        "Monitoring of db1 after run run-42 found problems:\n"
        "- smoke check login: start of the window: HTTP 500, expected 200 or 302\n"
        "Roll back the indexes this run built with:\n"
        "  " + command)
    quiet = smoke.monitor_result([], [], {"msg": "cannot connect"}, {"skipped": True}, 1, command)
    assert quiet["health"] is None and quiet["cloudwatch"] is None and smoke.failure_message(quiet, "db1", "run-42") is None
