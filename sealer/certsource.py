"""Where the sealing certificate comes from: a file, a URL, or the controller itself."""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from sealer.errors import CertificateError, ClusterError
from sealer.keys import SealingCertificate, load_certificate
from sealer.kube import Controller, KubeClient
from sealer.pins import ClusterPins

MAX_CERT_BYTES = 1024 * 1024


def fetch_pem(
    source: str | None, client: Callable[[], KubeClient], controller: Controller
) -> bytes:
    """The raw PEM: ``source`` is a path, ``file://``, ``http(s)://`` URL, or None for the
    controller's ``/v1/cert.pem`` through the API server's service proxy."""
    if not source:
        response = client().controller(controller, "GET", "/v1/cert.pem")
        if response.status != 200:
            raise ClusterError(
                f"controller {controller.namespace}/{controller.name} did not give its "
                f"certificate ({response.status}: {response.text()[:200]})"
            )
        return response.body
    scheme = urllib.parse.urlsplit(source).scheme.lower()
    if scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(source, timeout=30) as resp:  # noqa: S310 - scheme checked
                return bytes(resp.read(MAX_CERT_BYTES))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise CertificateError(f"cannot fetch certificate from {source}: {exc}") from None
    if scheme == "file":
        source = urllib.request.url2pathname(urllib.parse.urlsplit(source).path)
    elif scheme and len(scheme) > 1:
        raise CertificateError(f"unsupported certificate URL scheme {scheme!r}: {source}")
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise CertificateError(f"cannot read certificate {source}: {exc.strerror}") from None


def certificate(
    source: str | None, client: Callable[[], KubeClient], controller: Controller
) -> SealingCertificate:
    """The checked sealing certificate (RSA, not expired), read once per command."""
    pem = fetch_pem(source, client, controller)
    try:
        return load_certificate(pem)
    except CertificateError as exc:
        where = source or f"controller {controller.namespace}/{controller.name}"
        raise CertificateError(f"{where}: {exc}") from None


def pinned_certificate(
    source: str | None,
    client: Callable[[], KubeClient],
    controller: Controller,
    pins: ClusterPins | None,
) -> SealingCertificate:
    """:func:`certificate`, from the pinned cluster's ``cert`` when no source is given, and
    refused unless the cluster pins it (a cluster with no pins, or no ``.sealer.yaml``: any)."""
    if not source and pins is not None:
        source = pins.cert_source()
    sealing = certificate(source, client, controller)
    if pins is not None:
        pins.check(sealing)
    return sealing


def await_certificate(
    fingerprint: str,
    client: Callable[[], KubeClient],
    controller: Controller,
    timeout: float = 30.0,
    poll: float = 0.5,
) -> SealingCertificate:
    """The controller's certificate once it is the one of ``fingerprint``: after a rotation, a
    replica that is not acting loads the new key within seconds, and the Service may send the
    request to it meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        sealing = certificate(None, client, controller)
        if sealing.fingerprint == fingerprint:
            return sealing
        if time.monotonic() > deadline:
            raise ClusterError(
                f"the controller made key {fingerprint} but still serves {sealing.fingerprint} "
                f"after {timeout:.0f} s"
            )
        time.sleep(poll)
