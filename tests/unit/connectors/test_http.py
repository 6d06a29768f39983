"""The shared transport: https→http rewrite for an http:// instance, default timeout, GET-only retry."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors._http import HttpsToHttpAdapter, TimeoutHTTPAdapter, make_session


@pytest.fixture
def server():
    state = {"hits": [], "fail": 0, "retry_after": None}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _reply(self):
            state["hits"].append((self.command, self.path, time.monotonic()))
            if state["fail"] > 0:
                state["fail"] -= 1
                self.send_response(503)
                if state["retry_after"]:
                    self.send_header("Retry-After", state["retry_after"])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _reply

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{httpd.server_address[1]}", state
    httpd.shutdown()
    httpd.server_close()


def test_https_urls_for_an_http_instance_reach_the_plain_http_server(server):
    netloc, state = server
    session = make_session(f"http://{netloc}")
    resp = session.get(f"https://{netloc}/services/data/v59.0/query/?q=SELECT+Id+FROM+Lead")
    assert resp.status_code == 200 and resp.text == "ok"
    assert state["hits"][0][1] == "/services/data/v59.0/query/?q=SELECT+Id+FROM+Lead"
    assert session.trust_env is False


def test_rewrite_is_mounted_only_for_the_configured_host():
    session = make_session("http://127.0.0.1:9")
    assert isinstance(session.get_adapter("https://127.0.0.1:9/x"), HttpsToHttpAdapter)
    other = session.get_adapter("https://example.com/x")
    assert isinstance(other, TimeoutHTTPAdapter) and not isinstance(other, HttpsToHttpAdapter)
    assert not isinstance(make_session("https://acme.my.salesforce.com").get_adapter("https://acme.my.salesforce.com/"), HttpsToHttpAdapter)


def test_get_is_retried_on_503_honouring_retry_after(server):
    netloc, state = server
    state.update(fail=2, retry_after="1")
    resp = make_session(f"http://{netloc}").get(f"https://{netloc}/x")
    assert resp.status_code == 200
    times = [t for _, _, t in state["hits"]]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.9  # waited the server's Retry-After, not the 0.5 s backoff


def test_post_is_not_retried(server):
    netloc, state = server
    state.update(fail=1)
    resp = make_session(f"http://{netloc}").post(f"https://{netloc}/jobs/query", data=b"{}")
    assert resp.status_code == 503 and len(state["hits"]) == 1


def test_default_timeout_is_applied(monkeypatch):
    seen = {}

    def fake_send(self, request, **kwargs):
        seen["timeout"] = kwargs.get("timeout")
        raise RuntimeError("stop")

    monkeypatch.setattr("requests.adapters.HTTPAdapter.send", fake_send)
    with pytest.raises(RuntimeError):
        make_session().get("https://example.invalid/")
    assert seen["timeout"] == (10.0, 120.0)
