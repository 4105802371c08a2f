"""The controller's configuration: upstream's flags (so a Helm chart's ``args`` work unchanged),
each also read from ``SEALER_<FLAG>`` or, for drop-in compatibility, ``SEALED_SECRETS_<FLAG>``.

Flags win over the environment; the environment wins over defaults.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from controller.selector import LabelSelector

ENV_PREFIXES = ("SEALER_", "SEALED_SECRETS_")
DEFAULT_KEY_NAMESPACE = "kube-system"
KEY_ORDER_PRIORITIES = ("CertNotBefore", "SecretCreationTimestamp")
_KUBE_CHARS = re.compile(r"^[a-z0-9-]*$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_MAX_PREFIX = 245  # upstream: 253 less room for the generateName suffix
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_TRUE = ("1", "t", "true", "yes", "on")
_FALSE = ("0", "f", "false", "no", "off")


class ConfigError(ValueError):
    """A flag or environment variable with a value we cannot use."""


def parse_duration(text: str) -> dt.timedelta:
    """A Go ``time.Duration`` string (``720h``, ``1h30m``, ``0``, ``90s``)."""
    text = text.strip()
    if text in ("0", "+0", "-0"):
        return dt.timedelta(0)
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    pos, seconds = 0, 0.0
    for match in _GO_DURATION.finditer(body):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _GO_UNITS[match.group(2)]
        pos = match.end()
    if not body or pos != len(body):
        raise ConfigError(f"invalid duration {text!r} (examples: 720h, 30m, 90s, 0)")
    return dt.timedelta(seconds=sign * seconds)


def _rfc1123z(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%a, %d %b %Y %H:%M:%S %z")


def _iso8601(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_cutoff(text: str) -> dt.datetime | None:
    """RFC 1123 with a numeric zone, as upstream (``Mon, 02 Jan 2006 15:04:05 -0700``); we also
    accept ISO 8601."""
    text = text.strip()
    if not text:
        return None
    for attempt in (_rfc1123z, _iso8601):
        try:
            value = attempt(text)
        except ValueError:
            continue
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    raise ConfigError(f"invalid --key-cutoff-time {text!r}: use RFC 1123Z or ISO 8601")


def parse_bool(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


def parse_pairs(text: str, what: str) -> dict[str, str]:
    """Upstream's ``k=v,k2=v2`` lists (``--privatekey-labels``/``--privatekey-annotations``)."""
    result: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{what}: expected key=value, got {item!r}")
        result[key] = value
    return result


def check_key_prefix(prefix: str) -> str:
    if len(prefix) > _MAX_PREFIX:
        raise ConfigError(f"--key-prefix is too long: at most {_MAX_PREFIX} characters")
    if not _KUBE_CHARS.match(prefix):
        raise ConfigError("--key-prefix may only hold lowercase letters, digits and '-'")
    return prefix


def check_peering_name(name: str) -> str:
    """The ``ClusterKopfPeering`` object's name: a DNS subdomain, as every object name."""
    if name and (len(name) > 253 or not _DNS_SUBDOMAIN.match(name)):
        raise ConfigError(f"--peering {name!r} is not a valid object name (a DNS subdomain)")
    return name


def parse_seconds(text: str, flag: str) -> int:
    """Whole seconds, at least 1: ``30`` or a Go duration (``30s``, ``2m``)."""
    text = text.strip()
    seconds = float(text) if text.isdigit() else parse_duration(text).total_seconds()
    if seconds < 1:
        raise ConfigError(f"{flag} must be at least 1 second")
    return round(seconds)


def own_namespace(env: Mapping[str, str]) -> str:
    """``POD_NAMESPACE``, else the service account's namespace, else ``kube-system``."""
    if env.get("POD_NAMESPACE"):
        return env["POD_NAMESPACE"]
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:  # noqa: PTH123
            if ns := f.read().strip():
                return ns
    except OSError:
        pass
    return DEFAULT_KEY_NAMESPACE


@dataclass(frozen=True)
class Config:
    """Everything the controller is told; built by :func:`parse` or directly in tests."""

    namespaces: tuple[str, ...] = ()  # empty: every namespace
    key_namespace: str = DEFAULT_KEY_NAMESPACE
    key_prefix: str = "sealed-secrets-key"
    key_renew_period: dt.timedelta = dt.timedelta(hours=720)
    key_cutoff_time: dt.datetime | None = None
    key_ttl: dt.timedelta = dt.timedelta(days=3650)
    key_size: int = 4096
    my_cn: str = ""
    key_order_priority: str = "CertNotBefore"
    private_key_labels: Mapping[str, str] = field(default_factory=dict)
    private_key_annotations: Mapping[str, str] = field(default_factory=dict)
    label_selector: LabelSelector = field(default_factory=LabelSelector)
    accept_v1_data: bool = True
    update_status: bool = True
    skip_recreate: bool = False
    kubeconfig: str | None = None
    log_format: str = "text"
    log_level: str = "INFO"
    listen_addr: str = ":8080"
    listen_metrics_addr: str = ":8081"
    verify_rate: str = "2/second"
    unseal_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    reconcile_workers: int = 8
    retry_base_delay: float = 0.5
    retry_max_delay: float = 300.0
    # High availability (kopf peering): empty = standalone, this replica always acts.
    peering: str = ""
    peering_priority: int | None = None  # None: the longest-running replica acts
    peering_lifetime: int = 30  # seconds a silent replica is still taken for alive
    key_refresh_interval: float = 10.0  # with peering: key Secrets re-read this often

    @property
    def all_namespaces(self) -> bool:
        return not self.namespaces

    def watches(self, namespace: str) -> bool:
        """Whether SealedSecrets in ``namespace`` are ours to unseal."""
        return self.all_namespaces or namespace in self.namespaces


def _env(env: Mapping[str, str], flag: str) -> str | None:
    suffix = flag.upper().replace("-", "_")
    return next((env[p + suffix] for p in ENV_PREFIXES if p + suffix in env), None)


def _parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sealer-controller",
        description="Unseals SealedSecrets into Secrets. Every flag can also be set as "
        "SEALER_<FLAG> (e.g. SEALER_KEY_PREFIX); SEALED_SECRETS_<FLAG> is read too.",
    )

    def opt(flag: str, default: object, help: str, **kw: object) -> None:  # noqa: A002
        value = _env(env, flag)
        p.add_argument(f"--{flag}", default=default if value is None else value, help=help, **kw)  # type: ignore[arg-type]

    def switch(flag: str, default: bool, help: str) -> None:  # noqa: A002
        value = _env(env, flag)
        p.add_argument(
            f"--{flag}",
            nargs="?",
            const=True,
            type=parse_bool,
            metavar="BOOL",
            default=default if value is None else parse_bool(value),
            help=help,
        )

    switch("all-namespaces", True, "unseal in every namespace (default), or only in --namespace")
    p.add_argument(
        "--namespace",
        action="append",
        default=None,
        help="a namespace to unseal in (repeatable); implies not --all-namespaces",
    )
    opt("additional-namespaces", "", "upstream: comma-separated namespaces besides our own")
    opt("key-namespace", None, "where the key Secrets live (default: POD_NAMESPACE or kube-system)")
    opt("key-prefix", "sealed-secrets-key", "generateName of new key Secrets; legacy key name")
    opt("key-renew-period", "720h", "make a new key this often (Go duration; 0 disables)")
    opt("rotate-period", None, argparse.SUPPRESS)  # upstream's deprecated alias
    opt("key-cutoff-time", "", "make a new key at start if the newest is older (RFC 1123Z)")
    opt("key-ttl", "87600h", "validity of new certificates (Go duration)")
    opt("key-size", "4096", "RSA key size of new keys")
    opt("my-cn", "", "common name in new certificates")
    opt(
        "key-order-priority",
        "CertNotBefore",
        "newest key by CertNotBefore or SecretCreationTimestamp",
    )
    opt("privatekey-labels", "", "k=v,... extra labels on new key Secrets")
    opt("privatekey-annotations", "", "k=v,... extra annotations on new key Secrets")
    opt("label-selector", "", "only unseal SealedSecrets matching this label selector")
    switch("accept-deprecated-v1-data", True, "accept the deprecated spec.data field")
    switch("update-status", True, "write the status subresource")
    switch("skip-recreate", False, "do not watch Secrets to restore deleted or edited ones")
    opt("kubeconfig", env.get("KUBECONFIG"), "kubeconfig file (default: in-cluster or KUBECONFIG)")
    opt("log-format", "text", "text or json", choices=("text", "json"))
    opt("log-level", "INFO", "DEBUG, INFO, WARNING or ERROR")
    opt("listen-addr", ":8080", "HTTP API address ('' disables)")
    opt("listen-metrics-addr", ":8081", "metrics address ('' disables)")
    opt("rate-limit", "2", "sustained /v1/verify and /v1/rotate requests per second per client")
    opt("rate-limit-burst", "2", "/v1/verify and /v1/rotate burst per client")
    opt("unseal-workers", str(os.cpu_count() or 1), "decryption threads")
    opt("reconcile-workers", "8", "SealedSecrets handled concurrently")
    opt("retry-base-delay", "0.5", "first retry delay, seconds (doubles up to --retry-max-delay)")
    opt("retry-max-delay", "300", "longest retry delay, seconds; retries never stop")
    opt(
        "peering",
        "",
        "high availability: the name of a ClusterKopfPeering shared by the replicas; exactly one "
        "acts, every one serves the HTTP API (empty: standalone, this replica always acts)",
    )
    opt(
        "peering-priority",
        "",
        "with --peering: the replica with the highest priority acts (default: the one running "
        "longest)",
    )
    opt(
        "peering-lifetime",
        "30s",
        "with --peering: how long a replica that stopped reporting is still taken for alive "
        "(the longest takeover after a crash)",
    )
    for compat in ("max-unseal-retries", "kubeclient-qps", "kubeclient-burst"):
        opt(compat, None, argparse.SUPPRESS)
    for compat in ("watch-for-secrets", "log-info-stdout", "old-gc-behavior"):
        switch(compat, False, argparse.SUPPRESS)
    p.add_argument("--version", action="store_true", help="print the version and exit")
    return p


def parse(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Build a :class:`Config` from flags and environment; raise :class:`ConfigError`."""
    env = dict(os.environ if env is None else env)
    args = _parser(env).parse_args(argv)
    namespaces: list[str] = list(args.namespace or [])
    if not namespaces and (value := _env(env, "namespace")):
        namespaces = [n for n in re.split(r"[,\s]+", value) if n]
    extra = [n for n in (s.strip() for s in args.additional_namespaces.split(",")) if n]
    key_ns = args.key_namespace or own_namespace(env)
    if not namespaces and (not args.all_namespaces or extra):
        namespaces = [own_namespace(env)]  # upstream: own namespace plus the additional ones
    namespaces += [n for n in extra if n not in namespaces]
    if args.key_order_priority not in KEY_ORDER_PRIORITIES:
        raise ConfigError(f"--key-order-priority must be one of {', '.join(KEY_ORDER_PRIORITIES)}")
    rate = max(int(args.rate_limit), int(args.rate_limit_burst), 1)
    try:
        return Config(
            namespaces=tuple(dict.fromkeys(namespaces)),
            key_namespace=key_ns,
            key_prefix=check_key_prefix(args.key_prefix),
            key_renew_period=parse_duration(args.rotate_period or args.key_renew_period),
            key_cutoff_time=parse_cutoff(args.key_cutoff_time),
            key_ttl=parse_duration(args.key_ttl),
            key_size=int(args.key_size),
            my_cn=args.my_cn,
            key_order_priority=args.key_order_priority,
            private_key_labels=parse_pairs(args.privatekey_labels, "--privatekey-labels"),
            private_key_annotations=parse_pairs(
                args.privatekey_annotations, "--privatekey-annotations"
            ),
            label_selector=LabelSelector.parse(args.label_selector),
            accept_v1_data=args.accept_deprecated_v1_data,
            update_status=args.update_status,
            skip_recreate=args.skip_recreate,
            kubeconfig=args.kubeconfig or None,
            log_format=args.log_format,
            log_level=args.log_level.upper(),
            listen_addr=args.listen_addr,
            listen_metrics_addr=args.listen_metrics_addr,
            verify_rate=f"{rate}/second",
            unseal_workers=max(1, int(args.unseal_workers)),
            reconcile_workers=max(1, int(args.reconcile_workers)),
            retry_base_delay=float(args.retry_base_delay),
            retry_max_delay=float(args.retry_max_delay),
            peering=check_peering_name(args.peering.strip()),
            peering_priority=int(args.peering_priority) if args.peering_priority else None,
            peering_lifetime=parse_seconds(args.peering_lifetime, "--peering-lifetime"),
        )
    except ValueError as exc:  # int()/float() of a bad flag value
        raise ConfigError(str(exc)) from None
