"""``sealer validate`` offline (layout, key size, coherent scope annotations) and online, and
the controller reached as kubeseal reaches it: the Service's port name, then the API server's
service proxy (``/v1/cert.pem``, ``/v1/verify``), here a small local HTTP server playing the API
server (tests/integration/test_cli_cluster.py does the same against the stand-in and the real
controller)."""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from sealer import keys
from sealer.cli.main import cli
from sealer.scope import KEY_FINGERPRINT_ANNOTATION

VECTOR = json.loads((Path(__file__).parents[1] / "vectors" / "02-strict-1byte.json").read_text())
SECRET = ("apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: team-a}\n"
          "type: Opaque\nstringData: {password: s3cr3t-value, user: admin}\n")
SERVICE = "/api/v1/namespaces/kube-system/services/sealed-secrets-controller"
PROXY = "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy"
NS_WIDE = "sealedsecrets.bitnami.com/namespace-wide"
CL_WIDE = "sealedsecrets.bitnami.com/cluster-wide"


def run(*args: str, input: str = "") -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def cert(tmp_path: Path) -> Path:
    path = tmp_path / "cert.pem"
    path.write_text(VECTOR["cert_pem"])
    return path


@pytest.fixture
def sealed(tmp_path: Path, cert: Path) -> Path:
    path = tmp_path / "sealed.yaml"
    assert run("seal", "--cert", str(cert), "-w", str(path), input=SECRET)[0] == 0
    return path


def rewrite(path: Path, change: Any) -> None:
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc))


def test_a_good_file_passes(sealed: Path, cert: Path) -> None:
    code, out, _ = run("validate", "-f", str(sealed), "--cert", str(cert))
    assert code == 0 and out == "SealedSecret team-a/db: ok (2 items)\n"


@pytest.mark.parametrize(
    ("change", "with_cert", "message"),
    [
        (lambda d: d["spec"]["encryptedData"].update(
            user=base64.b64encode(b"\x02\x00" + b"x" * 100).decode()), False,
         "truncated"),
        (lambda d: d["spec"]["encryptedData"].update(
            user=base64.b64encode(b"\x00\x04" + b"x" * 40).decode()), True,
         "RSA block is 4 bytes, the certificate's key needs 512"),
        (lambda d: d["spec"]["encryptedData"].update(user="not base64!"), False,
         "spec.encryptedData.user: is not valid standard base64"),
        (lambda d: d["metadata"].update(annotations={NS_WIDE: "true", CL_WIDE: "true"}), False,
         "both namespace-wide and cluster-wide"),
        (lambda d: d["metadata"].update(annotations={NS_WIDE: "yes"}), False,
         'must be "true" or "false"'),
        (lambda d: d["spec"]["template"]["metadata"].update(annotations={CL_WIDE: "true"}),
         False, "spec.template.metadata.annotations: say cluster-wide but metadata.annotations"
         " say strict"),
        (lambda d: d["metadata"].pop("namespace"), False, "metadata.namespace: is required"),
        (lambda d: d.update(kind="Secret"), False, "expected kind SealedSecret"),
    ],
)
def test_a_broken_file_is_named_by_object_and_field(
    sealed: Path, cert: Path, change: Any, with_cert: bool, message: str
) -> None:
    rewrite(sealed, change)
    code, _, err = run("validate", "-f", str(sealed), *(["--cert", str(cert)] if with_cert else []))
    assert code == 1 and message in err and err.count("\n") == 1, err


class FakeAPI(http.server.ThreadingHTTPServer):
    """Answers the Service read and the controller's proxied endpoints, and records paths."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.paths: list[str] = []
        self.decrypts = True
        self.service_status = 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: FakeAPI

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.paths.append(f"GET {self.path}")
        if self.path == SERVICE and self.server.service_status != 200:
            self._answer(self.server.service_status, json.dumps({"kind": "Status"}).encode())
        elif self.path == SERVICE:
            self._answer(200, json.dumps({"kind": "Service", "spec": {
                "ports": [{"name": "http", "port": 8080}]}}).encode())
        elif self.path == PROXY + "/v1/cert.pem":
            self._answer(200, VECTOR["cert_pem"].encode())
        else:
            self._answer(404, json.dumps({"kind": "Status", "message": "not found"}).encode())

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.paths.append(f"POST {self.path} {body['kind']}")
        if self.server.decrypts:
            self._answer(200, b"")
        else:
            self._answer(409, b"unable to decrypt sealed secret")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[FakeAPI, Path]]:
    server = FakeAPI()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "dev"}}],
        "clusters": [{"name": "k", "cluster": {"server": server.url}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }))
    yield server, kubeconfig
    server.shutdown()
    server.server_close()


def test_validate_online_asks_the_verify_endpoint(api: tuple[FakeAPI, Path], sealed: Path) -> None:
    server, kubeconfig = api
    code, out, _ = run("validate", "--online", "-f", str(sealed), "--kubeconfig", str(kubeconfig))
    assert code == 0 and "decrypts" in out
    assert server.paths == [f"GET {SERVICE}", f"POST {PROXY}/v1/verify SealedSecret"]
    server.decrypts = False
    code, _, err = run("validate", "--online", "-f", str(sealed), "--kubeconfig", str(kubeconfig))
    assert code == 1 and "the controller cannot decrypt it" in err and "s3cr3t" not in err


def test_cert_and_seal_fetch_the_certificate_through_the_proxy(
    api: tuple[FakeAPI, Path]
) -> None:
    server, kubeconfig = api
    code, out, err = run("cert", "--kubeconfig", str(kubeconfig))
    assert code == 0 and out == VECTOR["cert_pem"]
    fingerprint = keys.load_certificate(out.encode()).fingerprint
    assert err.startswith(fingerprint)
    server.paths.clear()
    code, out, _ = run("seal", "--kubeconfig", str(kubeconfig),
                       input=SECRET.replace(", namespace: team-a", ""))
    doc = yaml.safe_load(out)
    assert code == 0 and doc["metadata"]["namespace"] == "dev"  # the context's namespace
    assert doc["metadata"]["annotations"][KEY_FINGERPRINT_ANNOTATION] == fingerprint
    assert server.paths == [f"GET {SERVICE}", f"GET {PROXY}/v1/cert.pem"]  # once per run


def test_a_wrong_controller_name_says_which_flags_to_set(api: tuple[FakeAPI, Path]) -> None:
    _, kubeconfig = api
    code, _, err = run("cert", "--kubeconfig", str(kubeconfig), "--controller-name", "other")
    assert code == 1 and "kube-system/other" in err and "--controller-name" in err


def test_without_the_right_to_read_services_the_port_is_http(api: tuple[FakeAPI, Path]) -> None:
    server, kubeconfig = api
    server.service_status = 403
    code, out, _ = run("cert", "--kubeconfig", str(kubeconfig))
    assert code == 0 and out == VECTOR["cert_pem"]
    assert server.paths == [f"GET {SERVICE}", f"GET {PROXY}/v1/cert.pem"]
