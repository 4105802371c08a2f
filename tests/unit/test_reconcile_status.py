"""controller.reconcile.status: upstream's Synced condition (and Stalled with a failure, for
kstatus), written only on change; and
redaction of values from API messages."""

from __future__ import annotations

import base64

from controller import reconcile


def test_first_success() -> None:
    status = reconcile.status(None, 1, True, "", "T1", fingerprints=["SHA256:b", "SHA256:a"])
    assert status == {
        "observedGeneration": 1,
        "keyFingerprints": ["SHA256:a", "SHA256:b"],
        "conditions": [{"type": "Synced", "status": "True", "lastTransitionTime": "T1",
                        "lastUpdateTime": "T1"}],
    }


def test_steady_state_writes_nothing() -> None:
    current = reconcile.status(None, 1, True, "", "T1", fingerprints=["SHA256:a"])
    assert reconcile.status(current, 1, True, "", "T2", fingerprints=["SHA256:a"]) is None
    assert reconcile.status(current, 1, True, "", "T2") is None  # fingerprints unknown: kept


def test_failure_transition_and_repeat() -> None:
    ok = reconcile.status(None, 1, True, "", "T1")
    failed = reconcile.status(ok, 2, False, "boom", "T2", reason="ErrUnsealFailed")
    assert failed is not None
    (cond, stalled) = failed["conditions"]
    assert cond == {"type": "Synced", "status": "False", "reason": "ErrUnsealFailed",
                    "message": "boom", "lastTransitionTime": "T2", "lastUpdateTime": "T2"}
    assert stalled == {**cond, "type": "Stalled", "status": "True"}  # kstatus: Failed
    assert failed["observedGeneration"] == 2
    assert reconcile.status(failed, 2, False, "boom", "T3", reason="ErrUnsealFailed") is None
    other = reconcile.status(failed, 2, False, "bang", "T3", reason="ErrUnsealFailed")
    assert other is not None
    assert other["conditions"][0]["lastTransitionTime"] == "T2"  # still False: no transition
    assert other["conditions"][0]["lastUpdateTime"] == "T3"


def test_stalled_goes_with_recovery_and_comes_with_an_upgrade() -> None:
    failed = reconcile.status(None, 1, False, "boom", "T1", reason="ErrUnsealFailed")
    recovered = reconcile.status(failed, 1, True, "", "T2")
    assert recovered is not None
    assert [c["type"] for c in recovered["conditions"]] == ["Synced"]
    # written by a version without Stalled: rewritten once with it
    old = {"observedGeneration": 1, "conditions": [failed["conditions"][0]]}  # type: ignore[index]
    again = reconcile.status(old, 1, False, "boom", "T3", reason="ErrUnsealFailed")
    assert again is not None and [c["type"] for c in again["conditions"]] == ["Synced", "Stalled"]


def test_other_conditions_are_kept() -> None:
    current = {"conditions": [{"type": "Ready", "status": "True"}]}
    status = reconcile.status(current, 1, True, "", "T")
    assert status is not None
    assert [c["type"] for c in status["conditions"]] == ["Synced", "Ready"]


def test_redact() -> None:
    secret = {"data": {"a": base64.b64encode(b"hunter2").decode(), "b": "AA=="}}
    message = f"invalid value {secret['data']['a']} or hunter2; tiny \x00 kept"
    expected = "invalid value [redacted] or [redacted]; tiny \x00 kept"
    assert reconcile.redact(message, secret) == expected
