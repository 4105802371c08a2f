"""The controller's keys in the stand-in: loading, generating as upstream does, renewal, cutoff,
and hot reload of key Secrets added, relabelled or removed while it runs."""

from __future__ import annotations

import base64
import datetime as dt

from cryptography import x509

from sealer import keys
from sealer.keys import KEY_LABEL, KeyPair
from tests.integration.controller_fixtures import (
    KEY_NS,
    ControllerFactory,
    data_of,
    key_secret,
    sealed_secret,
    wait_for,
)
from tests.support.kubeapi import KubeAPI

ACTIVE = f"{KEY_LABEL}=active"


def aged(pair: KeyPair, days: int) -> KeyPair:
    """The same key with a certificate issued ``days`` ago."""
    then = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    cert = keys.certificate_from_x509(keys.self_sign(pair.private_key, now=then))
    return KeyPair(pair.private_key, cert, created=cert.not_before)


def test_generates_an_upstream_style_key_when_there_is_none(controller: ControllerFactory) -> None:
    ctl = controller([], key_size=4096)
    (stored,) = ctl.api.list("secrets", KEY_NS, label_selector=ACTIVE)
    meta = stored["metadata"]
    assert meta["name"].startswith("sealed-secrets-key") and meta["name"] != "sealed-secrets-key"
    assert stored["type"] == "kubernetes.io/tls"
    key_pem = base64.b64decode(stored["data"]["tls.key"])
    assert key_pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")  # PKCS#1, as upstream
    cert = x509.load_pem_x509_certificate(base64.b64decode(stored["data"]["tls.crt"]))
    assert cert.subject == x509.Name([]) and cert.issuer == x509.Name([])
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 3650
    pair = keys.key_pair_from_secret(stored)
    assert pair.private_key.key_size == 4096
    assert ctl.runtime.ring.fingerprints == (pair.fingerprint,)
    ctl.api.create(sealed_secret(pair, "default", "fresh", {"k": b"v"}))
    assert data_of(ctl.wait_secret("default", "fresh")) == {"k": b"v"}


def test_existing_keys_are_used_and_none_is_made(controller: ControllerFactory,
                                                key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller(list(key_pairs), key_renew_period=dt.timedelta(hours=720))
    assert set(ctl.runtime.ring.fingerprints) == {p.fingerprint for p in key_pairs}
    assert ctl.runtime.key_manager.generated == 0
    assert len(ctl.api.list("secrets", KEY_NS, label_selector=ACTIVE)) == 2


def test_legacy_key_named_after_the_prefix(controller: ControllerFactory, kube_api: KubeAPI,
                                           key_pairs: tuple[KeyPair, ...]) -> None:
    """Upstream also loads the unlabelled Secret named exactly ``--key-prefix``."""
    legacy = key_secret(key_pairs[1], "sealed-secrets-key")
    del legacy["metadata"]["labels"]
    kube_api.create(legacy)
    ctl = controller([])
    assert ctl.runtime.ring.fingerprints == (key_pairs[1].fingerprint,)
    assert ctl.runtime.key_manager.generated == 0


def test_old_key_is_renewed_at_start_and_kept_for_decryption(
        controller: ControllerFactory, key_pairs: tuple[KeyPair, ...]) -> None:
    old = aged(key_pairs[0], 40)
    ctl = controller([old], key_renew_period=dt.timedelta(hours=720))
    assert ctl.runtime.key_manager.generated == 1
    newest = ctl.runtime.ring.newest
    assert newest is not None and newest.fingerprint != old.fingerprint
    assert len(ctl.runtime.ring) == 2
    ctl.api.create(sealed_secret(old, "default", "legacy", {"k": b"old"}))
    assert data_of(ctl.wait_secret("default", "legacy")) == {"k": b"old"}


def test_cutoff_time_forces_one_new_key(controller: ControllerFactory,
                                       key_pairs: tuple[KeyPair, ...]) -> None:
    old = aged(key_pairs[0], 2)
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    ctl = controller([old], key_renew_period=dt.timedelta(0), key_cutoff_time=cutoff)
    assert ctl.runtime.key_manager.generated == 1
    ctl.idle()
    assert ctl.runtime.key_manager.generated == 1  # a new key is newer than the cutoff: no loop


def test_scheduled_renewal(controller: ControllerFactory,
                           key_pairs: tuple[KeyPair, ...]) -> None:
    ctl = controller([key_pairs[0]], key_renew_period=dt.timedelta(seconds=1))
    wait_for(lambda: ctl.runtime.key_manager.generated >= 2, what="two scheduled renewals")
    stored = ctl.api.list("secrets", KEY_NS, label_selector=ACTIVE)
    assert len(stored) >= 3
    assert key_pairs[0].fingerprint in ctl.runtime.ring.fingerprints  # old keys stay


def test_hot_reload_add_relabel_remove(controller: ControllerFactory,
                                       key_pairs: tuple[KeyPair, ...]) -> None:
    first, second = key_pairs
    ctl = controller([first])
    ring = lambda: set(ctl.runtime.ring.fingerprints)  # noqa: E731

    ctl.api.create(key_secret(second, "added-later"))
    wait_for(lambda: second.fingerprint in ring(), what="added key")
    ctl.api.create(sealed_secret(second, "default", "hot", {"k": b"v"}))
    assert data_of(ctl.wait_secret("default", "hot")) == {"k": b"v"}

    ctl.api.patch("secrets", "added-later", {"metadata": {"labels": {KEY_LABEL: "compromised"}}},
                  KEY_NS)
    wait_for(lambda: second.fingerprint not in ring(), what="relabelled key dropped")
    ctl.api.patch("secrets", "added-later", {"metadata": {"labels": {KEY_LABEL: "active"}}},
                  KEY_NS)
    wait_for(lambda: second.fingerprint in ring(), what="relabelled key back")
    ctl.api.delete("secrets", "added-later", KEY_NS)
    wait_for(lambda: ring() == {first.fingerprint}, what="deleted key dropped")
    assert ctl.runtime.key_manager.generated == 0
