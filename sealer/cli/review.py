"""``sealer show``: sealed files as reviewable text, and what changed between two versions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from sealer import documents, review, worktree
from sealer.cli.options import read_input
from sealer.errors import ManifestError
from sealer.sealedsecret import KIND


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE [FILE]")
@click.option("-o", "--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="output format")  # fmt: skip
@click.option("--textconv", is_flag=True,
              help="for git's textconv: one file; what is not a manifest is printed as it is")
def show(files: tuple[str, ...], fmt: str, textconv: bool) -> None:
    """Print sealed files for review: per SealedSecret its scope, key, template and items
    (name, value size, ciphertext digest); nothing is decrypted.

    With two files, say per item whether it is unchanged, re-encrypted, added or removed. A
    FILE may be '-' (standard input) or a git revision, REV:PATH (e.g. HEAD~1:db.yaml).

    \b
    As git's diff driver (see docs/review.md):
      echo '*.sealed.yaml diff=sealed' >> .gitattributes
      git config diff.sealed.textconv 'sealer show --textconv'
    """
    if len(files) > 2:
        raise click.UsageError("show takes one file, or two to compare")
    if textconv:
        if len(files) != 1:
            raise click.UsageError("--textconv takes one file")
        _textconv(files[0])
        return
    views = [_views(name) for name in files]
    if len(views) == 1:
        out = (json.dumps([v.as_dict() for v in views[0]], indent=2) + "\n" if fmt == "json"
               else review.render(views[0]))  # fmt: skip
    else:
        changes = review.compare(views[0], views[1])
        out = (json.dumps([_change_dict(c) for c in changes], indent=2) + "\n" if fmt == "json"
               else review.render_changes(changes))  # fmt: skip
    click.echo(out, nl=False)


def _read(name: str) -> tuple[bytes, str]:
    if name == "-" or Path(name).exists() or ":" not in name:
        return read_input(name)
    return worktree.read_revision(name), name


def _views(name: str) -> list[review.View]:
    data, source = _read(name)
    return [review.view(obj) for obj in documents.load(data, source)]


def _textconv(name: str) -> None:
    """Never fails on content: git stops the whole diff when a textconv command fails."""
    data, source = _read(name)
    try:
        objects = documents.load(data, source)
    except ManifestError:
        objects = []
    if not any(obj.get("kind") == KIND for obj in objects):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    click.echo(review.render([review.view(obj) for obj in objects]), nl=False)


def _change_dict(change: review.Change) -> dict[str, Any]:
    return {"kind": change.kind, "ref": change.ref, "status": change.status,
            "items": dict(change.items),
            "metadata": {k: {"before": b, "after": a} for k, (b, a) in change.metadata.items()}}
