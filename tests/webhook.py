"""A Slack-style incoming webhook on loopback, for the notice tests: it keeps what it received and answers as told."""

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The secret part of a Slack webhook URL is its path; tests check it never shows up anywhere.
SECRET_PATH = "/services/T0SAFEINDEX/B0NOTICES/xoxsecretwebhooktoken42"


class Webhook:
    def __init__(self, status=200):
        self.status = status
        self.received = []  # (path, content type, parsed JSON body)
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                webhook.received.append((self.path, self.headers.get("Content-Type"), json.loads(body)))
                answer = b"ok" if webhook.status == 200 else b"invalid_payload"
                self.send_response(webhook.status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                """Quiet: the test output is not the place for an access log."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d%s" % (self.server.server_address[1], SECRET_PATH)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def texts(self):
        return [body["text"] for _path, _type, body in self.received]


@contextlib.contextmanager
def running_webhook(status=200):
    webhook = Webhook(status)
    webhook.thread.start()
    try:
        yield webhook
    finally:
        webhook.server.shutdown()
        webhook.server.server_close()
        webhook.thread.join(10)
