"""Just enough of the Kubernetes API for the CLI: credentials as kubectl finds them, the
namespace of the current context, and the controller's HTTP API through the service proxy."""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sealer.errors import ClusterError

if TYPE_CHECKING:  # importing kubernetes takes 0.7 s: only commands that talk to a cluster pay
    import kubernetes

DEFAULT_CONTROLLER_NAME = "sealed-secrets-controller"
DEFAULT_CONTROLLER_NAMESPACE = "kube-system"
_IN_CLUSTER_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
RATE_LIMITED_RETRIES, RATE_LIMITED_WAIT = 5, 1.0  # the controller answers 429 "Retry-After: 1"


def load_configuration(
    kubeconfig: str | None = None, context: str | None = None
) -> kubernetes.client.Configuration:
    """In-cluster credentials when running in a pod and no kubeconfig is named, else the
    kubeconfig (``kubeconfig``, else ``$KUBECONFIG``, else ``~/.kube/config``)."""
    import kubernetes

    cfg = kubernetes.client.Configuration()
    if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            kubernetes.config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
            return cfg
        except kubernetes.config.ConfigException:
            pass
    try:
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=_kubeconfig(kubeconfig), context=context, client_configuration=cfg
        )
    except (kubernetes.config.ConfigException, OSError) as exc:
        raise ClusterError(f"cannot load Kubernetes credentials: {exc}") from None
    return cfg


def _kubeconfig(explicit: str | None) -> str:
    """As kubectl: ``--kubeconfig`` (which must exist), else every file of ``$KUBECONFIG``
    merged (kubernetes.config splits the list; it read the variable only at import), else
    ``~/.kube/config``."""
    if explicit:
        if not os.path.exists(explicit):
            raise ClusterError(f"kubeconfig {explicit} does not exist")
        return explicit
    return os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def current_namespace(kubeconfig: str | None = None, context: str | None = None) -> str:
    """The namespace kubectl would use: the context's, else the pod's, else ``default``."""
    import kubernetes

    path = _kubeconfig(kubeconfig)
    try:
        contexts, active = kubernetes.config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=path
        )
    except (kubernetes.config.ConfigException, OSError):
        if context:
            raise ClusterError(f"context {context!r}: no kubeconfig could be read") from None
        if os.path.exists(_IN_CLUSTER_NAMESPACE):
            with open(_IN_CLUSTER_NAMESPACE) as handle:
                return handle.read().strip() or "default"
        return "default"
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
    if context and chosen is None:
        raise ClusterError(f"context {context!r} is not in the kubeconfig")
    return str(((chosen or {}).get("context") or {}).get("namespace") or "default")


@dataclass(frozen=True)
class Controller:
    """Where the controller's Service is, as kubeseal's ``--controller-name/-namespace``.

    ``port`` is the Service port's name; None means: read it from the Service, as kubeseal.
    """

    name: str = DEFAULT_CONTROLLER_NAME
    namespace: str = DEFAULT_CONTROLLER_NAMESPACE
    port: str | None = None


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace").strip()


class KubeClient:
    """Synchronous requests to the API server with the user's credentials."""

    def __init__(self, cfg: kubernetes.client.Configuration) -> None:
        import kubernetes

        self.host = cfg.host
        self._client = kubernetes.client.ApiClient(cfg)
        self._ports: dict[Controller, str] = {}

    @classmethod
    def from_kubeconfig(cls, kubeconfig: str | None, context: str | None) -> KubeClient:
        cfg = load_configuration(kubeconfig, context)
        cfg.retries = 1  # a command line answers soon; urllib3 would try 4 times
        return cls(cfg)

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Response:
        import kubernetes
        import urllib3

        headers = {"Accept": "*/*", "Content-Type": content_type}
        try:
            request = self._client.param_serialize(
                method, path, header_params=headers, body=body, auth_settings=["BearerToken"]
            )
            response = self._client.call_api(*request, _request_timeout=(10, 60))
            data: bytes = response.read()  # type: ignore[no-untyped-call]
        except kubernetes.client.exceptions.ApiException as exc:
            raise ClusterError(f"API server {self.host}: {exc.status} {exc.reason}") from None
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            raise ClusterError(
                f"cannot reach the API server at {self.host} ({_why(exc)})"
            ) from None
        return Response(response.status, data)

    def controller(
        self, controller: Controller, method: str, path: str, body: Any = None
    ) -> Response:
        """Call the controller's HTTP API through the API server's service proxy, as kubeseal."""
        port = self.service_port(controller)
        proxy = (
            f"/api/v1/namespaces/{_q(controller.namespace)}/services/"
            f"{_q('http:' + controller.name + ':' + port)}/proxy{path}"
        )
        response = self.request(method, proxy, body)
        for _ in range(RATE_LIMITED_RETRIES):  # verify and rotate: a few per second per client
            if response.status != 429:
                break
            time.sleep(RATE_LIMITED_WAIT)
            response = self.request(method, proxy, body)
        if response.status in (404, 502, 503) and not _from_controller(response):
            raise ClusterError(
                f"cannot reach the controller {controller.namespace}/{controller.name} "
                f"({response.status}: {_status_message(response)}); check --controller-name "
                "and --controller-namespace"
            )
        return response

    def service_port(self, controller: Controller) -> str:
        """The name of the Service's first port, which kubeseal proxies to. Without the right
        to read Services, the name every upstream install uses ("http")."""
        if controller.port is not None:
            return controller.port
        if controller not in self._ports:
            service = (
                f"/api/v1/namespaces/{_q(controller.namespace)}/services/{_q(controller.name)}"
            )
            response = self.request("GET", service)
            if response.status == 403:
                self._ports[controller] = "http"
            elif response.status != 200:
                raise ClusterError(
                    f"cannot get the controller's Service {controller.namespace}/"
                    f"{controller.name} ({response.status}: {_status_message(response)}); "
                    "set --controller-name and --controller-namespace"
                )
            else:
                self._ports[controller] = _first_port_name(response)
        return self._ports[controller]


def _first_port_name(response: Response) -> str:
    try:
        ports = json.loads(response.body)["spec"]["ports"]
        return str(ports[0].get("name") or "")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise ClusterError("the controller's Service has no ports") from None


def _why(exc: Exception) -> str:
    """The root cause in a few words: "[Errno 111] Connection refused", not a class name."""
    import urllib3

    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    return str(exc).rsplit(": ", 1)[-1] or type(exc).__name__


def _q(part: str) -> str:
    return urllib.parse.quote(part, safe=":")


def _status_message(response: Response) -> str:
    try:
        data = json.loads(response.body)
    except ValueError:
        return response.text()[:200]
    return str(data.get("message", "")) if isinstance(data, dict) else ""


def _from_controller(response: Response) -> bool:
    """A Status object in the answer means the API server answered, not the controller."""
    try:
        data = json.loads(response.body)
    except ValueError:
        return True
    return not (isinstance(data, dict) and data.get("kind") == "Status")
