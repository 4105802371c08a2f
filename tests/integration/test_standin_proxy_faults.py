"""The service proxy (as kubeseal reaches the controller), fault injection, and cutting
watch streams mid-way."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import kubernetes
import pytest
import urllib3

from tests.support import KubeAPI

SECRETS = "/api/v1/namespaces/default/secrets"
PROXY = "/api/v1/namespaces/kube-system/services/{}/proxy"


class Echo(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/v1/cert.pem"):
            payload, ctype, status = b"-----BEGIN CERTIFICATE-----\n", "text/plain", 200
        else:
            payload = json.dumps({"method": self.command, "path": self.path,
                                  "body": body.decode(),
                                  "type": self.headers.get("Content-Type")}).encode()
            ctype, status = "application/json", 418 if "teapot" in self.path else 200
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def backend() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize("service", ["http:sealed-secrets-controller:http",
                                     "sealed-secrets-controller:http",
                                     "sealed-secrets-controller"])
def test_service_proxy_forwards_requests(kube_api: KubeAPI, backend: str, service: str) -> None:
    kube_api.register_service_proxy("kube-system", "sealed-secrets-controller", backend)
    cert = kube_api.http("GET", PROXY.format(service) + "/v1/cert.pem")
    assert cert.status == 200 and cert.body.startswith(b"-----BEGIN CERTIFICATE")
    assert cert.headers["Content-Type"].startswith("text/plain")
    posted = kube_api.http("POST", PROXY.format(service) + "/v1/verify?x=1&y=%2F", b"sealed",
                           content_type="application/octet-stream")
    assert posted.status == 200
    assert posted.json() == {"method": "POST", "path": "/v1/verify?x=1&y=%2F",
                             "body": "sealed", "type": "application/octet-stream"}
    teapot = kube_api.http("GET", PROXY.format(service) + "/teapot")
    assert teapot.status == 418
    assert kube_api.count(verb="proxy", resource="services") == 3


def test_service_proxy_without_a_backend_answers_503(kube_api: KubeAPI, backend: str) -> None:
    missing = kube_api.http("GET", PROXY.format("http:nobody:http") + "/v1/cert.pem")
    assert missing.status == 503
    assert missing.json()["reason"] == "ServiceUnavailable"
    kube_api.register_service_proxy("kube-system", "gone", "http://127.0.0.1:9")
    refused = kube_api.http("GET", PROXY.format("gone") + "/")
    assert refused.status == 503
    kube_api.register_service_proxy("kube-system", "back", backend)
    kube_api.unregister_service_proxy("kube-system", "back")
    assert kube_api.http("GET", PROXY.format("back") + "/").status == 503


def test_injected_faults(kube_api: KubeAPI) -> None:
    fault = kube_api.inject(verb="create", resource="secrets", status=500, times=2)
    for _ in range(2):
        failed = kube_api.http("POST", SECRETS, {"metadata": {"name": "s"}})
        assert failed.status == 500 and failed.json()["reason"] == "InternalError"
    assert kube_api.http("POST", SECRETS, {"metadata": {"name": "s"}}).status == 201
    assert fault.hits == 2 and fault.exhausted
    assert kube_api.count(verb="create", resource="secrets", fault=True) == 2

    kube_api.inject(resource="secrets", name="s", status=429, retry_after=3, times=None)
    throttled = kube_api.http("GET", f"{SECRETS}/s")
    assert throttled.status == 429 and throttled.headers["Retry-After"] == "3"
    assert kube_api.http("GET", f"{SECRETS}/s").status == 429
    assert kube_api.http("GET", SECRETS).status == 200  # list: no name, no match
    kube_api.clear_faults()
    assert kube_api.http("GET", f"{SECRETS}/s").status == 200


def test_injected_delay_only_slows_down(kube_api: KubeAPI) -> None:
    fault = kube_api.inject(verb="list", status=None, delay=0.2)
    started = time.monotonic()
    assert kube_api.http("GET", SECRETS).status == 200
    print(f"delayed list took {time.monotonic() - started:.3f}s")
    assert fault.hits == 1


def test_official_client_sees_injected_errors(kube_api: KubeAPI,
                                              kube_client: kubernetes.client.ApiClient) -> None:
    kube_api.inject(verb="get", resource="secrets", status=503, message="etcd is sad")
    with pytest.raises(kubernetes.client.ApiException) as failure:
        kubernetes.client.CoreV1Api(kube_client).read_namespaced_secret("x", "default")
    assert failure.value.status == 503 and "etcd is sad" in failure.value.body


def _watch_lines(api: KubeAPI, path: str, out: list[str], done: threading.Event) -> None:
    http = urllib3.PoolManager()
    try:
        response = http.request("GET", f"{api.url}{path}", preload_content=False)
        for line in response.stream():
            out.append(line.decode())
    except urllib3.exceptions.HTTPError as exc:
        out.append(f"error: {type(exc).__name__}")
    finally:
        done.set()


@pytest.mark.parametrize("abort", [False, True])
def test_cut_watches_ends_open_streams(kube_api: KubeAPI, abort: bool) -> None:
    out: list[str] = []
    done = threading.Event()
    thread = threading.Thread(target=_watch_lines, args=(
        kube_api, f"{SECRETS}?watch=true&resourceVersion={kube_api.resource_version}", out, done))
    thread.start()
    deadline = time.monotonic() + 10
    while kube_api.open_watches == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    kube_api.http("POST", SECRETS, {"metadata": {"name": "seen"}})
    while not out and time.monotonic() < deadline:
        time.sleep(0.01)
    assert kube_api.cut_watches(abort=abort) == 1
    assert done.wait(10)
    thread.join()
    assert '"seen"' in out[0]
    assert kube_api.open_watches == 0
    if abort:
        assert out[-1].startswith("error:")


def test_official_watch_resumes_after_a_cut(kube_api: KubeAPI,
                                            kube_client: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(kube_client)
    rv = core.list_namespaced_secret("default").metadata.resource_version
    seen: list[str] = []
    stream = kubernetes.watch.Watch()

    def consume() -> None:
        # No timeout_seconds: only then does the client reconnect when a stream ends.
        for event in stream.stream(core.list_namespaced_secret, "default", resource_version=rv):
            seen.append(event["object"].metadata.name)
            if len(seen) == 2:
                stream.stop()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while kube_api.open_watches == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    kube_api.http("POST", SECRETS, {"metadata": {"name": "first"}})
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    kube_api.cut_watches()
    kube_api.http("POST", SECRETS, {"metadata": {"name": "second"}})
    thread.join(10)
    assert seen == ["first", "second"]
    assert kube_api.count(verb="watch", resource="secrets") >= 2
