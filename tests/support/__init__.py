"""Test support: a Kubernetes API stand-in (kmock, extended) and a kopf operator harness.

See tests/support/README.md.
"""

from tests.support.kopf_harness import OperatorThread, attach_login, quick_settings
from tests.support.kubeapi import SEALEDSECRET_CRD, HttpResult, KubeAPI

__all__ = ["SEALEDSECRET_CRD", "HttpResult", "KubeAPI", "OperatorThread", "attach_login",
           "quick_settings"]
