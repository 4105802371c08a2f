"""``sealer diff``: the SealedSecrets of a Git tree against those of a cluster (or several)."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import yaml

from sealer import certsource, drift, repoconfig, sealedfiles
from sealer.cli.options import Cluster, cluster_options, make_cluster
from sealer.errors import SealerError
from sealer.kube import current_namespace
from sealer.repoconfig import ClusterConfig


@click.command("diff")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("-A", "--all-namespaces", is_flag=True,
              help="report cluster-only objects of every namespace, not only those the tree names")
@click.option("-o", "--format", "fmt", type=click.Choice(["table", "json", "yaml"]),
              default="table", show_default=True, help="output format")
@click.option("--cert", metavar="PATH|URL",
              help="the newest key's certificate, to tell stale objects (default: the cluster's "
              "cert in .sealer.yaml, else the controller's)")
@click.option("--cluster", "clusters", multiple=True, metavar="NAME",
              help="a cluster of .sealer.yaml (repeatable); its paths are the default PATHS")
@click.option("--all-clusters", is_flag=True, help="every cluster of .sealer.yaml")
@cluster_options
def diff(paths: tuple[Path, ...], **kw: Any) -> None:
    """Compare the SealedSecrets under PATHS (default: the work tree) with the cluster's.

    Each object is in-sync, only-in-git, only-in-cluster, duplicate, differs (items added,
    removed or changed; template, scope or key changed), not-synced (the controller's reason) or
    stale (sealed to an older key than the newest). Nothing is decrypted and no value printed;
    reading SealedSecrets is the only right needed (and the controller's certificate, for
    stale). Exit 0 when everything is in sync, 1 when anything diverges.
    """
    given = make_cluster(kw)
    config = repoconfig.discover()
    targets: list[ClusterConfig | None] = list(
        config.select(kw["clusters"], every=kw["all_clusters"])
        if kw["clusters"] or kw["all_clusters"] else [None])  # fmt: skip
    results: list[drift.Drift] = []
    for target in targets:
        tree = list(paths) or (target.tree_paths() if target else [Path(".")])
        results += _one(tree, target, given.within(target), kw)
    _print(results, kw["fmt"], named=any(targets))
    counts = Counter(r.state for r in results)
    click.echo(", ".join(f"{counts[s]} {s}" for s in drift.STATES if counts[s]) or "nothing",
               err=True)  # fmt: skip
    if any(r.state != "in-sync" for r in results):
        raise SystemExit(1)


def _one(tree: list[Path], target: ClusterConfig | None, where: Cluster,
         kw: dict[str, Any]) -> list[drift.Drift]:  # fmt: skip
    scan = sealedfiles.scan(tree)
    for bad in scan.unreadable:
        click.echo(f"warning: {bad.reason}", err=True)
    client = where.client()
    default = current_namespace(where.kubeconfig, where.context)
    namespaces = None if kw["all_namespaces"] else {d.namespace or default for d in scan.sealed}
    live = drift.list_sealed(client, namespaces) if namespaces != set() else []
    newest = _newest(kw["cert"] or (target.cert_source() if target else None), where)
    found = drift.compare(scan.sealed, live, newest=newest, default_namespace=default,
                          namespaces=namespaces)  # fmt: skip
    name = target.name if target else None
    return [_relative(d, name) for d in found]


def _newest(source: str | None, where: Cluster) -> str | None:
    try:
        return certsource.certificate(source, where.client, where.controller).fingerprint
    except SealerError as exc:
        click.echo(f"warning: stale objects not checked: {exc}", err=True)
        return None


def _relative(found: drift.Drift, cluster: str | None) -> drift.Drift:
    source = found.source
    if source is not None:
        path, _, line = source.rpartition(":")
        source = f"{os.path.relpath(path)}:{line}"
    return drift.Drift(found.state, found.namespace, found.name, source, found.details,
                       found.items, found.key, found.stale, cluster)  # fmt: skip


def _print(results: Sequence[drift.Drift], fmt: str, named: bool) -> None:
    if fmt == "json":
        click.echo(json.dumps([r.as_dict() for r in results], indent=2))
        return
    if fmt == "yaml":
        click.echo(yaml.safe_dump([r.as_dict() for r in results], sort_keys=False), nl=False)
        return
    head = ["STATE", "NAMESPACE", "NAME", "SOURCE", "DETAILS"]
    rows = [[r.state, r.namespace, r.name, r.source or "-",
             "; ".join(r.details) + (" (stale)" if r.stale and r.state != "stale" else "")]
            for r in results]  # fmt: skip
    if named:
        head = ["CLUSTER", *head]
        rows = [[r.cluster or "-", *row] for r, row in zip(results, rows, strict=True)]
    widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head) - 1)]
    for row in [head, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, str(row[-1])]).rstrip())
