"""Commands that need no cluster: ``unseal`` (recovery with private keys) and ``keygen``."""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path
from typing import Any

import click

from sealer import crypto, documents, keys
from sealer.cli.options import (
    emit,
    input_option,
    output_format,
    output_format_option,
    read_input,
    read_objects,
    scope_option,
    write_option,
)
from sealer.errors import DecryptionError, ManifestError
from sealer.keys import KeyRing
from sealer.scope import Scope
from sealer.sealedsecret import SealedSecret
from sealer.sealedsecret import unseal as unseal_object

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|y)")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}


def parse_duration(text: str) -> dt.timedelta:
    """Go-style durations (``8760h``, ``90m``) plus ``d`` and ``y`` for convenience."""
    parts = _DURATION.findall(text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise click.BadParameter(f"{text!r} is not a duration like 8760h, 30d or 10y")
    return dt.timedelta(seconds=sum(float(n) * _UNIT[u] for n, u in parts))


@click.command()
@input_option
@write_option
@output_format_option
@click.option(
    "--key",
    "key_files",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="private key: PEM, or key Secret manifests (repeatable; all are tried)",
)
@click.option("--raw", is_flag=True, help="unseal one item (base64 on stdin); print its bytes")
@click.option("-n", "--namespace", default="", help="--raw: the item's namespace")
@click.option("--name", default="", help="--raw: the item's Secret name")
@scope_option
def unseal(**kw: Any) -> None:
    """Recover Secrets from SealedSecrets offline, with the controller's private keys.

    The output holds plaintext: write it nowhere it could be committed.
    """
    pairs = []
    for path in kw["key_files"]:
        pairs.extend(keys.load_key_file(Path(path).read_bytes(), where=path))
    ring = KeyRing(tuple(pairs))
    if kw["raw"]:
        scope = Scope(kw["scope"] or "strict")
        text = (
            sys.stdin.buffer.read() if kw["input_file"] == "-" else read_input(kw["input_file"])[0]
        ).strip()
        try:
            blob = crypto.b64decode(text.decode("ascii"))
        except ValueError:
            raise ManifestError("is not a base64 sealed item", where="input") from None
        try:
            plaintext, _ = ring.unseal(blob, scope.label(kw["namespace"], kw["name"]))
        except DecryptionError:
            raise DecryptionError(
                "no given key could decrypt the item with that scope, name and namespace"
            ) from None
        emit(plaintext, kw["output"])
        return
    _, objects = read_objects(kw["input_file"], "SealedSecret")
    secrets = []
    for obj in objects:
        secret = unseal_object(SealedSecret.from_manifest(obj), ring, accept_v1_data=True).secret
        # kubeseal's shape, less the owner reference (its empty uid would not apply)
        secret["metadata"].pop("ownerReferences", None)
        secret["metadata"]["creationTimestamp"] = None
        secrets.append(secret)
    emit(documents.dump(secrets, output_format(kw)), kw["output"])


@click.command()
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="where to write the private key (PKCS#1 PEM, mode 0600)",
)
@click.option(
    "--cert",
    "cert_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="where to write the self-signed certificate (PEM)",
)
@click.option(
    "--bits",
    type=click.IntRange(2048, 16384),
    default=keys.DEFAULT_KEY_BITS,
    show_default=True,
    help="RSA key size",
)
@click.option(
    "--valid-for",
    default="87600h",
    show_default=True,
    help="certificate validity (Go duration, or 30d / 10y)",
)
@click.option("--common-name", default="", help="certificate CN (upstream leaves it empty)")
@click.option("--force", is_flag=True, help="overwrite existing files")
def keygen(
    key_path: str, cert_path: str, bits: int, valid_for: str, common_name: str, force: bool
) -> None:
    """Make a key pair exactly like the controller's, for bring-your-own-key or offline use."""
    validity = parse_duration(valid_for)
    for path in (key_path, cert_path):
        if Path(path).exists() and not force:
            raise click.ClickException(f"{path} exists (use --force to overwrite)")
    key, cert = keys.generate(bits, validity, common_name)
    sealing = keys.certificate_from_x509(cert)
    documents.write_atomic(Path(key_path), keys.private_key_pem(key), mode=0o600)
    documents.write_atomic(Path(cert_path), sealing.pem, mode=0o644)
    click.echo(f"{sealing.fingerprint}  valid until {sealing.not_after:%Y-%m-%d}")
