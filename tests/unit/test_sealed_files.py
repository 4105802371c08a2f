"""sealer.sealedfiles: SealedSecrets found in a tree (Git's files, or a walk), with where they
are; rewrite() on the shapes people write by hand."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from sealer import documents
from sealer.errors import ManifestError
from sealer.scope import KEY_FINGERPRINT_ANNOTATION as HINT
from sealer.sealedfiles import Change, in_text, rewrite, rewrite_objects, scan

ONE = """\
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: db
  namespace: team-a
spec:
  encryptedData:
    password: AgAAA==
"""
SECRET = "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\nstringData: {a: b}\n"


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def tree(root: Path) -> None:
    (root / "apps" / "a").mkdir(parents=True)
    (root / "apps" / "a" / "db.yaml").write_text(ONE)
    (root / "apps" / "a" / "two.yml").write_text(
        "# both\n" + ONE + "---\n" + ONE.replace("name: db", "name: cache"))
    (root / "apps" / "list.json").write_text(json.dumps(
        {"apiVersion": "v1", "kind": "List",
         "items": [{"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "c"}},
                   documents.load(ONE)[0]]}, indent=2))
    (root / "apps" / "secret.yaml").write_text(SECRET)
    (root / "apps" / "chart.yaml").write_text("kind: SealedSecret\nmetadata: {{ .Values }}\n: :")
    (root / "apps" / "blob.yaml").write_bytes(b"\0SealedSecret\xff")
    (root / "README.md").write_text("kind: SealedSecret is explained here\n")
    (root / "ignored").mkdir()
    (root / "ignored" / "old.yaml").write_text(ONE)


def found(root: Path) -> list[tuple[str, int, str, int, int | None, int]]:
    result = scan([root])
    return [(str(s.path.relative_to(root)), s.index, s.name, s.document, s.item, s.line)
            for s in result.sealed]


def test_a_git_tree_is_read_as_git_sees_it(tmp_path: Path) -> None:
    tree(tmp_path)
    git(tmp_path, "init", "-q")
    (tmp_path / ".gitignore").write_text("ignored/\n")
    result = scan([tmp_path])
    assert found(tmp_path) == [
        ("apps/a/db.yaml", 0, "db", 0, None, 1),
        ("apps/a/two.yml", 0, "db", 0, None, 2),  # line 1 is a comment
        ("apps/a/two.yml", 1, "cache", 1, None, 11),
        ("apps/list.json", 1, "db", 0, 1, 12),
    ]
    assert [(s.path.name, s.reason.split(":")[0]) for s in result.skipped] == [
        ("blob.yaml", "binary")]
    assert [s.path.name for s in result.unreadable] == ["chart.yaml"]
    assert "invalid YAML" in result.unreadable[0].reason


def test_without_git_the_tree_is_walked(tmp_path: Path) -> None:
    tree(tmp_path)
    (tmp_path / ".git").mkdir()  # not a repository: never read
    (tmp_path / ".git" / "x.yaml").write_text(ONE)
    names = {f[0] for f in found(tmp_path)}
    assert names == {"apps/a/db.yaml", "apps/a/two.yml", "apps/list.json", "ignored/old.yaml"}


def test_a_file_named_is_read_whatever_its_suffix(tmp_path: Path) -> None:
    path = tmp_path / "sealed.txt"
    path.write_text(ONE)
    assert [s.name for s in scan([path]).sealed] == ["db"]
    assert scan([tmp_path]).sealed == []  # in a tree, only manifest suffixes


def test_huge_files_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sealer import worktree

    (tmp_path / "big.yaml").write_text(ONE + "#" * 2000)
    monkeypatch.setattr(worktree, "MAX_BYTES", 1000)
    monkeypatch.setattr(worktree.read_text, "__defaults__", (1000,))
    result = scan([tmp_path])
    assert result.sealed == [] and "larger than" in result.skipped[0].reason


def test_missing_path_is_an_input_error(tmp_path: Path) -> None:
    from sealer.errors import InputError

    with pytest.raises(InputError, match="no such file"):
        scan([tmp_path / "nope"])


def test_positions_and_fingerprint() -> None:
    text = ONE.replace("  name: db\n", f"  name: db\n  annotations: {{{HINT}: SHA256:x}}\n")
    (doc,) = in_text(text, Path("f.yaml"))
    assert doc.fingerprint == "SHA256:x" and doc.where == "f.yaml:1: SealedSecret team-a/db"
    assert text[doc.start : doc.end].startswith("apiVersion")


# --- rewrite on hand-written shapes ---------------------------------------------------------


@pytest.mark.parametrize("annotations", ["", " null", " ~", " {}"])
def test_empty_annotations_are_filled(annotations: str) -> None:
    text = ONE.replace("  name: db\n", f"  annotations:{annotations}\n  name: db\n")
    result = rewrite(text, 0, {}, {HINT: "SHA256:new"})
    assert documents.load(result)[0]["metadata"]["annotations"] == {HINT: "SHA256:new"}
    assert result.replace(f"{{{HINT}: SHA256:new}}", "").count("\n") == text.count("\n")


def test_block_scalars_keep_their_style() -> None:
    text = ONE.replace("password: AgAAA==", "password: >-\n      AgAAA\n      ==\n\n    # c\n")
    result = rewrite(text, 0, {"password": "AgBBB=="}, {})
    assert "password: >-\n      AgBBB==\n\n    # c\n" in result


def test_crlf_and_no_final_line_break() -> None:
    text = ONE.replace("\n", "\r\n").rstrip()
    result = rewrite(text, 0, {"password": "N==", "user": "U=="}, {HINT: "SHA256:k"})
    assert "\n" not in result.replace("\r\n", "")
    assert result.endswith("    user: U==")
    assert "  annotations:\r\n    sealer.dev/key-fingerprint: SHA256:k\r\n  name: db" in result


def test_list_items_in_yaml() -> None:
    body = "\n".join("  " + line if line else line for line in ONE.splitlines())
    text = "apiVersion: v1\nkind: List\nitems:\n-" + body[1:] + "\n- " + body[2:] + "\n"
    result = rewrite(text, 1, {"password": "Zm9v"}, {HINT: "SHA256:k"})
    objs = documents.load(result)
    assert objs[0] == documents.load(ONE)[0]
    assert objs[1]["spec"]["encryptedData"] == {"password": "Zm9v"}
    assert result.startswith(text[: text.index("- ", text.index("- ") + 1)])


def test_compact_json_stays_compact() -> None:
    text = json.dumps(documents.load(ONE)[0], separators=(",", ":")) + "\n"
    result = rewrite(text, 0, {"a": "A"}, {HINT: "SHA256:k"})
    assert result.count("\n") == 1 and '"encryptedData":{"a":"A","password":"AgAAA=="}' in result


def test_several_objects_at_once() -> None:
    text = ONE + "---\n" + ONE.replace("db", "other")
    result = rewrite_objects(text, {0: Change({"password": "X"}), 1: Change({}, {HINT: "h"})})
    first, second = documents.load(result)
    assert first["spec"]["encryptedData"]["password"] == "X"
    assert second["metadata"]["annotations"] == {HINT: "h"}


@pytest.mark.parametrize("text,error", [
    (ONE, "has no object 3"),
    (ONE.replace("    password: AgAAA==", "    - AgAAA=="), "encryptedData is not a mapping"),
    (ONE.replace("password: AgAAA==", "password: {a: b}"), "password is not a string"),
])
def test_what_cannot_be_edited_is_refused(text: str, error: str) -> None:
    index = 3 if "3" in error else 0
    with pytest.raises(ManifestError, match=error):
        rewrite(text, index, {"password": "X"}, {})


def test_invalid_text_is_refused() -> None:
    with pytest.raises(ManifestError):
        rewrite("kind: [", 0, {}, {})
