"""Commands that talk to the controller: ``cert``, ``validate`` and ``reencrypt``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from sealer import certsource, crypto, documents, pins
from sealer.cli.options import (
    Cluster,
    cert_option,
    cluster_options,
    cluster_pins,
    cluster_pins_option,
    emit,
    make_cluster,
    read_objects,
    sealed_file_option,
    write_option,
)
from sealer.errors import ClusterError, ManifestError, SealerError
from sealer.keys import SealingCertificate
from sealer.manifests import SCOPE_ANNOTATIONS
from sealer.scope import Scope
from sealer.sealedsecret import SealedSecret
from sealer.secretrules import check_size


@click.command()
@cert_option
@write_option
@click.option(
    "--pin",
    is_flag=True,
    help="also record its fingerprint in .sealer.yaml (found here or above, else made at the "
    "top of the Git work tree), for the cluster --cluster names",
)
@cluster_pins_option
@cluster_options
def cert(**kw: Any) -> None:
    """Print the controller's sealing certificate (PEM)."""
    cluster = make_cluster(kw)
    sealing = certsource.certificate(kw["cert"], cluster.client, cluster.controller)
    emit(sealing.pem, kw["output"])
    click.echo(f"{sealing.fingerprint}  valid until {sealing.not_after:%Y-%m-%d}", err=True)
    config = pins.find_config()
    if kw["pin"]:
        pinned = pins.add_pin(
            config or pins.repo_root() / pins.CONFIG_NAME, kw["pin_cluster"], sealing.fingerprint
        )
        click.echo(
            f"pinned for cluster {pinned.cluster!r} in {pinned.config}: commit it "
            f"({len(pinned.pins)} pinned)",
            err=True,
        )
        return
    trusted = cluster_pins(kw)
    if trusted is not None and trusted.pins and sealing.fingerprint not in trusted.pins:
        click.echo(
            f"warning: not pinned for cluster {trusted.cluster!r} in {trusted.config}: "
            "sealer seal will refuse it",
            err=True,
        )


def check_offline(obj: dict[str, Any], cert: SealingCertificate | None) -> SealedSecret:
    """Well-formed, coherent scope, and each item framed for the certificate's key size."""
    sealed = SealedSecret.from_manifest(obj)
    _check_scope_annotations(obj, sealed)
    _check_target(sealed)
    if sealed.scope is not Scope.CLUSTER_WIDE and not sealed.namespace:
        raise ManifestError(
            "is required for strict and namespace-wide scopes",
            where=f"{sealed.where}: metadata.namespace",
        )
    if sealed.scope is Scope.STRICT and not sealed.name:
        raise ManifestError(
            "is required for the strict scope", where=f"{sealed.where}: metadata.name"
        )
    size = (cert.public_key.key_size + 7) // 8 if cert else None
    for item, blob in sealed.ciphertexts().items():
        where = f"{sealed.where}: spec.encryptedData.{item}"
        try:
            wrapped, rest = crypto.split(blob)
        except SealerError:
            raise ManifestError(
                "is truncated (length prefix beyond the data)", where=where
            ) from None
        if size is not None and len(wrapped) != size:
            raise ManifestError(
                f"RSA block is {len(wrapped)} bytes, the certificate's key needs {size}",
                where=where,
            )
        if len(rest) < 16:
            raise ManifestError("too short to hold an AES-GCM tag", where=where)
    return sealed


def _check_target(sealed: SealedSecret) -> None:
    """A Secret the API server would refuse as too large is refused here already. (A template
    naming another Secret is not an error: the controller, as upstream, writes the Secret under
    the SealedSecret's own name and namespace, and a copy renamed on purpose is common.)"""
    sizes = [crypto.plaintext_size(blob) for blob in sealed.ciphertexts().values()]
    check_size(sum(sizes), f"{sealed.where}: spec.encryptedData")


def _check_scope_annotations(obj: dict[str, Any], sealed: SealedSecret) -> None:
    """The controller reads the scope from the object's annotations; the template's copy (which
    kubeseal writes too) must not say otherwise, and neither may say anything but true/false."""
    template_meta = sealed.template.get("metadata") or {}
    places = {
        "metadata.annotations": (obj.get("metadata") or {}).get("annotations") or {},
        "spec.template.metadata.annotations": template_meta.get("annotations") or {},
    }
    for place, found in places.items():
        for key in SCOPE_ANNOTATIONS:
            if key in found and found[key] not in ("true", "false"):
                raise ManifestError(
                    f'{key} must be "true" or "false" (any other value means no)',
                    where=f"{sealed.where}: {place}",
                )
        if all(found.get(k) == "true" for k in SCOPE_ANNOTATIONS):
            raise ManifestError(
                "both namespace-wide and cluster-wide annotations are set",
                where=f"{sealed.where}: {place}",
            )
    template = places["spec.template.metadata.annotations"]
    if any(k in template for k in SCOPE_ANNOTATIONS):
        said = Scope.from_annotations(template)
        if said is not sealed.scope:
            raise ManifestError(
                f"say {said.value} but metadata.annotations say {sealed.scope.value}, which is "
                "what the controller uses",
                where=f"{sealed.where}: spec.template.metadata.annotations",
            )


@click.command()
@sealed_file_option("sealed file to check")
@cert_option
@click.option(
    "--online/--offline",
    default=False,
    show_default=True,
    help="also ask the controller whether every item decrypts (/v1/verify)",
)
@cluster_options
def validate(**kw: Any) -> None:
    """Check a sealed file: well-formed, coherent scope, right layout; --online decrypts too."""
    cluster = make_cluster(kw)
    data, objects = read_objects(kw["input_file"], "SealedSecret")
    sealing = (
        certsource.certificate(kw["cert"], cluster.client, cluster.controller)
        if kw["cert"]
        else None
    )
    for obj in objects:
        sealed = check_offline(obj, sealing)
        if kw["online"]:
            _verify(cluster, obj, sealed)
        click.echo(
            f"{sealed.where}: ok ({len(sealed.encrypted_data)} items"
            f"{', decrypts' if kw['online'] else ''})"
        )


def _verify(cluster: Cluster, obj: dict[str, Any], sealed: SealedSecret) -> None:
    response = cluster.client().controller(cluster.controller, "POST", "/v1/verify", obj)
    if response.status == 409:
        raise SealerError(
            f"{sealed.where}: the controller cannot decrypt it ({response.text()[:300]})"
        )
    if response.status != 200:
        raise ClusterError(
            f"{sealed.where}: verify answered {response.status}: {response.text()[:300]}"
        )


@click.command()
@sealed_file_option("sealed file (rewritten in place when -w is not given)")
@write_option
@cluster_options
def reencrypt(**kw: Any) -> None:
    """Re-encrypt sealed files to the controller's newest key (values never leave it)."""
    cluster = make_cluster(kw)
    data, objects = read_objects(kw["input_file"], "SealedSecret")
    rotated = []
    for obj in objects:
        sealed = SealedSecret.from_manifest(obj)
        response = cluster.client().controller(cluster.controller, "POST", "/v1/rotate", obj)
        if response.status != 200:
            raise SealerError(
                f"{sealed.where}: re-encryption failed ({response.status}: {response.text()[:300]})"
            )
        try:
            rotated.append(json.loads(response.body))
        except ValueError:
            raise ClusterError(f"{sealed.where}: the controller's answer is not JSON") from None
    fmt = "json" if data.lstrip().startswith(b"{") else "yaml"
    text = documents.dump(rotated, fmt)
    output = kw["output"] or (None if kw["input_file"] == "-" else kw["input_file"])
    if output:
        documents.write_atomic(Path(output), text)
    else:
        emit(text, None)
