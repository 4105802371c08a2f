"""Every bad input gives one line on stderr and exit 1 (usage problems: exit 2), never a
traceback, and never the secret value that was wrong."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sealer.cli.main import cli

VECTOR = json.loads((Path(__file__).parents[1] / "vectors" / "02-strict-1byte.json").read_text())
GOOD = "kind: Secret\nmetadata: {name: x, namespace: y}\nstringData: {a: b}\n"
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" \
       "c: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"


def run(*args: str, input: str | bytes = "") -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def cert(tmp_path: Path) -> str:
    path = tmp_path / "cert.pem"
    path.write_text(VECTOR["cert_pem"])
    return str(path)


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("password: [s3cr3t-value", "invalid YAML"),
        ('{"kind": "Secret", "data": {"a": "s3cr3t-value"', "invalid JSON"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "expected kind Secret"),
        ("- just\n- a list\n", "is not a Kubernetes object"),
        ("kind: Secret\nmetadata: {name: x, namespace: y}\ndata: {a: s3cr3t-value!}\n",
         "data.a: is not valid base64"),
        ("kind: Secret\nmetadata: {name: x, namespace: y}\n", "no data or stringData"),
        ("kind: Secret\nmetadata: {namespace: y}\ndata: {a: YQ==}\n", "metadata.name: is required"),
        ("kind: Secret\nmetadata: {name: x, namespace: y}\ndata: {a: YQ==}\ndata: {b: Yg==}\n",
         "duplicate key 'data'"),
        (BOMB, "YAML aliases are not accepted"),
        ("", "holds no Secret"),
        ("kind: Secret\nmetadata: {name: x, namespace: y}\ndata: {'bad key!': YQ==}\n",
         "valid Secret key"),
        ("kind: Secret\nmetadata: {name: x, namespace: y, labels: {v: 1}}\ndata: {a: YQ==}\n",
         "metadata.labels.v: must be a string"),
        ("kind: Secret\nmetadata: just-a-name\ndata: {a: YQ==}\n", "metadata: must be a mapping"),
        ("kind: Secret\nmetadata: {name: x, namespace: y}\nstringData: {port: 8080}\n",
         "stringData.port: must be a string"),
        ("kind: Secret\nmetadata: {name: x, namespace: y}\nimmutable: 'yes'\ndata: {a: YQ==}\n",
         "immutable: must be true or false"),
        (b"kind: Secret\nstringData: {a: \xff}\n", "is not UTF-8"),
        ('{"kind": "Secret", "metadata": {"name": "\\ud800"}}', "invalid Unicode escape"),
        ("kind: Secret\nmetadata: {name: x, namespace: y}\nstringData: !!binary aGk=\n",
         "which JSON cannot carry"),
    ],
)
def test_bad_secret_input(cert: str, stdin: str | bytes, message: str) -> None:
    code, out, err = run("seal", "--cert", cert, input=stdin)
    assert (code, out) == (1, "")
    assert message in err and err.startswith("Error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "s3cr3t" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "everywhere"], "Invalid value for '--scope'"),
        (["--no-such-option"], "No such option"),
        (["--from-file", "x"], "--from-file requires --raw"),
        (["--raw", "-n", "ns"], "--raw with strict scope needs --name"),
        (["--raw", "--name", "n", "-n", "ns", "--from-file", "/nonexistent"], "cannot read"),
        (["-o", "xml"], "Invalid value for '-o'"),
    ],
)
def test_usage_errors_exit_2(cert: str, args: list[str], message: str) -> None:
    code, out, err = run("seal", "--cert", cert, *args, input=GOOD)
    assert code == 2 and out == "" and message in err, err


def test_certificate_problems_are_one_line(tmp_path: Path) -> None:
    for source, message in [
        (str(tmp_path / "missing.pem"), "cannot read certificate"),
        (str(tmp_path), "cannot read certificate"),
        ("https://127.0.0.1:1/v1/cert.pem", "cannot fetch certificate"),
        ("ftp://example.invalid/cert.pem", "unsupported certificate URL scheme"),
    ]:
        code, _, err = run("seal", "--cert", source, input=GOOD)
        assert code == 1 and message in err and err.count("\n") == 1, err


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_api_server_is_one_line(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": {"server": f"http://127.0.0.1:{closed_port()}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }))
    sealed = tmp_path / "sealed.yaml"
    sealed.write_text(yaml.safe_dump({
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": "x", "namespace": "y"}, "spec": {"encryptedData": {}}}))
    for command in (["seal"], ["cert"], ["validate", "--online", "-f", str(sealed)],
                    ["reencrypt", "-f", str(sealed)]):
        code, _, err = run(*command, "--kubeconfig", str(kubeconfig), input=GOOD)
        assert code == 1 and "cannot reach the API server" in err, (command, err)
        assert "Connection refused" in err and err.count("\n") == 1
    code, _, err = run("cert", "--kubeconfig", str(tmp_path / "nope"))
    assert code == 1 and "does not exist" in err
    cert = tmp_path / "cert.pem"
    cert.write_text(VECTOR["cert_pem"])
    code, _, err = run("seal", "--cert", str(cert), "--kubeconfig", str(kubeconfig),
                       "--context", "other", input=GOOD.replace(", namespace: y", ""))
    assert code == 1 and "context 'other' is not in the kubeconfig" in err


def test_a_bug_is_one_line_too(cert: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("s3cr3t-value leaked into a message")

    monkeypatch.setattr("sealer.cli.seal.seal_secret", broken)
    code, _, err = run("seal", "--cert", cert, input=GOOD)
    assert code == 1 and "internal error (RuntimeError)" in err and "s3cr3t" not in err
    monkeypatch.setenv("SEALER_DEBUG", "1")
    result = CliRunner().invoke(cli, ["seal", "--cert", cert], input=GOOD)
    assert isinstance(result.exception, RuntimeError)
