"""``sealer seal --cluster A --cluster B`` / ``--all-clusters``: one input sealed for each
cluster of ``.sealer.yaml`` into the file its output pattern names."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import click

from sealer import certsource, fleet, pins, repoconfig
from sealer.cli.options import Cluster
from sealer.keys import SealingCertificate
from sealer.repoconfig import ClusterConfig, RepoConfig
from sealer.scope import Scope

clusters_option = click.option(
    "--cluster",
    "pin_cluster",
    envvar="SEALER_CLUSTER",
    multiple=True,
    metavar="NAME",
    help="a cluster of .sealer.yaml: its pins apply; with its output pattern (or several "
    "--cluster) the result goes to that cluster's file (repeatable)",
)
all_clusters_option = click.option(
    "--all-clusters", is_flag=True, help="seal for every cluster of .sealer.yaml, into their files"
)


def wanted(kw: dict[str, Any]) -> RepoConfig | None:
    """The configuration when this is a per-cluster run; else None, and ``--cluster`` is left
    as the single pin selection the other commands take."""
    names: tuple[str, ...] = kw["pin_cluster"]
    every = kw.pop("all_clusters")
    config = repoconfig.discover() if names or every else None
    single_file = len(names) == 1 and config is not None and not every and (
        names[0] not in config.clusters or not config.clusters[names[0]].output
        or kw["output"])  # fmt: skip
    if not names and not every or single_file:
        kw["pin_cluster"] = names[0] if names else None
        return None
    if kw["raw"] or kw["merge_into"] or kw["output"]:
        raise click.UsageError("sealing for clusters writes their files: no --raw, "
                               "--merge-into or -w")  # fmt: skip
    if kw["cert"] and (every or len(names) > 1):
        raise click.UsageError("--cert names one certificate: not with several clusters")
    return config


Prepare = Callable[[dict[str, Any], Scope | None, str | None, str | None, Cluster], dict[str, Any]]


def seal(kw: dict[str, Any], config: RepoConfig, secrets: list[dict[str, Any]],
         scope: Scope | None, prepare: Prepare, defaults: Cluster) -> None:  # fmt: skip
    """Seal ``secrets`` for the chosen clusters and write every file, or none."""
    chosen = config.select(kw["pin_cluster"], every=bool(not kw["pin_cluster"]))

    def certificate(c: ClusterConfig) -> SealingCertificate:
        where = defaults.within(c)
        sealing = certsource.pinned_certificate(
            kw["cert"], where.client, where.controller, pins.selected(config.path, c.name))
        return sealing

    def prepared(secret: Mapping[str, Any], c: ClusterConfig) -> Mapping[str, Any]:
        return prepare(dict(secret), scope, kw["name"], kw["namespace"], defaults.within(c))

    outputs = fleet.seal_for_clusters(secrets, chosen, certificate, prepared, scope=scope,
                                      allow_empty=kw["allow_empty_data"])  # fmt: skip
    fmt = kw["fmt"] if click.get_current_context().get_parameter_source("fmt") is not \
        click.core.ParameterSource.DEFAULT else None
    fleet.write(outputs, fmt)
    for out in outputs:
        click.echo(f"{os.path.relpath(out.path)}: {len(out.objects)} SealedSecret(s) for "
                   f"cluster {out.cluster} ({out.fingerprint})", err=True)  # fmt: skip
