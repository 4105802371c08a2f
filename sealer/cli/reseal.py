"""``sealer reseal``: re-encrypt every stale SealedSecret of a tree to the sealing key, in place."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from sealer import certsource, resealing, sealedfiles
from sealer.cli.options import (
    cert_option,
    cluster_options,
    cluster_pins,
    cluster_pins_option,
    make_cluster,
)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--check",
    is_flag=True,
    help="change nothing; exit 1 if anything is not sealed to the sealing key (CI)",
)
@cert_option
@cluster_pins_option
@cluster_options
def reseal(**kw: Any) -> None:
    """Re-seal every SealedSecret under PATHS not sealed to the controller's sealing key.

    Finds them in YAML (several documents, List items) and JSON files, has the controller
    re-encrypt them (/v1/rotate: values never leave the cluster) and rewrites only their
    ciphertexts and key-fingerprint annotation: comments, key order and every other document
    stay byte for byte. A second run changes nothing. With --check (and --cert, or the cert of
    .sealer.yaml, no cluster is needed) nothing is changed.
    """
    start = kw["paths"][0] if kw["paths"][0].is_dir() else None
    cluster = make_cluster(kw, start)
    trusted = cluster_pins(kw, start)
    sealing = certsource.pinned_certificate(kw["cert"], cluster.client, cluster.controller, trusted)
    plan = resealing.plan(sealedfiles.scan(kw["paths"]), sealing.fingerprint)
    for skipped in plan.tree.unreadable:
        click.echo(f"warning: {skipped.path}: mentions SealedSecret but {skipped.reason}", err=True)
    if kw["check"]:
        for item in plan.stale:
            said = item.fingerprint or "no key-fingerprint annotation"
            click.echo(f"{item.where}: sealed to {said}")
        click.echo(
            f"{len(plan.tree.sealed)} SealedSecrets, {len(plan.stale)} not sealed to "
            f"{sealing.fingerprint}",
            err=True,
        )
        if plan.stale:
            sys.exit(1)
        return
    rotate = resealing.controller_rotate(cluster.client(), cluster.controller)
    if plan.stale and sys.stderr.isatty():
        with click.progressbar(length=len(plan.stale), label="re-sealing", file=sys.stderr) as bar:
            report = resealing.apply(plan, rotate, trusted, bar.update)
    else:
        report = resealing.apply(plan, rotate, trusted)
    for item, why in report.failed:
        click.echo(f"failed: {item.where}: {why}", err=True)
    click.echo(report.summary(), err=True)
    if report.failed:
        sys.exit(1)
