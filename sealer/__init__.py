"""sealer: Kubernetes Secrets safe to keep in Git, wire-compatible with Bitnami Sealed Secrets."""

__version__ = "0.1.0"
