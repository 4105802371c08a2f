"""Options shared by several commands, and the lazily built cluster context they feed."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from sealer import documents, pins, repoconfig
from sealer.errors import ManifestError
from sealer.kube import (
    DEFAULT_CONTROLLER_NAME,
    DEFAULT_CONTROLLER_NAMESPACE,
    Controller,
    KubeClient,
)
from sealer.pins import ClusterPins
from sealer.repoconfig import ClusterConfig

F = TypeVar("F", bound=Callable[..., Any])
SCOPES = ("strict", "namespace-wide", "cluster-wide")


@dataclass
class Cluster:
    """Where the cluster and the controller are; the client is made only when first needed."""

    kubeconfig: str | None = None
    context: str | None = None
    controller: Controller = field(default_factory=Controller)
    _client: KubeClient | None = None

    def client(self) -> KubeClient:
        if self._client is None:
            self._client = KubeClient.from_kubeconfig(self.kubeconfig, self.context)
        return self._client

    def within(self, named: ClusterConfig | None) -> Cluster:
        """Where a cluster of ``.sealer.yaml`` is: its ``kubeconfig``, ``context``,
        ``controllerName`` and ``controllerNamespace`` where set, else these."""
        if named is None:
            return self
        return Cluster(
            named.kubeconfig_path() or self.kubeconfig,
            named.context or self.context,
            Controller(
                named.controller_name or self.controller.name,
                named.controller_namespace or self.controller.namespace,
            ),
        )


def cluster_options(fn: F) -> F:
    """kubectl's ``--kubeconfig``/``--context`` and kubeseal's controller location."""
    decorators = [
        click.option(
            "--kubeconfig",
            envvar="SEALER_KUBECONFIG",
            help="kubeconfig file (default: the files of $KUBECONFIG, ~/.kube/config, in-cluster)",
        ),
        click.option("--context", envvar="SEALER_CONTEXT", help="kubeconfig context to use"),
        click.option(
            "--controller-name",
            envvar="SEALER_CONTROLLER_NAME",
            default=DEFAULT_CONTROLLER_NAME,
            show_default=True,
            help="name of the controller's Service",
        ),
        click.option(
            "--controller-namespace",
            envvar="SEALER_CONTROLLER_NAMESPACE",
            default=DEFAULT_CONTROLLER_NAMESPACE,
            show_default=True,
            help="namespace of the controller's Service",
        ),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def make_cluster(kw: dict[str, Any], start: Path | None = None) -> Cluster:
    """Pop the cluster options out of a command's keyword arguments. A ``--cluster NAME`` (left
    in place for the pins) that ``.sealer.yaml`` (from ``start`` up) describes is reached as it
    says (:meth:`Cluster.within`): naming the cluster is enough."""
    given = Cluster(
        kubeconfig=kw.pop("kubeconfig"),
        context=kw.pop("context"),
        controller=Controller(kw.pop("controller_name"), kw.pop("controller_namespace")),
    )
    name = kw.get("pin_cluster")
    if not isinstance(name, str):  # none, or several: each placed on its own
        return given
    # not described (yet: ``--pin`` may be adding it): the command line says where it is
    return given.within(repoconfig.discover(start).clusters.get(name))


cluster_pins_option = click.option(
    "--cluster",
    "pin_cluster",
    envvar="SEALER_CLUSTER",
    metavar="NAME",
    help="which cluster of .sealer.yaml pins the certificate (default: its defaultCluster, "
    "else its only pinned cluster)",
)


def cluster_pins(kw: dict[str, Any], start: Path | None = None) -> ClusterPins | None:
    """Pop ``--cluster``; the pins of ``.sealer.yaml`` found from ``start`` (or the working
    directory) up, for that cluster; None when no pin applies."""
    return pins.selected(pins.find_config(start), kw.pop("pin_cluster"))


cert_option = click.option(
    "--cert",
    envvar="SEALER_CERT",
    metavar="PATH|URL",
    help="certificate to seal with: a PEM file, an http(s):// or file:// URL "
    "(default: fetched from the controller)",
)
output_format_option = click.option(
    "-o",
    "--format",
    "fmt",
    envvar="SEALER_FORMAT",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="output format (without -o, -w x.json writes JSON)",
)
input_option = click.option(
    "-f",
    "--file",
    "input_file",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="input file ('-' for standard input)",
)
write_option = click.option(
    "-w",
    "--write",
    "output",
    type=click.Path(dir_okay=False, writable=True),
    help="write the result to this file, atomically and only on success",
)
scope_option = click.option(
    "--scope",
    type=click.Choice(SCOPES),
    default=None,
    help="sealing scope (default: from the input's annotations, else strict)",
)


def sealed_file_option(help: str) -> Callable[[F], F]:
    return click.option(
        "-f",
        "--file",
        "input_file",
        default="-",
        help=help,
        type=click.Path(dir_okay=False, allow_dash=True),
    )


def read_objects(path: str, kind: str) -> tuple[bytes, list[dict[str, Any]]]:
    """The raw bytes and the objects of ``path``; refuses a file with no object at all."""
    data, source = read_input(path)
    objects = documents.load(data, source)
    if not objects:
        raise ManifestError(f"holds no {kind}", where=source)
    return data, objects


def read_input(path: str) -> tuple[bytes, str]:
    """The bytes of ``path`` ('-' is standard input) and a name for error messages."""
    if path == "-":
        if sys.stdin.isatty():
            click.echo("(tty detected: expecting a json/yaml manifest on stdin)", err=True)
        return sys.stdin.buffer.read(), "standard input"
    try:
        return Path(path).read_bytes(), path
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None


def output_format(kw: dict[str, Any]) -> str:
    """``-o`` as given; if it was not, ``-w x.json`` means JSON (kubeseal: ``.yaml`` means YAML,
    which is our default anyway)."""
    source = click.get_current_context().get_parameter_source("fmt")
    output = kw.get("output") or ""
    if source is click.core.ParameterSource.DEFAULT and output.lower().endswith(".json"):
        return "json"
    return str(kw["fmt"])


def emit(text: str | bytes, output: str | None) -> None:
    """Write to ``output`` atomically, or to standard output."""
    if output:
        documents.write_atomic(Path(output), text)
        return
    if isinstance(text, bytes):
        sys.stdout.buffer.write(text)
        sys.stdout.buffer.flush()
    else:
        click.echo(text, nl=False)
