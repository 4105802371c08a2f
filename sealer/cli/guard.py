"""``sealer guard``: fail when plaintext credentials are about to be committed."""

from __future__ import annotations

import os
from pathlib import Path

import click

from sealer import plaintext, repoconfig


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("-v", "--verbose", is_flag=True,
              help="also list allowed findings and the files not read (binary, huge)")
def guard(paths: tuple[Path, ...], verbose: bool) -> None:
    """Exit 1 naming file, line, document and field of every plaintext credential under
    PATHS (default: the work tree; Git's files when in a repository): Secrets with data or
    stringData, kustomize secretGenerators, PEM private keys, kubeconfig tokens and client
    keys. Values are never printed. Allow-list in .sealer.yaml (guard.allow).

    As a pre-commit hook: see .pre-commit-hooks.yaml and docs/review.md.
    """
    config = repoconfig.discover()
    report = plaintext.scan(list(paths) or [Path(".")], config.allowed if config.allow else None)
    for finding in report.findings:
        click.echo(f"{_shown(finding.path)}:{finding.line}: {finding.what} ({finding.rule})")
    if verbose:
        for finding in report.allowed:
            entry = config.allowed(finding.path, finding.rule)
            reason = f": {entry.reason}" if entry is not None and entry.reason else ""
            click.echo(f"allowed {_shown(finding.path)}:{finding.line}: {finding.what} "
                       f"({finding.rule}{reason})", err=True)  # fmt: skip
        for skipped in report.skipped:
            click.echo(f"not read {_shown(skipped.path)}: {skipped.reason}", err=True)
    allowed = f", {len(report.allowed)} allowed by .sealer.yaml" if report.allowed else ""
    if report.findings:
        files = len({f.path for f in report.findings})
        click.echo(f"sealer guard: {len(report.findings)} plaintext credential(s) in {files} "
                   f"file(s){allowed}; seal them (sealer seal) or allow-list them in "
                   ".sealer.yaml", err=True)  # fmt: skip
        raise SystemExit(1)
    if verbose:
        click.echo(f"sealer guard: {report.files} files, no plaintext credentials{allowed}",
                   err=True)  # fmt: skip


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
