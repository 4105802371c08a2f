"""``sealer seal`` through click's CliRunner: formats, scopes, namespaces, raw, merge, errors."""

from __future__ import annotations

import json
import re
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

# What kubeseal --format yaml writes for SECRET (upstream's NewSealedSecret + sigs.k8s.io/yaml),
# ciphertexts replaced by <CT>; ours adds only the key-fingerprint annotation.
KUBESEAL_STRICT = """\
---
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  creationTimestamp: null
  name: mysecret
  namespace: myns
spec:
  encryptedData:
    baz: <CT>
    foo: <CT>
  template:
    metadata:
      annotations:
        note: hello
      creationTimestamp: null
      labels:
        app: web
      name: mysecret
      namespace: myns
    type: Opaque
"""
KUBESEAL_NAMESPACE_WIDE = """\
---
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  annotations:
    sealedsecrets.bitnami.com/namespace-wide: "true"
  creationTimestamp: null
  name: mysecret
  namespace: myns
spec:
  encryptedData:
    baz: <CT>
    foo: <CT>
  template:
    metadata:
      annotations:
        note: hello
        sealedsecrets.bitnami.com/namespace-wide: "true"
      creationTimestamp: null
      labels:
        app: web
      name: mysecret
      namespace: myns
    type: Opaque
"""


@pytest.fixture
def cert_file(tmp_path: Path) -> Path:
    path = tmp_path / "cert.pem"
    path.write_text(VECTOR["cert_pem"])
    return path


def run(*args: str, input: str | bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def normalise(text: str) -> str:
    """Ciphertexts out, our fingerprint annotation out: what is left must be kubeseal's."""
    text = re.sub(r"^(\s+[-._a-zA-Z0-9]+: )Ag[A-Za-z0-9+/=]+$", r"\1<CT>", text, flags=re.M)
    text = re.sub(rf"^    {re.escape(KEY_FINGERPRINT_ANNOTATION)}: .*\n", "", text, flags=re.M)
    return text.replace("metadata:\n  annotations:\n  creationTimestamp", "metadata:\n  "
                        "creationTimestamp")


def test_yaml_is_what_kubeseal_writes_but_for_ciphertexts(cert_file: Path) -> None:
    code, out, _ = run("seal", "--cert", str(cert_file), input=SECRET)
    assert code == 0
    assert normalise(out) == KUBESEAL_STRICT


def test_scope_flag_writes_upstream_annotations(cert_file: Path) -> None:
    code, out, _ = run("seal", "--cert", str(cert_file), "--scope", "namespace-wide",
                       input=SECRET)
    assert code == 0
    assert normalise(out) == KUBESEAL_NAMESPACE_WIDE
    sealed = SealedSecret.from_manifest(yaml.safe_load(out))
    assert sealed.scope is Scope.NAMESPACE_WIDE
    blob = crypto.b64decode(sealed.encrypted_data["foo"])
    assert crypto.unseal_with(PAIR.private_key, blob, Scope.NAMESPACE_WIDE.label("myns", "x"))


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


def test_merge_into_keeps_untouched_items_identical(cert_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "sealed.yaml"
    assert run("seal", "--cert", str(cert_file), "--scope", "namespace-wide", "-w", str(target),
               input=SECRET)[0] == 0
    before = yaml.safe_load(target.read_text())
    update = "apiVersion: v1\nkind: Secret\nmetadata: {name: ignored}\nstringData: {foo: new}\n"
    code, _, _ = run("seal", "--cert", str(cert_file), "--merge-into", str(target), input=update)
    assert code == 0
    after = yaml.safe_load(target.read_text())
    assert after["spec"]["encryptedData"]["baz"] == before["spec"]["encryptedData"]["baz"]
    assert after["spec"]["encryptedData"]["foo"] != before["spec"]["encryptedData"]["foo"]
    assert after["metadata"]["name"] == "mysecret"
    assert after["spec"]["template"] == before["spec"]["template"]
    result = unseal(SealedSecret.from_manifest(after), RING)
    assert result.secret["data"]["foo"] == "bmV3"


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("a: [", "invalid YAML"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "expected kind Secret"),
        ("kind: Secret\nmetadata: {name: x, namespace: y}\n", "no data or stringData"),
        ("kind: Secret\nmetadata: {name: x, namespace: y}\ndata: {a: YQ==}\ndata: {b: Yg==}\n",
         "duplicate key"),
        ("a: &x [1, 2]\nb: [*x, *x]\n", "aliases"),
        ("", "holds no Secret"),
        ("kind: Secret\nmetadata: {name: x, namespace: y}\ndata: {'bad key!': YQ==}\n",
         "valid Secret key"),
    ],
)
def test_bad_input_is_one_line_exit_1(cert_file: Path, stdin: str, message: str) -> None:
    code, out, err = run("seal", "--cert", str(cert_file), input=stdin)
    assert code == 1, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and out == ""


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


def test_unreachable_cluster_is_a_clear_error(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }))
    code, _, err = run("seal", "--kubeconfig", str(kubeconfig), input=SECRET)
    assert code == 1 and "cannot reach the API server" in err


def test_options_from_environment(cert_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALER_CERT", str(cert_file))
    monkeypatch.setenv("SEALER_FORMAT", "json")
    code, out, _ = run("seal", input=SECRET)
    assert code == 0 and json.loads(out)["kind"] == "SealedSecret"


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


def test_kubectl_finds_the_plugin(tmp_path: Path, cert_file: Path) -> None:
    import os
    import shutil
    import subprocess
    import sys

    bin_dir = str(Path(sys.executable).parent)
    kubectl = shutil.which("kubectl", path=bin_dir + os.pathsep + os.environ.get("PATH", ""))
    assert kubectl is not None and shutil.which("kubectl-seal", path=bin_dir) is not None
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    result = subprocess.run([kubectl, "seal", "seal", "--cert", str(cert_file)], input=SECRET,
                            capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["kind"] == "SealedSecret"
