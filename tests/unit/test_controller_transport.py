"""controller.transport: TLS, proxy and credential settings taken from a kubernetes Configuration
as the ``kubernetes`` client applies them."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import kubernetes
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from controller.transport import Transport, auth_headers, ssl_context
from sealer.errors import ClusterError


def _self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    crt, pem = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


def config(**settings: object) -> kubernetes.client.Configuration:
    cfg = kubernetes.client.Configuration()
    cfg.host = "https://api.example:6443"
    for key, value in settings.items():
        setattr(cfg, key, value)
    return cfg


def test_ca_and_client_certificate(tmp_path: Path) -> None:
    ca, _ = _self_signed(tmp_path, "ca")
    crt, key = _self_signed(tmp_path, "client")
    context = ssl_context(config(ssl_ca_cert=str(ca), cert_file=str(crt), key_file=str(key)))
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "ca"),),)]


def test_ca_data_in_memory(tmp_path: Path) -> None:
    ca, _ = _self_signed(tmp_path, "inline")
    context = ssl_context(config(ca_cert_data=ca.read_bytes()))
    assert len(context.get_ca_certs()) == 1


def test_verify_ssl_off_and_assert_hostname_off() -> None:
    insecure = ssl_context(config(verify_ssl=False))
    assert insecure.verify_mode == ssl.CERT_NONE and not insecure.check_hostname
    no_hostname = ssl_context(config(assert_hostname=False))
    assert no_hostname.verify_mode == ssl.CERT_REQUIRED and not no_hostname.check_hostname


def test_auth_headers() -> None:
    bearer = config()
    bearer.api_key["BearerToken"] = "t0k"
    bearer.api_key_prefix["BearerToken"] = "Bearer"
    assert auth_headers(bearer) == {"Authorization": "Bearer t0k"}
    basic = config(username="u", password="p")
    assert auth_headers(basic) == {"Authorization": "Basic dTpw"}
    assert auth_headers(config()) == {}


def test_proxy_settings() -> None:
    proxied = Transport(config(proxy="http://proxy:3128", proxy_headers={"X": "1"}))
    assert proxied._proxy == {"proxy": "http://proxy:3128", "proxy_headers": {"X": "1"}}
    bypassed = Transport(config(proxy="http://proxy:3128", no_proxy="api.example"))
    assert bypassed._proxy == {}
    with pytest.raises(ClusterError, match="only HTTP"):
        Transport(config(proxy="socks5://proxy:1080"))
    sni = Transport(config(tls_server_name="kubernetes.default"))
    assert sni._proxy == {"server_hostname": "kubernetes.default"}
