"""sealer show: sealed files as reviewable text (single and multi-document), two versions
compared item by item (files, stdin, git revisions), and the textconv driver through a real
``git diff`` in a temporary repository."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sealer import documents
from sealer.cli.main import cli
from sealer.scope import KEY_FINGERPRINT_ANNOTATION as HINT


def item(size: int, seed: int) -> str:
    """A well-framed sealed value opening to ``size`` bytes (RSA-4096 block, GCM tag)."""
    body = hashlib.sha256(str(seed).encode()).digest() * ((512 + size + 16) // 32 + 1)
    return base64.b64encode(b"\x02\x00" + body[: 512 + size + 16]).decode()


def sealed(name: str, items: dict[str, str], *, key: str = "SHA256:old", scope: str = "",
           labels: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    annotations = {HINT: key}
    if scope:
        annotations[f"sealedsecrets.bitnami.com/{scope}"] = "true"
    return {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
            "metadata": {"name": name, "namespace": "team-a", "annotations": annotations},
            "spec": {"encryptedData": items,
                     "template": {"metadata": {"name": name, "labels": labels or {"app": name}},
                                  "type": "Opaque"}}}


DB = sealed("db", {"user": item(5, 1), "password": item(12, 2)})
DIGEST = hashlib.sha256(DB["spec"]["encryptedData"]["password"].encode()).hexdigest()[:12]


def show(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["show", *args], input=input)
    return result.exit_code, result.stdout, result.stderr


def test_single_file(tmp_path: Path) -> None:
    path = tmp_path / "db.yaml"
    path.write_text(documents.dump([DB], "yaml"))
    code, out, _ = show(str(path))
    assert code == 0
    lines = out.splitlines()
    assert lines[:6] == ["SealedSecret team-a/db", "  scope: strict", "  key: SHA256:old",
                         "  type: Opaque", "  label: app=db", "  items: 2"]
    assert lines[6].split() == ["password", "12", "bytes", DIGEST]  # sorted by name
    assert lines[7].split()[:3] == ["user", "5", "bytes"]
    assert DB["spec"]["encryptedData"]["password"][:40] not in out


def test_multi_document_and_json(tmp_path: Path) -> None:
    other = sealed("cache", {"url": item(30, 3)}, scope="namespace-wide")
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    path = tmp_path / "all.json"
    path.write_text(documents.dump([DB, config, other], "json"))
    code, out, _ = show(str(path))
    assert code == 0
    assert "ConfigMap c (not sealed)" in out
    assert "SealedSecret team-a/cache\n  scope: namespace-wide" in out
    code, out, _ = show(str(path), "-o", "json")
    views = json.loads(out)
    assert [v["name"] for v in views] == ["db", "c", "cache"]
    assert views[0]["items"][0] == {"name": "password", "size": 12, "digest": DIGEST}


def test_two_versions_compared(tmp_path: Path) -> None:
    before = [DB, sealed("gone", {"a": item(1, 9)})]
    changed = sealed("db", {"user": DB["spec"]["encryptedData"]["user"],
                            "password": item(12, 20), "token": item(8, 21)},
                     key="SHA256:new", labels={"app": "db", "tier": "data"})
    after = [changed, sealed("new", {"a": item(1, 10)})]
    (tmp_path / "a.yaml").write_text(documents.dump(before, "yaml"))
    code, out, _ = show(str(tmp_path / "a.yaml"), "-", input=documents.dump(after, "yaml"))
    assert code == 0
    assert out == (
        "SealedSecret team-a/db: changed\n"
        "  key: SHA256:old -> SHA256:new\n"
        "  template label tier: (none) -> data\n"
        "  password  re-encrypted\n"
        "  token     added\n"
        "  user      unchanged\n"
        "SealedSecret team-a/gone: removed\n"
        "SealedSecret team-a/new: added\n"
    )


def test_usage_errors() -> None:
    assert show("a", "b", "c")[0] == 2
    assert show("--textconv", "a", "b")[0] == 2
    code, _, err = show("/no/such/file.yaml")
    assert code == 1 and "cannot read" in err


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e", "GIT_CONFIG_NOSYSTEM": "1",
           "HOME": str(repo)}  # fmt: skip
    done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env)  # fmt: skip
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "db.sealed.yaml").write_text(documents.dump([DB], "yaml"))
    (repo / "notes.sealed.yaml").write_text("not: [a manifest\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    return repo


def test_revisions_through_git(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    changed = sealed("db", {**DB["spec"]["encryptedData"], "password": item(12, 40)})
    (repo / "db.sealed.yaml").write_text(documents.dump([changed], "yaml"))
    monkeypatch.chdir(repo)
    code, out, _ = show("HEAD:db.sealed.yaml", "db.sealed.yaml")
    assert code == 0 and "password  re-encrypted" in out and "user      unchanged" in out
    code, _, err = show("HEAD:missing.yaml", "db.sealed.yaml")
    assert code == 1 and "HEAD:missing.yaml" in err


def test_textconv_through_git_diff(repo: Path) -> None:
    """The set-up docs/review.md gives, driven through git itself."""
    (repo / ".gitattributes").write_text("*.sealed.yaml diff=sealed\n")
    sealer = Path(sys.executable).parent / "sealer"
    git(repo, "config", "diff.sealed.textconv", f"{sealer} show --textconv")
    changed = sealed("db", {**DB["spec"]["encryptedData"], "password": item(12, 50),
                            "extra": item(3, 51)})  # fmt: skip
    (repo / "db.sealed.yaml").write_text(documents.dump([changed], "yaml"))
    (repo / "notes.sealed.yaml").write_text("not: [a manifest, still]\n")
    out = git(repo, "diff")
    changed_lines = [line for line in out.splitlines()
                     if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    new_digest = hashlib.sha256(changed["spec"]["encryptedData"]["password"].encode())
    removed = {" ".join(line[1:].split()) for line in changed_lines if line[0] == "-"}
    added = {" ".join(line[1:].split()) for line in changed_lines if line[0] == "+"}
    assert removed == {"items: 2", f"password 12 bytes {DIGEST}", "not: [a manifest"}
    assert {a.rsplit(" ", 1)[0] for a in added} == {
        "items:", "extra 3 bytes", "password 12 bytes", "not: [a manifest,"}
    assert f"password 12 bytes {new_digest.hexdigest()[:12]}" in added
    # a file that is not a manifest is shown as it is, and git diff does not fail
    assert "+not: [a manifest, still]" in out
    assert "AgB" not in out and DB["spec"]["encryptedData"]["user"][:30] not in out
