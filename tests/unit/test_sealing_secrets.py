"""``sealer seal``: every value sealed on its own, inputs and outputs, namespaces and scopes,
``--raw``, certificates from files and URLs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sealer import crypto, keys
from sealer.cli.main import cli
from sealer.keys import KeyPair, KeyRing
from sealer.scope import KEY_FINGERPRINT_ANNOTATION, Scope
from sealer.sealedsecret import SealedSecret, unseal

VECTOR = json.loads((Path(__file__).parents[1] / "vectors" / "02-strict-1byte.json").read_text())
PAIR = keys.key_pair(VECTOR["private_key_pem"].encode(), VECTOR["cert_pem"].encode())
RING = KeyRing((PAIR,))

SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: mysecret
  namespace: myns
  labels: {app: web}
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"data":{"foo":"YmFy"}}'
    note: hello
  ownerReferences: [{apiVersion: v1, kind: Pod, name: p, uid: u}]
  resourceVersion: "12"
  uid: abc
type: Opaque
data:
  foo: YmFy
stringData:
  baz: qux
"""

@pytest.fixture
def cert_file(tmp_path: Path) -> Path:
    path = tmp_path / "cert.pem"
    path.write_text(VECTOR["cert_pem"])
    return path


def run(*args: str, input: str | bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_every_value_is_sealed_and_opens_to_the_input(cert_file: Path) -> None:
    code, out, _ = run("seal", "--cert", str(cert_file), input=SECRET)
    assert code == 0
    doc = yaml.safe_load(out)
    assert doc["metadata"]["annotations"][KEY_FINGERPRINT_ANNOTATION] == PAIR.fingerprint
    assert "bar" not in out and "qux" not in out and "YmFy" not in out
    result = unseal(SealedSecret.from_manifest(doc), RING)
    assert result.secret["data"] == {"baz": "cXV4", "foo": "YmFy"}


def test_json_output_and_multi_document_and_list_input(cert_file: Path) -> None:
    two = SECRET + "---\n" + SECRET.replace("mysecret", "second")
    code, out, _ = run("seal", "--cert", str(cert_file), "-o", "json", input=two)
    assert code == 0
    decoder, pos, docs = json.JSONDecoder(), 0, []
    while pos < len(out.strip()):
        doc, pos = decoder.raw_decode(out, pos)
        docs.append(doc)
        pos += 1
    assert [d["metadata"]["name"] for d in docs] == ["mysecret", "second"]
    listed = json.dumps({"apiVersion": "v1", "kind": "List", "items": [yaml.safe_load(SECRET)]})
    code, out, _ = run("seal", "--cert", str(cert_file), input=listed)
    assert code == 0 and yaml.safe_load(out)["kind"] == "SealedSecret"


def test_write_is_atomic_and_only_on_success(cert_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "sealed.yaml"
    target.write_text("previous content\n")
    code, _, err = run("seal", "--cert", str(cert_file), "-w", str(target),
                       input="kind: Secret\nmetadata: {name: x, namespace: y}\ndata: {a: '!!'}\n")
    assert code == 1 and "data.a" in err and "not valid base64" in err
    assert target.read_text() == "previous content\n"
    code, out, _ = run("seal", "--cert", str(cert_file), "-w", str(target), input=SECRET)
    assert code == 0 and out == ""
    assert yaml.safe_load(target.read_text())["kind"] == "SealedSecret"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_namespace_rules(cert_file: Path, tmp_path: Path) -> None:
    code, _, err = run("seal", "--cert", str(cert_file), "-n", "other", input=SECRET)
    assert code == 1 and "metadata.namespace" in err and "'other'" in err
    bare = SECRET.replace("  namespace: myns\n", "")
    code, out, _ = run("seal", "--cert", str(cert_file), "-n", "given", input=bare)
    assert code == 0 and yaml.safe_load(out)["metadata"]["namespace"] == "given"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "kc"}}],
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }))
    code, out, _ = run("seal", "--cert", str(cert_file), "--kubeconfig", str(kubeconfig),
                       input=bare)
    assert code == 0 and yaml.safe_load(out)["metadata"]["namespace"] == "kc"


def test_raw_seals_one_value_without_trimming(cert_file: Path, tmp_path: Path) -> None:
    code, out, _ = run("seal", "--raw", "--cert", str(cert_file), "--name", "db", "-n", "ns",
                       input=b"value\n")
    assert code == 0 and not out.endswith("\n")
    blob = crypto.b64decode(out)
    assert crypto.unseal_with(PAIR.private_key, blob, Scope.STRICT.label("ns", "db")) == b"value\n"
    source = tmp_path / "v.bin"
    source.write_bytes(b"\x00\xff")
    code, out, _ = run("seal", "--raw", "--cert", str(cert_file), "--scope", "cluster-wide",
                       "--from-file", str(source), "--name", "ignored")
    assert code == 0
    assert crypto.unseal_with(PAIR.private_key, crypto.b64decode(out), crypto.Label(b"")) == \
        b"\x00\xff"
    code, _, err = run("seal", "--raw", "--cert", str(cert_file), "-n", "ns", input=b"v")
    assert code == 2 and "--name" in err


def test_empty_secret_allowed_with_flag(cert_file: Path) -> None:
    code, out, _ = run("seal", "--cert", str(cert_file), "--allow-empty-data",
                       input="kind: Secret\nmetadata: {name: x, namespace: y}\n")
    assert code == 0 and yaml.safe_load(out)["spec"]["encryptedData"] == {}


def test_certificate_problems(tmp_path: Path, key_pairs: tuple[KeyPair, KeyPair]) -> None:
    missing = tmp_path / "nope.pem"
    code, _, err = run("seal", "--cert", str(missing), input=SECRET)
    assert code == 1 and "cannot read certificate" in err
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a cert")
    assert "no PEM CERTIFICATE" in run("seal", "--cert", str(garbage), input=SECRET)[2]
    import datetime as dt

    expired = tmp_path / "expired.pem"
    old = keys.self_sign(key_pairs[0].private_key, dt.timedelta(days=1),
                         now=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    expired.write_bytes(keys.certificate_from_x509(old).pem)
    code, _, err = run("seal", "--cert", str(expired), input=SECRET)
    assert code == 1 and "expired" in err
    ec = tmp_path / "ec.pem"
    ec.write_bytes(_ec_cert())
    code, _, err = run("seal", "--cert", f"file://{ec}", input=SECRET)
    assert code == 1 and "RSA" in err


def _ec_cert() -> bytes:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_cert_from_an_http_url(tmp_path: Path) -> None:
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = VECTOR["cert_pem"].encode() if self.path == "/v1/cert.pem" else b""
            self.send_response(200 if body else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        code, out, _ = run("seal", "--cert", url + "/v1/cert.pem", input=SECRET)
        assert code == 0
        annotations = yaml.safe_load(out)["metadata"]["annotations"]
        assert annotations[KEY_FINGERPRINT_ANNOTATION] == PAIR.fingerprint
        code, _, err = run("seal", "--cert", url + "/missing", input=SECRET)
        assert code == 1 and "cannot fetch certificate" in err
    finally:
        server.shutdown()




def test_name_flag_renames_and_json_follows_the_file_name(cert_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    code, _, err = run("seal", "--cert", str(cert_file), "--name", "renamed", "-w", str(target),
                       input=SECRET)
    assert code == 0, err
    doc = json.loads(target.read_text())  # -w x.json without -o: JSON
    assert doc["metadata"]["name"] == doc["spec"]["template"]["metadata"]["name"] == "renamed"
    result = unseal(SealedSecret.from_manifest(doc), RING)
    assert result.secret["metadata"]["name"] == "renamed"
    code, _, _ = run("seal", "--cert", str(cert_file), "-o", "yaml", "-w", str(target),
                     input=SECRET)
    assert code == 0 and target.read_text().startswith("---\n")  # an explicit -o wins


def test_scope_comes_from_the_flag_else_from_the_input(cert_file: Path) -> None:
    annotated = SECRET.replace("    note: hello\n", "    note: hello\n"
                               "    sealedsecrets.bitnami.com/namespace-wide: \"true\"\n")
    code, out, _ = run("seal", "--cert", str(cert_file), input=annotated)
    assert SealedSecret.from_manifest(yaml.safe_load(out)).scope is Scope.NAMESPACE_WIDE
    for flag, scope in [("strict", Scope.STRICT), ("cluster-wide", Scope.CLUSTER_WIDE)]:
        code, out, _ = run("seal", "--cert", str(cert_file), "--scope", flag, input=annotated)
        doc = yaml.safe_load(out)
        assert SealedSecret.from_manifest(doc).scope is scope
        template = doc["spec"]["template"]["metadata"]["annotations"]
        assert Scope.from_annotations(template) is scope  # the template says the same


def test_cluster_wide_needs_no_namespace_and_gets_none(cert_file: Path) -> None:
    bare = SECRET.replace("  namespace: myns\n", "")
    code, out, err = run("seal", "--cert", str(cert_file), "--scope", "cluster-wide", input=bare)
    assert code == 0, err
    doc = yaml.safe_load(out)
    assert "namespace" not in doc["metadata"]  # as kubeseal: no namespace forced on it
    blob = crypto.b64decode(doc["spec"]["encryptedData"]["foo"])
    assert crypto.unseal_with(PAIR.private_key, blob, crypto.Label(b"")) == b"bar"


def test_raw_from_file_takes_kubectl_key_equals_path(cert_file: Path, tmp_path: Path) -> None:
    source = tmp_path / "password.txt"
    source.write_bytes(b"  spaced\n\n")
    code, out, err = run("seal", "--raw", "--cert", str(cert_file), "--scope", "namespace-wide",
                         "-n", "ns", "--from-file", f"password={source}")
    assert code == 0, err
    label = Scope.NAMESPACE_WIDE.label("ns", "")
    assert crypto.unseal_with(PAIR.private_key, crypto.b64decode(out), label) == b"  spaced\n\n"


def test_the_first_certificate_block_is_used(
    tmp_path: Path, key_pairs: tuple[KeyPair, KeyPair]
) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("issued by the platform team\n" + VECTOR["cert_pem"]
                      + key_pairs[0].certificate.pem.decode())
    code, out, _ = run("seal", "--cert", f"file://{bundle}", input=SECRET)
    assert code == 0
    annotations = yaml.safe_load(out)["metadata"]["annotations"]
    assert annotations[KEY_FINGERPRINT_ANNOTATION] == PAIR.fingerprint
