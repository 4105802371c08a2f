"""The CLI against the real controller, reached through the stand-in's service proxy as
kubeseal reaches it: cert, seal without --cert, validate --online, reencrypt; then the
sealed object applied with kubectl and unsealed by the controller."""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from sealer import keys
from sealer.cli.main import cli
from sealer.keys import KeyPair
from sealer.scope import KEY_FINGERPRINT_ANNOTATION
from tests.integration.controller_fixtures import KEY_NS, wait_for
from tests.support import KubeAPI
from tests.support.ports import free_port

SECRET = ("apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: team-a}\n"
          "stringData: {password: pw-value-123}\n")



@pytest.fixture
def served(kube_api: KubeAPI, controller: Callable[..., Any],
           key_pairs: tuple[KeyPair, KeyPair]) -> Any:
    port = free_port()
    handle = controller(keys=[key_pairs[0]], listen_addr=f"127.0.0.1:{port}")
    url = f"http://127.0.0.1:{port}"
    kube_api.create(controller_service("sealed-secrets-controller"))
    kube_api.register_service_proxy(KEY_NS, "sealed-secrets-controller", url)

    def ready() -> bool | None:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as resp:  # noqa: S310
                return resp.status == 200 or None
        except OSError:
            return None

    wait_for(ready, what="controller ready")
    return handle


def controller_service(name: str, port_name: str = "http") -> dict[str, Any]:
    """The Service an upstream install makes; kubeseal proxies to its first port's name."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": KEY_NS},
            "spec": {"selector": {"name": name},
                     "ports": [{"name": port_name, "port": 8080, "targetPort": 8080}]}}


def run(kubeconfig: Path, *args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [*args, "--kubeconfig", str(kubeconfig)], input=input,
                                catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cert_comes_through_the_service_proxy(
    served: Any, kubeconfig: Path, key_pairs: tuple[KeyPair, KeyPair]
) -> None:
    code, out, err = run(kubeconfig, "cert")
    assert code == 0
    assert keys.load_certificate(out.encode()).fingerprint == key_pairs[0].fingerprint
    assert key_pairs[0].fingerprint in err


def test_seal_apply_unseal_loop(served: Any, kubeconfig: Path, kubectl: Any,
                                tmp_path: Path) -> None:
    sealed = tmp_path / "sealed.yaml"
    code, _, _ = run(kubeconfig, "seal", "-w", str(sealed), input=SECRET)
    assert code == 0
    kubectl("create", "namespace", "team-a", check=False)
    kubectl("apply", "-f", str(sealed))
    secret = served.wait_secret("team-a", "db")
    assert base64.b64decode(secret["data"]["password"]) == b"pw-value-123"


def test_validate_online_and_reencrypt(
    served: Any, kubeconfig: Path, tmp_path: Path, kube_api: KubeAPI,
    key_pairs: tuple[KeyPair, KeyPair]
) -> None:
    sealed = tmp_path / "sealed.yaml"
    assert run(kubeconfig, "seal", "-w", str(sealed), input=SECRET)[0] == 0
    code, out, _ = run(kubeconfig, "validate", "-f", str(sealed), "--online")
    assert code == 0 and "decrypts" in out
    moved = yaml.safe_load(sealed.read_text())
    moved["metadata"]["name"] = "elsewhere"
    other = tmp_path / "moved.yaml"
    other.write_text(yaml.safe_dump(moved))
    code, _, err = run(kubeconfig, "validate", "-f", str(other), "--online")
    assert code == 1 and "cannot decrypt" in err and "pw-value" not in err
    # a newer key arrives: reencrypt moves the file to it, in place
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)  # newest is by certificate time
    cert = keys.certificate_from_x509(keys.self_sign(key_pairs[1].private_key, now=later))
    newer = KeyPair(key_pairs[1].private_key, cert, "zz-newer", later)
    kube_api.create(keys.key_secret(newer, KEY_NS, "sealed-secrets-key", name="zz-newer"))
    wait_for(lambda: served.runtime.ring.newest.fingerprint == newer.fingerprint or None,
             what="hot key reload")
    code, _, _ = run(kubeconfig, "reencrypt", "-f", str(sealed))
    assert code == 0
    doc = yaml.safe_load(sealed.read_text())
    assert doc["metadata"]["annotations"][KEY_FINGERPRINT_ANNOTATION] == newer.fingerprint
    assert "pw-value" not in sealed.read_text()


def test_missing_service_is_a_clear_error(kube_api: KubeAPI, kubeconfig: Path) -> None:
    code, _, err = run(kubeconfig, "cert")
    assert code == 1
    assert "cannot get the controller's Service kube-system/sealed-secrets-controller" in err
    assert "--controller-name" in err and "Traceback" not in err


def test_unreachable_controller_is_a_clear_error(kube_api: KubeAPI, kubeconfig: Path) -> None:
    kube_api.create(controller_service("sealed-secrets-controller"))
    code, _, err = run(kubeconfig, "cert")
    assert code == 1 and "cannot reach the controller kube-system/sealed-secrets-controller" in err
    assert json.dumps({}) not in err


def test_the_service_port_name_is_read_from_the_service(
    kube_api: KubeAPI, kubeconfig: Path, tmp_path: Path
) -> None:
    """Upstream's chart names the port "http"; kubeseal takes whatever the Service says."""
    import http.server
    import threading

    seen: list[str] = []
    pem = keys.certificate_from_x509(keys.generate(2048)[1]).pem

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(pem)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        kube_api.create(controller_service("sealer", port_name="web"))
        kube_api.register_service_proxy(KEY_NS, "sealer", f"http://127.0.0.1:{server.server_port}")
        code, out, _ = run(kubeconfig, "cert", "--controller-name", "sealer")
        assert code == 0 and out.encode() == pem and seen == ["/v1/cert.pem"]
        proxied = kube_api.requests(verb="proxy")
        assert proxied and all("/services/http:sealer:web/proxy/" in r.path for r in proxied)
    finally:
        server.shutdown()


def test_many_objects_pass_the_rate_limit(served: Any, kubeconfig: Path, tmp_path: Path) -> None:
    """verify and rotate take 2 requests a second per client: the CLI waits when told to."""
    sealed = tmp_path / "many.yaml"
    many = "---\n".join(SECRET.replace("name: db", f"name: db{n}") for n in range(4))
    assert run(kubeconfig, "seal", "-w", str(sealed), input=many)[0] == 0
    code, out, err = run(kubeconfig, "validate", "-f", str(sealed), "--online")
    assert code == 0, err
    assert out.count("decrypts") == 4
    assert run(kubeconfig, "reencrypt", "-f", str(sealed))[0] == 0
