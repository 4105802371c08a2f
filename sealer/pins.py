"""Trust pinning: the certificate fingerprints a repository accepts, per cluster, in the
committed file ``.sealer.yaml`` (found by walking up from the working directory)::

    defaultCluster: prod          # optional: the cluster used when --cluster is not given
    clusters:
      prod:
        pins:                     # sealer cert --pin [--cluster prod] adds the current one
          - SHA256:...
        cert: certs/prod.pem      # optional: where sealer seal gets the certificate

When the selected cluster has pins, ``sealer seal`` (and ``reseal``) refuse a certificate whose
fingerprint is not among them, wherever it came from (the controller, a file, a URL): a spoofed
controller or a swapped certificate file cannot make anyone seal to another key. Other top-level
keys of the file belong to other features (:mod:`sealer.repoconfig` reads the whole file) and
are kept as they are when a pin is added.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sealer import documents, repoconfig
from sealer.errors import CertificateError, InputError
from sealer.keys import SealingCertificate

CONFIG_NAME = repoconfig.CONFIG_NAME
DEFAULT_CLUSTER = "default"
_HEADER = (
    "# sealer repository settings (commit this file). clusters.NAME.pins: the certificate\n"
    "# fingerprints sealer seal accepts for that cluster; add one with sealer cert --pin.\n"
)


@dataclass(frozen=True)
class ClusterPins:
    """The pins (and certificate source) of one cluster of a ``.sealer.yaml``."""

    config: Path
    cluster: str
    pins: tuple[str, ...]
    cert: str | None  # as --cert takes it: a URL, or an absolute path

    def check(self, cert: SealingCertificate) -> None:
        """Refuse ``cert`` unless it is pinned (a cluster without pins pins nothing)."""
        if self.pins and cert.fingerprint not in self.pins:
            raise CertificateError(
                f"certificate {cert.fingerprint} is not pinned for cluster {self.cluster!r} in "
                f"{self.config} (pinned: {', '.join(self.pins)}). If the cluster's key was "
                f"rotated, check the new fingerprint with the cluster's administrators, then run "
                f"`sealer cert --pin --cluster {self.cluster}` and commit {CONFIG_NAME}"
            )

    def cert_source(self) -> str | None:
        return self.cert


def find_config(start: Path | None = None) -> Path | None:
    """``.sealer.yaml`` in ``start`` (default: the working directory) or the nearest parent."""
    return repoconfig.find(start)


def selected(config: Path | None, cluster: str | None) -> ClusterPins | None:
    """The pins of ``cluster``, else of ``defaultCluster``, else of the only cluster with pins
    or a cert; None when there is nothing to enforce."""
    if config is None:
        if cluster:
            raise InputError(f"--cluster {cluster}: no {CONFIG_NAME} found here or above")
        return None
    loaded = repoconfig.load(config)
    name = cluster or loaded.default_cluster
    if name is None:
        pinned = [c for c in loaded.clusters.values() if c.pins or c.cert]
        if not pinned:
            return None
        if len(pinned) > 1:
            raise InputError(
                f"pins several clusters ({', '.join(sorted(c.name for c in pinned))}): choose "
                "one with --cluster, or set defaultCluster",
                where=str(config),
            )
        name = pinned[0].name
    chosen = loaded.cluster(name)
    return ClusterPins(config, chosen.name, chosen.pins, chosen.cert_source())


def repo_root(start: Path | None = None) -> Path:
    """Where a new ``.sealer.yaml`` goes: the Git work tree's top, else ``start``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return here


def add_pin(config: Path, cluster: str | None, fingerprint: str) -> ClusterPins:
    """Pin ``fingerprint`` for ``cluster`` (default: the selected one, else ``default``),
    keeping the file's comments and every other setting."""
    from ruamel.yaml import YAML  # only this command pays for it
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096
    exists = config.is_file()
    # refuse a malformed file before touching it
    name = cluster or (_default_name(repoconfig.load(config)) if exists else DEFAULT_CLUSTER)
    data = rt.load(config.read_text()) if exists else None
    if data is None:
        data = CommentedMap()
        data.yaml_set_start_comment(_HEADER.replace("# ", "").rstrip("\n"))
    if data.get("clusters") is None:
        data["clusters"] = CommentedMap()
    if data["clusters"].get(name) is None:
        data["clusters"][name] = CommentedMap()
    settings = data["clusters"][name]
    if settings.get("pins") is None:
        settings["pins"] = CommentedSeq()
    if fingerprint not in settings["pins"]:
        _append(settings["pins"], fingerprint)
    out = io.StringIO()
    rt.dump(data, out)
    documents.write_atomic(config, out.getvalue())
    result = selected(config, name)
    assert result is not None  # noqa: S101 - just written
    return result


def _append(seq: Any, value: str) -> None:
    """Append to a ruamel sequence; the comment lines that followed its last item (ruamel
    keeps them on that item) stay after the list instead of landing before the new item."""
    last = len(seq) - 1
    seq.append(value)
    comment = seq.ca.items.get(last, [None])[0] if last >= 0 else None
    if comment is None or "\n" not in comment.value.rstrip("\n"):
        return
    own, rest = comment.value.split("\n", 1)
    comment.value = own + "\n"
    seq.ca.items[last + 1] = [
        type(comment)("\n" + rest, comment.start_mark, None),
        None,
        None,
        None,
    ]


def _default_name(config: repoconfig.RepoConfig) -> str:
    if config.default_cluster:
        return config.default_cluster
    if len(config.clusters) == 1:
        return next(iter(config.clusters))
    if not config.clusters:
        return DEFAULT_CLUSTER
    raise InputError(
        f"has several clusters ({', '.join(sorted(config.clusters))}): choose one with --cluster",
        where=str(config.path),
    )
