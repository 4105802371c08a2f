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
