"""``sealer keys``: the key lifecycle (list, rotate, backup, restore, retire)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from sealer import (
    certsource,
    clusterkeys,
    documents,
    keyrotation,
    keysecrets,
    pins,
    repoconfig,
    retirement,
    sealedfiles,
)
from sealer.cli.options import (
    Cluster,
    cluster_options,
    cluster_pins,
    cluster_pins_option,
    emit,
    make_cluster,
    read_input,
)
from sealer.clusterkeys import KeyInfo
from sealer.errors import ClusterError, InputError, SealerError

key_namespace_option = click.option(
    "--key-namespace",
    envvar="SEALER_KEY_NAMESPACE",
    help="namespace of the key Secrets (default: --controller-namespace)",
)


def _key_namespace(kw: dict[str, Any], cluster: Cluster) -> str:
    return str(kw.pop("key_namespace", None) or cluster.controller.namespace)


@click.group()
def keys() -> None:
    """The sealing keys: list, rotate, back up, restore and retire them.

    See docs/key-rotation.md for what each step protects against and the runbooks.
    """


@keys.command("list")
@click.option(
    "-o", "--format", "fmt", type=click.Choice(["table", "json", "yaml"]), default="table",
    show_default=True, help="output format",
)  # fmt: skip
@cluster_options
def list_keys(**kw: Any) -> None:
    """Every key: fingerprint, state, creation, certificate expiry, SealedSecrets it unseals."""
    cluster = make_cluster(kw)
    found = clusterkeys.fetch_keys(cluster.client(), cluster.controller)
    try:
        refs = list(clusterkeys.object_refs(clusterkeys.sealed_secrets(cluster.client())))
        counts: dict[str, int] | None = clusterkeys.usage(refs)
        unknown = sum(1 for r in refs if r.evidence == "unknown")
    except ClusterError as exc:
        click.echo(f"warning: SealedSecret counts unknown: {exc}", err=True)
        counts, unknown = None, 0
    rows = [
        {"fingerprint": k.fingerprint, "state": k.state, "secret": k.secret,
         "created": k.created, "notAfter": k.not_after, "bits": k.bits,
         "sealedSecrets": None if counts is None else counts.get(k.fingerprint, 0)}
        for k in found
    ]  # fmt: skip
    if kw["fmt"] != "table":
        data = {"keys": rows, "sealedSecretsWithUnknownKey": unknown}
        text = json.dumps(data, indent=2) + "\n" if kw["fmt"] == "json" else yaml.safe_dump(data)
        emit(text, None)
        return
    table = [("FINGERPRINT", "STATE", "CREATED", "EXPIRES", "SEALEDSECRETS", "SECRET")]
    table += [
        (k.fingerprint, k.state, k.created[:10], k.not_after[:10],
         "?" if counts is None else str(counts.get(k.fingerprint, 0)), k.secret)
        for k in found
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if unknown:
        click.echo(f"{unknown} SealedSecrets not unsealed yet: their key is not known", err=True)


@keys.command()
@click.option("-w", "--write", "output", type=click.Path(dir_okay=False),
              help="write the new certificate to this file")  # fmt: skip
@click.option("--pin", is_flag=True, help="pin the new certificate in .sealer.yaml too")
@click.option("--timeout", type=float, default=120.0, show_default=True,
              help="seconds to wait for the controller's answer")  # fmt: skip
@key_namespace_option
@cluster_pins_option
@cluster_options
def rotate(**kw: Any) -> None:
    """Make a new sealing key now, in the cluster (the private key never leaves it).

    Asks through the ConfigMap sealed-secrets-key-rotation of the key namespace, so Kubernetes
    RBAC decides who may. Prints the new certificate; old keys keep decrypting.
    """
    cluster = make_cluster(kw)
    namespace = _key_namespace(kw, cluster)
    done = keyrotation.request_rotation(cluster.client(), namespace, timeout=kw["timeout"])
    sealing = certsource.await_certificate(done.fingerprint, cluster.client, cluster.controller)
    emit(sealing.pem, kw["output"])
    click.echo(
        f"new sealing key {done.fingerprint} (Secret {namespace}/{done.secret}), certificate "
        f"valid until {sealing.not_after:%Y-%m-%d}",
        err=True,
    )
    _pin_advice(kw, done.fingerprint)
    click.echo(
        "Old keys keep decrypting. Next: `sealer reseal DIR` re-encrypts a repository to the "
        "new key; then `sealer keys retire OLD-FINGERPRINT --repo DIR`.",
        err=True,
    )


def _pin_advice(kw: dict[str, Any], fingerprint: str) -> None:
    config = pins.find_config()
    if kw["pin"]:
        pinned = pins.add_pin(
            config or pins.repo_root() / pins.CONFIG_NAME, kw["pin_cluster"], fingerprint
        )
        click.echo(f"pinned for cluster {pinned.cluster!r} in {pinned.config}: commit it", err=True)
        return
    try:
        trusted = cluster_pins(kw)
    except InputError as exc:  # the rotation is done: advice only
        click.echo(f"(pins not checked: {exc})", err=True)
        return
    if trusted is not None and trusted.pins:
        click.echo(
            f"{trusted.config} pins the certificates of cluster {trusted.cluster!r}: sealer seal "
            f"refuses the new one until you run `sealer cert --pin --cluster {trusted.cluster}` "
            "and commit the file",
            err=True,
        )


@keys.command()
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="file to write ('-': standard output); made readable by you only")  # fmt: skip
@key_namespace_option
@cluster_options
def backup(**kw: Any) -> None:
    """Export the key Secrets (private keys!) to a file to keep offline."""
    cluster = make_cluster(kw)
    namespace = _key_namespace(kw, cluster)
    text, saved = keysecrets.backup(cluster.client(), namespace)
    if kw["output"] == "-":
        emit(text, None)
    else:
        documents.write_atomic(Path(kw["output"]), text, mode=0o600)
    for key in saved:
        click.echo(f"backed up {key.fingerprint} ({key.name})", err=True)
    click.echo(
        f"{len(saved)} private keys written: anyone with this file can decrypt everything ever "
        "sealed to them. Store it offline and encrypted; never commit it.",
        err=True,
    )


@keys.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@key_namespace_option
@cluster_options
def restore(**kw: Any) -> None:
    """Import key Secrets from a backup; keys already present are left alone."""
    cluster = make_cluster(kw)
    namespace = _key_namespace(kw, cluster)
    data, source = read_input(kw["file"])
    for outcome in keysecrets.restore(cluster.client(), namespace, data, source):
        click.echo(f"{outcome.outcome}: {outcome.fingerprint} ({namespace}/{outcome.name})")


@keys.command()
@click.argument("fingerprint")
@click.option("--repo", "repos", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="also check the sealed files of this tree (repeatable)")  # fmt: skip
@click.option(
    "--delete",
    is_flag=True,
    help="delete the key once nothing depends on it (needs --repo or --no-repo)",
)
@click.option("--no-repo", is_flag=True, help="with --delete: there are no sealed files to check")
@click.option(
    "--compromised",
    is_flag=True,
    help="list every object and file ever sealed to it: their values must change",
)
@key_namespace_option
@click.option("--cluster", "pin_cluster", envvar="SEALER_CLUSTER", metavar="NAME",
              help="a cluster of .sealer.yaml: reached as it says, and (without --repo) its "
              "paths are the sealed files checked")  # fmt: skip
@cluster_options
def retire(**kw: Any) -> None:
    """Stop sealing to a key; with --delete, delete it once nothing depends on it.

    A retired key still decrypts. Deletion is refused while any SealedSecret in the cluster,
    or any sealed file under --repo, may still need it; they are listed.
    """
    # Unlike `cert --pin`, which may be adding it, the cluster named must be described.
    named = kw.pop("pin_cluster")
    described = repoconfig.discover().cluster(named) if named else None
    cluster = make_cluster(kw).within(described)
    if described is not None and not kw["repos"] and not kw["no_repo"]:
        kw["repos"] = tuple(described.tree_paths())
    namespace = _key_namespace(kw, cluster)
    if kw["delete"] and not (kw["repos"] or kw["no_repo"]):
        raise click.UsageError("--delete needs --repo DIR (or --no-repo if no sealed file exists)")
    target = clusterkeys.resolve(clusterkeys.fetch_keys(cluster.client(), cluster.controller),
                                 kw["fingerprint"])  # fmt: skip
    found = _dependents(cluster, target, kw["repos"], kw["compromised"])
    if kw["compromised"]:
        _report_compromise(found)
    if target.state == "sealing":
        raise SealerError(
            f"{target.fingerprint} is the key new secrets are sealed to: run `sealer keys "
            "rotate` first, then retire it"
        )
    if target.state != "retired":
        keysecrets.set_retired(cluster.client(), namespace, target.secret)
    click.echo(f"{target.fingerprint} is retired: it still decrypts, nothing is sealed to it")
    if not kw["delete"]:
        if found.blocking and not kw["compromised"]:
            click.echo("still needed by:")
            click.echo("\n".join(found.lines()))
        return
    if found.blocking:
        click.echo("\n".join(found.lines()), err=True)
        raise SealerError(
            f"refusing to delete {target.fingerprint}: the objects and files above may still "
            "need it (re-seal them: sealer reseal DIR; then apply them)"
        )
    for secret in keysecrets.key_secrets(cluster.client(), namespace):
        if secret.fingerprint == target.fingerprint:
            keysecrets.delete(cluster.client(), namespace, secret.name)
            click.echo(f"deleted Secret {namespace}/{secret.name}")


def _dependents(
    cluster: Cluster, target: KeyInfo, repos: tuple[Path, ...], compromised: bool
) -> retirement.Dependents:
    refs = list(clusterkeys.object_refs(clusterkeys.sealed_secrets(cluster.client())))
    tree = sealedfiles.scan(repos) if repos else None
    found = retirement.dependents(target.fingerprint, refs, tree)
    if compromised:
        for repo in repos:
            found.history.extend(retirement.history(repo, target.fingerprint))
    return found


def _report_compromise(found: retirement.Dependents) -> None:
    click.echo(
        f"Every value below was sealed to the compromised key {found.fingerprint}: treat it as "
        "disclosed. Change the credential itself, seal the new value, apply it; re-encrypting "
        "the old value is not enough."
    )
    click.echo("\n".join(found.lines()) or "  (nothing found)")
    sys.stdout.flush()
