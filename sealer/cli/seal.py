"""``sealer seal``: Secrets in, SealedSecrets out (kubeseal's default mode, ``--raw`` and
``--merge-into``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from sealer import certsource, documents
from sealer.cli import fleet
from sealer.cli.options import (
    Cluster,
    cert_option,
    cluster_options,
    cluster_pins,
    emit,
    input_option,
    make_cluster,
    output_format,
    output_format_option,
    read_objects,
    scope_option,
    write_option,
)
from sealer.errors import ManifestError, ScopeError
from sealer.keys import SealingCertificate
from sealer.kube import current_namespace
from sealer.manifests import merge_sealed, seal_secret, seal_value
from sealer.scope import Scope
from sealer.sealedsecret import describe


@click.command()
@input_option
@write_option
@output_format_option
@cert_option
@scope_option
@click.option("-n", "--namespace", help="namespace of the Secret (must agree with the input)")
@click.option("--name", help="name of the Secret (overrides the input's; --raw: strict scope)")
@click.option("--raw", is_flag=True, help="seal one value (stdin or --from-file); print the item")
@click.option(
    "--from-file",
    metavar="[KEY=]PATH",
    help="--raw: read the value from this file (kubectl's syntax; the key is ignored)",
)
@click.option(
    "--merge-into",
    type=click.Path(dir_okay=False, exists=True),
    help="add or replace items in this sealed file, in place",
)
@click.option("--allow-empty-data", is_flag=True, help="seal a Secret with no data")
@fleet.clusters_option
@fleet.all_clusters_option
@cluster_options
def seal(**kw: Any) -> None:
    """Seal Secrets (YAML or JSON, several documents or a List) into SealedSecrets.

    Each data and stringData value is sealed separately. The result is safe to commit.
    When a .sealer.yaml (here or above) pins certificates, only a pinned one is sealed to.
    With several --cluster (or --all-clusters, or one whose output pattern is set), each
    Secret is sealed once per cluster into that cluster's file.
    """
    per_cluster = fleet.wanted(kw)
    cluster = make_cluster(kw)
    trusted = cluster_pins(kw) if per_cluster is None else None
    scope = Scope(kw["scope"]) if kw["scope"] else None
    if kw["from_file"] and not kw["raw"]:
        raise click.UsageError("--from-file requires --raw")
    if kw["merge_into"] and (kw["raw"] or kw["output"]):
        raise click.UsageError("--merge-into rewrites its file in place: no --raw, no -w")

    def cert() -> SealingCertificate:
        return certsource.pinned_certificate(
            kw["cert"], cluster.client, cluster.controller, trusted
        )

    if kw["raw"]:
        emit(_raw(cert, kw, scope or Scope.STRICT, cluster), kw["output"])
        return
    _, secrets = read_objects(kw["input_file"], "Secret")
    for secret in secrets:
        if secret.get("kind") != "Secret":
            raise ManifestError(
                f"expected kind Secret, got {secret.get('kind')!r}", where=_of(kw, secret)
            )
    if kw["merge_into"]:
        _merge(Path(kw["merge_into"]), secrets, cert(), scope, kw["allow_empty_data"])
        return
    if per_cluster is not None:
        fleet.seal(kw, per_cluster, secrets, scope, _with_name, cluster)
        return
    prepared = [_with_name(s, scope, kw["name"], kw["namespace"], cluster) for s in secrets]
    sealing = cert()  # read once, whatever the number of values
    out = [
        seal_secret(s, sealing, scope=scope, allow_empty=kw["allow_empty_data"]) for s in prepared
    ]
    emit(documents.dump(out, output_format(kw)), kw["output"])


def _of(kw: dict[str, Any], obj: dict[str, Any]) -> str:
    source = "standard input" if kw["input_file"] == "-" else kw["input_file"]
    return f"{source}: {describe(obj)}"


def _with_name(
    secret: dict[str, Any],
    scope: Scope | None,
    name: str | None,
    namespace: str | None,
    cluster: Cluster,
) -> dict[str, Any]:
    """kubeseal's rules: --name replaces the name; -n must agree with the input; a Secret
    without a namespace gets -n or the kubeconfig's (cluster-wide ones need none)."""
    if not isinstance(secret.get("metadata") or {}, dict):
        raise ManifestError("must be a mapping", where=f"{describe(secret)}: metadata")
    meta = dict(secret.get("metadata") or {})
    if name:
        meta["name"] = name
    annotations = meta.get("annotations")
    effective = scope or Scope.from_annotations(
        annotations if isinstance(annotations, dict) else None
    )
    current = meta.get("namespace")
    if namespace and current and current != namespace:
        raise ScopeError(
            f"input is in namespace {current!r} but --namespace {namespace!r} was given",
            where=f"{describe(secret)}: metadata.namespace",
        )
    if not current and effective is not Scope.CLUSTER_WIDE:
        meta["namespace"] = namespace or current_namespace(cluster.kubeconfig, cluster.context)
    return {**secret, "metadata": meta}


def _raw(
    cert: Callable[[], SealingCertificate], kw: dict[str, Any], scope: Scope, cluster: Cluster
) -> str:
    """One item, for the label the scope gives (kubeseal's ``--raw``); never trimmed."""
    name, namespace = kw["name"] or "", kw["namespace"] or ""
    if scope is not Scope.CLUSTER_WIDE and not namespace:
        namespace = current_namespace(cluster.kubeconfig, cluster.context)
    if scope is Scope.STRICT and not name:
        raise click.UsageError("--raw with strict scope needs --name")
    if scope is Scope.CLUSTER_WIDE:
        name = namespace = ""
    elif scope is Scope.NAMESPACE_WIDE:
        name = ""
    value = _raw_value(kw["from_file"])
    return seal_value(cert(), value, scope.label(namespace, name))


def _raw_value(from_file: str | None) -> bytes:
    if not from_file:
        if sys.stdin.isatty():
            click.echo("(tty detected: expecting the value to seal on stdin)", err=True)
        return sys.stdin.buffer.read()
    path = Path(from_file)
    if not path.exists() and "=" in from_file:
        path = Path(from_file.split("=", 1)[1])  # kubectl's KEY=PATH
    try:
        return path.read_bytes()
    except OSError as exc:
        raise click.BadParameter(
            f"cannot read {path}: {exc.strerror}", param_hint="--from-file"
        ) from None


def _merge(
    path: Path,
    secrets: list[dict[str, Any]],
    cert: SealingCertificate,
    scope: Scope | None,
    allow_empty: bool,
) -> None:
    """Rewrite the file in its own format; items not given stay byte for byte as they were."""
    text = path.read_bytes()
    targets = documents.load(text, str(path))
    if len(targets) != 1:
        raise ManifestError(f"expected one SealedSecret, found {len(targets)}", where=str(path))
    merged = merge_sealed(targets[0], secrets, cert, scope=scope, allow_empty=allow_empty)
    fmt = "json" if text.lstrip().startswith(b"{") else "yaml"
    documents.write_atomic(path, documents.dump([merged], fmt))
