"""sealer guard: a corpus of files that must fail (each finding named by file, line, document and
field, never the value) and files that must pass, sealed files included; allow-list; binary and
huge files; the pre-commit hook definition."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sealer import plaintext
from sealer.cli.main import cli

VALUE = "hunter2-guard-canary"  # must never be printed
B64 = base64.b64encode(VALUE.encode()).decode()
PEM_BODY = "MIIEowIBAAKCAQEAx" + "A" * 60
FAIL = {
    "secret.yaml": f"apiVersion: v1\nkind: Secret\nmetadata: {{name: db, namespace: a}}\n"
                   f"data:\n  password: {B64}\n",
    "string-data.yml": f"# comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\n"
                       f"---\nkind: Secret\napiVersion: v1\nmetadata: {{name: s}}\n"
                       f"stringData:\n  token: {VALUE}\n",
    "list.json": json.dumps({"kind": "List", "apiVersion": "v1", "items": [
        {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "j"},
         "data": {"k": B64}}]}, indent=2),
    "kustomization.yaml": "resources: [a.yaml]\nsecretGenerator:\n- name: app\n"
                          f"  literals: [password={VALUE}]\n- name: env\n  envs: [.env]\n",
    "key.pem": f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\n",
    "notes.md": f"text\n```\n-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}\n```\n",
    "kubeconfig": yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": [], "contexts": [],
        "users": [{"name": "admin", "user": {"token": VALUE}},
                  {"name": "cert", "user": {"client-key-data": B64}}]}),
    "chart/templates/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n"
                                   "  name: {{ .Release.Name }}\n{{- if .Values.x }}\ndata:\n"
                                   f"  password: {B64}\n{{{{- end }}}}\n",
}
PASS = {
    "sealed.yaml": "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n"
                   "  name: db\n  namespace: a\nspec:\n  encryptedData:\n    password: AgBy3i==\n"
                   "  template:\n    type: Opaque\n    data:\n      url: '{{ .password }}'\n",
    "empty-secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: sa}\n"
                         "type: kubernetes.io/service-account-token\n",
    "empty-values.yaml": "kind: Secret\napiVersion: v1\nmetadata: {name: e}\ndata: {a: ''}\n",
    "deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
                       "spec: {template: {spec: {containers: [{name: c, env: [{name: X, "
                       "valueFrom: {secretKeyRef: {name: db, key: password}}}]}]}}}\n",
    "docs.md": "Never commit a file that starts with -----BEGIN RSA PRIVATE KEY-----.\n",
    "kubeconfig-exec.yaml": yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": [], "contexts": [],
        "users": [{"name": "sso", "user": {"exec": {"command": "aws"}}}]}),
    "cert.pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    "image.png": b"\x89PNG\r\n\x1a\n\0\0 kind: Secret\ndata:\n  a: b\n",
}


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def guard(root: Path, *args: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    monkeypatch.chdir(root)
    result = CliRunner().invoke(cli, ["guard", *args])
    return result.exit_code, result.stdout, result.stderr


def test_every_plaintext_credential_is_named_never_its_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, {**FAIL, **PASS})
    code, out, err = guard(tmp_path, monkeypatch=monkeypatch)
    assert code == 1
    assert VALUE not in out + err and B64 not in out + err and PEM_BODY not in out + err
    assert sorted(out.splitlines()) == sorted([
        "chart/templates/secret.yaml:6: document 1 (not parsed): data (secret-data)",
        "key.pem:1: a RSA PRIVATE KEY in PEM (pem-private-key)",
        "kubeconfig:8: document 1: kubeconfig user admin: token (kubeconfig-credential)",
        "kubeconfig:11: document 1: kubeconfig user cert: client-key-data "
        "(kubeconfig-credential)",
        "kustomization.yaml:4: document 1: secretGenerator app: literals (secret-generator)",
        "kustomization.yaml:6: document 1: secretGenerator env: envs (secret-generator)",
        "list.json:12: document 1: Secret j: data.k (secret-data)",
        "notes.md:3: a OPENSSH PRIVATE KEY in PEM (pem-private-key)",
        "secret.yaml:5: document 1: Secret a/db: data.password (secret-data)",
        "string-data.yml:11: document 3: Secret s: stringData.token (secret-data)",
    ])
    assert "10 plaintext credential(s) in 8 file(s)" in err


def test_files_that_must_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, PASS)
    code, out, err = guard(tmp_path, "-v", monkeypatch=monkeypatch)
    assert (code, out) == (0, "")
    assert "not read image.png: binary" in err and "no plaintext credentials" in err


def test_named_files_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {**FAIL, **PASS})
    code, out, _ = guard(tmp_path, "sealed.yaml", "secret.yaml", monkeypatch=monkeypatch)
    assert code == 1 and out.splitlines() == [
        "secret.yaml:5: document 1: Secret a/db: data.password (secret-data)"]


def test_allow_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, FAIL)
    (tmp_path / ".sealer.yaml").write_text(
        "guard:\n  allow:\n    - chart/\n    - '*.pem'\n    - notes.md\n    - kubeconfig\n"
        "    - {path: kustomization.yaml, rule: secret-generator, reason: dev only}\n"
        "    - {path: '*.yml', rule: pem-private-key}\n    - list.json\n")
    code, out, err = guard(tmp_path, "-v", monkeypatch=monkeypatch)
    assert code == 1
    assert out.splitlines() == [
        "secret.yaml:5: document 1: Secret a/db: data.password (secret-data)",
        "string-data.yml:11: document 3: Secret s: stringData.token (secret-data)"]
    assert "(secret-generator: dev only)" in err and "8 allowed by .sealer.yaml" in err


def test_git_ignored_files_are_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"secret.yaml": FAIL["secret.yaml"], "ok.yaml": PASS["sealed.yaml"]})
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("secret.yaml\n")
    assert guard(tmp_path, monkeypatch=monkeypatch)[0] == 0


def test_huge_and_odd_files_never_fail_the_scan(tmp_path: Path) -> None:
    write(tmp_path, {"big.yaml": "a: " + "x" * (9 * 1024 * 1024),
                     "latin1.yaml": b"kind: Secret\ndata: {a: \xe9}\n",
                     "deep.yaml": "kind: Secret\ndata: " + "[" * 5000,
                     "alias.yaml": "kind: Secret\nx: &a {b: 1}\ndata: *a\n"})  # fmt: skip
    report = plaintext.scan([tmp_path])
    assert {s.path.name for s in report.skipped} == {"big.yaml", "latin1.yaml"}
    # unparseable: judged by lines (a Secret with data is reported, not skipped)
    assert {f.path.name for f in report.findings} == {"deep.yaml", "alias.yaml"}


def test_pre_commit_hook_definition() -> None:
    root = Path(__file__).resolve().parents[2]
    hooks = yaml.safe_load((root / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    assert hook["id"] == "sealer-guard" and hook["entry"] == "sealer guard"
    assert hook["language"] == "python" and hook.get("pass_filenames", True)
