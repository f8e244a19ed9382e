"""An AWS endpoint that throttles every call, or never answers: retried with backoff, then a clear failure.

The endpoints are small local servers (threads of the test): one answers every call as AWS does when it throttles
(HTTP 400, code Throttling, in the protocol the client speaks), one accepts connections and never answers. Each
counts what reaches it, so the tests see the retries, not only the end.
"""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import yaml

from tests.conftest import REPO
from tests.integration.conftest import HOST, index_in_catalog, run_playbook, write_inventory
from tests.reliability.conftest import assert_consistent, assert_no_secret, table_counts

pytestmark = pytest.mark.slow

SPEC = yaml.safe_load((REPO / "migrations/indexes.yml").read_text())
REGION = "eu-west-1"
ATTEMPTS = "3"  # AWS_MAX_ATTEMPTS for these tests: the default 8 would wait about half a minute of backoff per call


# CloudWatch's client speaks JSON (X-Amz-Target names the operation); the query-compatible header carries the code.
THROTTLED_JSON = json.dumps({"__type": "Throttling", "message": "Rate exceeded"}).encode()
# RDS speaks the query protocol: its errors are XML.
THROTTLED_XML = (b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
                 b"<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>")


class ThrottlingEndpoint:
    """Answers every AWS call with a throttling error; `calls` lists the operations it was asked, in order."""

    def __init__(self):
        self.calls = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target = self.headers.get("X-Amz-Target")
                if target:
                    endpoint.calls.append(target.rsplit(".", 1)[-1])
                    answer = THROTTLED_JSON
                    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-query-error": "Throttling;Sender"}
                else:
                    endpoint.calls.append(parse_qs(body.decode()).get("Action", ["?"])[0])
                    answer, headers = THROTTLED_XML, {"Content-Type": "text/xml"}
                self.send_response(400)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_arguments):
                pass  # quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_exc):
        self.server.shutdown()
        self.server.server_close()


class SilentEndpoint:
    """Accepts connections and never answers (a hung endpoint); `connections` counts the attempts that reached it."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.url = "http://127.0.0.1:%d" % self.listener.getsockname()[1]
        self.accepted, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def connections(self):
        return len(self.accepted)

    def _accept(self):
        while not self.stop.is_set():
            try:
                self.accepted.append(self.listener.accept()[0])
            except TimeoutError:
                continue

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_exc):
        self.stop.set()
        self.thread.join()
        for connection in self.accepted:
            connection.close()
        self.listener.close()


def test_the_default_is_eight_attempts_in_standard_mode_and_aws_max_attempts_changes_it(aws_credentials, monkeypatch):
    from ansible.module_utils.safeindex.aws.client import aws_client

    assert aws_client("rds", REGION).meta.config.retries == {"mode": "standard", "total_max_attempts": 8}
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", ATTEMPTS)
    assert aws_client("rds", REGION).meta.config.retries == {"mode": "standard", "total_max_attempts": int(ATTEMPTS)}


def test_a_throttling_endpoint_is_retried_then_the_run_is_refused_before_any_work(pg_db, tmp_path, aws_credentials):
    counts = table_counts(pg_db)
    with ThrottlingEndpoint() as endpoint:
        inventory = write_inventory(tmp_path / "inventory", pg_db, rds_instance_id="chat-prod", aws_region=REGION,
                                    aws_endpoint_url=endpoint.url)
        started = time.monotonic()
        completed = run_playbook("migrate.yml", inventory, "-e", "run_id=throttled", env={"AWS_MAX_ATTEMPTS": ATTEMPTS})
        elapsed = time.monotonic() - started
    assert completed.returncode != 0, completed.stdout[-3000:]
    # Preflight's AWS calls, each tried AWS_MAX_ATTEMPTS times: the read replicas (that row warns), then the free space
    # (that row fails), and the run stops.
    assert endpoint.calls == ["DescribeDBInstances"] * int(ATTEMPTS) + ["GetMetricStatistics"] * int(ATTEMPTS)
    assert elapsed < 120
    report = json.loads((inventory / "artifacts" / HOST / "throttled/report.json").read_text())
    assert report["status"] == "failed" and report["backup"] is None and report["snapshot"] is None
    disk = [c for c in report["preflight"] if c["check"] == "disk space"][0]
    assert disk["result"] == "fail"
    for words in ("CloudWatch FreeStorageSpace of chat-prod at %s" % endpoint.url, "(Throttling)",
                  "(reached max retries: %d)" % (int(ATTEMPTS) - 1), "Rate exceeded"):
        assert words in disk["detail"] and words in completed.stdout, words
    replicas = [c for c in report["preflight"] if c["check"] == "RDS replica lag"][0]
    assert replicas["result"] == "warn" and "rds:DescribeDBInstances" in replicas["detail"] and "(Throttling)" in replicas["detail"]
    assert "preflight refused the run" in report["error"]
    assert not (inventory / "backups").exists()
    assert not any(index_in_catalog(pg_db, entry["table"], entry["name"]) for entry in SPEC["indexes"])
    assert_consistent(pg_db, counts)
    assert_no_secret(pg_db.password, completed.stdout, completed.stderr, folders=(inventory / "artifacts",))


def snapshot_args(endpoint_url, **extra):
    return dict(instance_id="app-db", run_id="20261124T220000Z-1a2b", database="app", aws_region=REGION,
                aws_endpoint_url=endpoint_url, poll_interval=0.1, wait_timeout=20) | extra


def test_a_throttled_snapshot_call_is_retried_once_per_attempt_then_names_the_throttling_and_endpoint(
        run_module, aws_credentials, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", ATTEMPTS)
    with ThrottlingEndpoint() as endpoint:
        result = run_module("rds_snapshot", snapshot_args(endpoint.url))
    assert result["failed"]
    # One call, retried: not the same call again after the retries ran out (that would double the wait).
    assert endpoint.calls == ["DescribeDBSnapshots"] * int(ATTEMPTS)
    for words in ("rds:DescribeDBSnapshots on instance app-db failed at %s" % endpoint.url, "(Throttling)",
                  "(reached max retries: %d)" % (int(ATTEMPTS) - 1), "Rate exceeded"):
        assert words in result["msg"], words


def test_an_endpoint_that_never_answers_times_out_per_attempt_and_names_the_timeout_and_endpoint(aws_credentials, monkeypatch):
    """The module's client with a 1 s read timeout (the product's is 60 s): the retries and the message, in seconds."""
    from ansible.module_utils.safeindex.aws import rds
    from ansible.module_utils.safeindex.aws.client import aws_client

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    with SilentEndpoint() as endpoint:
        client = aws_client("rds", REGION, endpoint.url, read_timeout=1)
        started = time.monotonic()
        with pytest.raises(rds.RdsError) as failed:
            rds.snapshots_for(client, "app-db", None, REGION).of_run("20261124T220000Z-1a2b")
        elapsed = time.monotonic() - started
        connections = endpoint.connections
    assert connections == 2 and 2 <= elapsed < 10
    message = str(failed.value)
    assert "rds:DescribeDBSnapshots on instance app-db failed" in message
    assert 'Read timeout on endpoint URL: "%s/"' % endpoint.url in message
