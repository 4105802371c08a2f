"""Test support: a Kubernetes API stand-in (kmock, extended) and a kopf operator harness."""

from tests.support.kubeapi import SEALEDSECRET_CRD, KubeAPI

__all__ = ["SEALEDSECRET_CRD", "KubeAPI"]
