"""``sealer seal``: Secrets in, SealedSecrets out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from sealer import certsource, documents
from sealer.cli.options import (
    Cluster,
    cert_option,
    cluster_options,
    emit,
    input_option,
    make_cluster,
    output_format_option,
    read_input,
    scope_option,
    write_option,
)
from sealer.errors import ManifestError, ScopeError
from sealer.keys import SealingCertificate
from sealer.kube import current_namespace
from sealer.manifests import seal_secret, seal_value
from sealer.scope import KEY_FINGERPRINT_ANNOTATION, Scope
from sealer.sealedsecret import SealedSecret, describe


@click.command()
@input_option
@write_option
@output_format_option
@cert_option
@scope_option
@click.option("-n", "--namespace", help="namespace of the Secret (must agree with the input)")
@click.option("--name", help="--raw: the Secret's name (strict scope)")
@click.option("--raw", is_flag=True, help="seal one value (stdin or --from-file); print the item")
@click.option(
    "--from-file",
    type=click.Path(dir_okay=False, exists=True),
    help="--raw: read the value from this file",
)
@click.option(
    "--merge-into",
    type=click.Path(dir_okay=False, exists=True),
    help="add or replace items in this sealed file, in place",
)
@click.option("--allow-empty-data", is_flag=True, help="seal a Secret with no data")
@cluster_options
def seal(**kw: Any) -> None:
    """Seal Secrets (YAML or JSON, several documents or a List) into SealedSecrets.

    Each data and stringData value is sealed separately. The result is safe to commit.
    """
    cluster = make_cluster(kw)
    scope = Scope(kw["scope"]) if kw["scope"] else None
    namespace_given = kw["namespace"]

    def cert() -> SealingCertificate:
        return certsource.certificate(kw["cert"], cluster.client, cluster.controller)

    if kw["raw"]:
        emit(_raw(cert(), kw, scope or Scope.STRICT, cluster), kw["output"])
        return
    if kw["name"]:
        raise click.UsageError("--name goes with --raw")
    data, source = read_input(kw["input_file"])
    secrets = documents.load(data, source)
    if not secrets:
        raise ManifestError("holds no Secret", where=source)
    for secret in secrets:
        if secret.get("kind") != "Secret":
            raise ManifestError(
                f"expected kind Secret, got {secret.get('kind')!r}",
                where=f"{source}: {describe(secret)}",
            )
    if kw["merge_into"]:
        _merge(Path(kw["merge_into"]), secrets, cert(), scope, kw)
        return
    sealing = cert()
    out = []
    for secret in secrets:
        prepared = _with_namespace(secret, scope, namespace_given, cluster)
        out.append(seal_secret(prepared, sealing, scope=scope, allow_empty=kw["allow_empty_data"]))
    emit(documents.dump(out, kw["fmt"]), kw["output"])


def _with_namespace(
    secret: dict[str, Any], scope: Scope | None, namespace: str | None, cluster: Cluster
) -> dict[str, Any]:
    """kubeseal's rule: -n must agree with the input; a Secret without one gets -n or the
    kubeconfig's namespace (cluster-wide Secrets need none)."""
    meta = dict(secret.get("metadata") or {})
    effective = scope or Scope.from_annotations(meta.get("annotations"))
    current = meta.get("namespace")
    if namespace and current and current != namespace:
        raise ScopeError(
            f"input is in namespace {current!r} but --namespace {namespace!r} was given",
            where=f"{describe(secret)}: metadata.namespace",
        )
    if not current and effective is not Scope.CLUSTER_WIDE:
        meta["namespace"] = namespace or current_namespace(cluster.kubeconfig, cluster.context)
    return {**secret, "metadata": meta}


def _raw(cert: SealingCertificate, kw: dict[str, Any], scope: Scope, cluster: Cluster) -> str:
    value = Path(kw["from_file"]).read_bytes() if kw["from_file"] else sys.stdin.buffer.read()
    name, namespace = kw["name"] or "", kw["namespace"] or ""
    if scope is not Scope.CLUSTER_WIDE and not namespace:
        namespace = current_namespace(cluster.kubeconfig, cluster.context)
    if scope is Scope.STRICT and not name:
        raise click.UsageError("--raw with strict scope needs --name")
    if scope is Scope.CLUSTER_WIDE:
        name = namespace = ""
    elif scope is Scope.NAMESPACE_WIDE:
        name = ""
    return seal_value(cert, value, scope.label(namespace, name))


def _merge(
    path: Path,
    secrets: list[dict[str, Any]],
    cert: SealingCertificate,
    scope: Scope | None,
    kw: dict[str, Any],
) -> None:
    """Sealed with the target's own name, namespace and scope; other items stay as they are."""
    text = path.read_bytes()
    targets = documents.load(text, str(path))
    if len(targets) != 1:
        raise ManifestError(f"expected one SealedSecret, found {len(targets)}", where=str(path))
    target = targets[0]
    sealed = SealedSecret.from_manifest(target)
    if scope is not None and scope is not sealed.scope:
        raise ScopeError(
            f"--scope {scope.value} contradicts the file's scope {sealed.scope.value}",
            where=str(path),
        )
    items: dict[str, str] = {}
    for secret in secrets:
        meta = {
            **(secret.get("metadata") or {}),
            "name": sealed.name,
            "namespace": sealed.namespace,
        }
        meta["annotations"] = sealed.scope.annotate(meta.get("annotations"))
        new = seal_secret(
            {**secret, "metadata": meta},
            cert,
            scope=sealed.scope,
            allow_empty=kw["allow_empty_data"],
        )
        items.update(new["spec"]["encryptedData"])
    spec = target.setdefault("spec", {})
    existing = spec.get("encryptedData") or {}
    if set(items) >= set(existing):  # every item now sealed to this key: the hint holds
        meta = target.setdefault("metadata", {})
        meta["annotations"] = {
            **(meta.get("annotations") or {}),
            KEY_FINGERPRINT_ANNOTATION: cert.fingerprint,
        }
    spec["encryptedData"] = {**existing, **items}
    fmt = "json" if text.lstrip().startswith(b"{") else "yaml"
    documents.write_atomic(path, documents.dump([target], fmt))
