"""Every case of the hostile corpus through the CLI (``CliRunner``): ``sealer unseal`` with the
right key and ``sealer validate --cert`` offline. A refusal is one line on stderr that names the
object and the field, exit code 1, nothing on stdout, no value, no traceback."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sealer import keys
from sealer.cli.main import cli
from tests.hostile.corpus import CASES, Case, Keys, value
from tests.integration.controller_fixtures import make_pairs


@pytest.fixture(scope="module")
def corpus_keys() -> Keys:
    """RSA-2048: each ``sealer unseal`` parses and checks its key (0.3 s at 4096 bits); the
    controller's run of the corpus uses the session's RSA-4096 keys."""
    ours, foreign = make_pairs(2, bits=2048)
    return Keys(ours=ours, foreign=foreign)


@pytest.fixture(scope="module")
def key_files(corpus_keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    where = tmp_path_factory.mktemp("corpus-keys")
    key, cert = where / "key.pem", where / "cert.pem"
    key.write_bytes(keys.private_key_pem(corpus_keys.ours.private_key))
    cert.write_bytes(corpus_keys.ours.certificate.pem)
    return key, cert


def write(case: Case, corpus_keys: Keys, tmp_path: Path) -> Path:
    built = case.build(corpus_keys)
    path = tmp_path / f"{case.name}.yaml"
    path.write_bytes(built if isinstance(built, bytes) else json.dumps(built).encode())
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def assert_refused(case: Case, path: Path, code: int, out: str, err: str, cause: str) -> None:
    assert code == 1, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert cause in line and "Traceback" not in line
    if case.controller is None or case.cli_cause is not None:
        assert str(path) in line  # refused while reading the file: the file is named
    else:
        assert f"{case.where}: {case.field}" in line
    assert value(case.name).decode() not in line


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_unseal(case: Case, corpus_keys: Keys, key_files: tuple[Path, Path],
                tmp_path: Path) -> None:
    path = write(case, corpus_keys, tmp_path)
    code, out, err = run("unseal", "--key", str(key_files[0]), "-f", str(path))
    if not case.unseal_ok:
        assert_refused(case, path, code, out, err, case.cli_cause or case.cause)
        return
    assert code == 0, err
    secret = yaml.safe_load(out)
    assert (secret["metadata"]["namespace"], secret["metadata"]["name"]) == (case.namespace,
                                                                           case.name)
    data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
    assert set(data.values()) <= {value(case.name), b"c"}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_validate(case: Case, corpus_keys: Keys, key_files: tuple[Path, Path],
                  tmp_path: Path) -> None:
    path = write(case, corpus_keys, tmp_path)
    code, out, err = run("validate", "--cert", str(key_files[1]), "-f", str(path))
    if case.validate is None:
        assert code == 0, err
        assert f"{case.where}: ok" in out
        return
    assert_refused(case, path, code, out, err, case.validate)


SECRET = "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: hostile}\n"
SECRET_CASES = [  # (name, input, cause): sealer seal refuses each in one line, exit 1
    ("non-utf8-bytes", SECRET.encode() + b"stringData: {pw: \xff\xfe}\n", "is not UTF-8 text"),
    ("yaml-bomb-aliases", (SECRET + "stringData: {a: &a [x, x, x], b: [*a, *a]}\n").encode(),
     "YAML aliases are not accepted"),
    ("yaml-bomb-deep-nesting", (SECRET + "data: " + "[" * 200_000).encode(),
     "nested too deeply"),
    ("duplicate-keys", (SECRET + "stringData: {pw: a}\nstringData: {pw: b}\n").encode(),
     "duplicate key"),
    ("unhashable-key", (SECRET + "stringData: {? [a]: b}\n").encode(), "unhashable key"),
    ("lone-surrogate", (SECRET + 'stringData: {pw: "\\ud800"}\n').encode(),
     "invalid Unicode character escape"),
    ("item-name-dot-dot-prefix", (SECRET + "stringData: {..data: x}\n").encode(),
     "Secret hostile/db: stringData...data: is not a valid Secret key"),
    ("item-over-1mib", (SECRET + "stringData: {pw: " + "x" * (1024 * 1024 + 1) + "}\n")
     .encode(), "Secret hostile/db: data: would make a Secret of 1048577 bytes"),
    ("invalid-base64", (SECRET + "data: {pw: 'not*base64'}\n").encode(),
     "Secret hostile/db: data.pw: is not valid base64"),
    ("type-not-a-string", (SECRET + "type: {a: b}\nstringData: {pw: x}\n").encode(),
     "Secret hostile/db: type: must be a string"),
]


@pytest.mark.parametrize(("name", "text", "cause"), SECRET_CASES,
                         ids=[c[0] for c in SECRET_CASES])
def test_seal(name: str, text: bytes, cause: str, key_files: tuple[Path, Path],
              tmp_path: Path) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(text)
    code, out, err = run("seal", "--cert", str(key_files[1]), "-f", str(path))
    assert code == 1 and out == "", err
    assert len(err.strip().splitlines()) == 1 and cause in err and "Traceback" not in err
