"""The files of a work tree, and their text when they have one.

In a Git work tree the files are Git's: tracked plus untracked-but-not-ignored
(``git ls-files -co --exclude-standard``), so ``.gitignore`` is honoured and nothing under
``.git`` is ever read. Elsewhere the directory is walked, version-control and tool directories
(``.git``, ``.venv``, ``node_modules``...) skipped. Symbolic links are never followed. Reading
skips what cannot be a manifest: files larger than a limit, and binary files (a NUL byte near the
start, or not UTF-8).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sealer.errors import InputError

MAX_BYTES = 8 * 1024 * 1024  # far above any manifest: a Secret is at most 1 MiB
SNIFF_BYTES = 8192  # where git looks for a NUL byte to call a file binary
SKIPPED_DIRS = frozenset(
    {".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache",
     ".ruff_cache", ".pytest_cache", ".hypothesis", ".tox"}
)  # fmt: skip


@dataclass(frozen=True)
class Skipped:
    """A file that was not read, and why (``"binary"``, ``"larger than 8 MiB"``...)."""

    path: Path
    reason: str


def files(paths: Iterable[Path]) -> Iterator[Path]:
    """Every regular file named by ``paths`` (files as given; directories expanded), each once,
    in a stable order."""
    seen: set[Path] = set()
    for root in paths:
        if root.is_file():
            found: Iterable[Path] = [root]
        elif root.is_dir():
            listed = _git_files(root)
            found = _walk(root) if listed is None else listed
        else:
            raise InputError("no such file or directory", where=str(root))
        for path in found:
            if path not in seen:
                seen.add(path)
                yield path


def _git_files(root: Path) -> list[Path] | None:
    """Git's view of the tree under ``root``; None when ``root`` is not in a work tree."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [git, "-C", str(root), "ls-files", "-co", "--exclude-standard", "-z"],
            capture_output=True,
            check=False,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    result = []
    for name in sorted(set(done.stdout.decode("utf-8", "surrogateescape").split("\0"))):
        if not name:
            continue
        path = root / name
        # tracked but deleted, a submodule (a directory), or a link: not a file to read
        if not path.is_symlink() and path.is_file():
            result.append(path)
    return result


def _walk(root: Path) -> list[Path]:
    result = []
    for parent, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(names):
            path = Path(parent) / name
            if not path.is_symlink():
                result.append(path)
    return result


def read_text(path: Path, max_bytes: int = MAX_BYTES) -> str | Skipped:
    """The file's text, or why it was skipped (too large, binary, unreadable)."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return Skipped(path, f"larger than {max_bytes // (1024 * 1024)} MiB")
        data = path.read_bytes()
    except OSError as exc:
        return Skipped(path, f"unreadable ({exc.strerror or exc})")
    if b"\0" in data[:SNIFF_BYTES]:
        return Skipped(path, "binary")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return Skipped(path, "binary (not UTF-8)")


def read_revision(spec: str, cwd: Path | None = None) -> bytes:
    """The content of ``REV:PATH`` as ``git show`` gives it (``PATH`` from the top of the work
    tree, or ``./PATH`` from ``cwd``)."""
    git = shutil.which("git")
    if git is None:
        raise InputError("git is not installed", where=spec)
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [git, "show", "--no-textconv", spec, "--"],
            capture_output=True, check=False, timeout=120, cwd=cwd,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        raise InputError(f"git show failed ({exc})", where=spec) from None
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(f"not a file or a git revision ({reason[-1] if reason else 'git'})",
                         where=spec)  # fmt: skip
    return done.stdout
