"""Security Hub findings pass the same gate as the EventBridge rule, in the normaliser too.

A GuardDuty finding imported into Security Hub is acted on only at or above the GuardDuty
severity threshold, on GuardDuty's own scale (ASFF ``Severity.Product``; for OCSF, the level
that the threshold falls in). A finding whose workflow is RESOLVED or SUPPRESSED, or whose
compliance check PASSED, is never acted on. Below the threshold is "nothing to do", like an
archived finding: skipped, never an item rejection, and a message left with nothing to act on
gets the Collector's reason, as an archived-only message does.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from leak_responder.domain.errors import InvalidKeyIdError, RejectedMessageError
from leak_responder.domain.model import LeakedKey
from leak_responder.sources import DEFAULT_GUARDDUTY_SEVERITY_THRESHOLD, normalise
from leak_responder.sources.securityhub import ocsf_severity_floor
from leak_sandbox.template import load_template
from tests.helpers import load_event

# Key IDs of the samples' shape, never real keys.
AKIA_0021 = "AKIAQ7ZSLEAKTEST0021"  # pragma: allowlist secret
AKIA_0023 = "AKIAQ7ZSLEAKTEST0023"  # pragma: allowlist secret
AKIA_0055 = "AKIAQ7ZSLEAKTEST0055"  # pragma: allowlist secret
ASIA_0024 = "ASIAQ7ZSLEAKTEST0024"  # pragma: allowlist secret
ASIA_0028 = "ASIAQ7ZSLEAKTEST0028"  # pragma: allowlist secret
ASIA_0051 = "ASIAQ7ZSLEAKTEST0051"  # pragma: allowlist secret
ASIA_0052 = "ASIAQ7ZSLEAKTEST0052"  # pragma: allowlist secret

ROOT = Path(__file__).resolve().parents[2]

ASFF_GD = "securityhub_access_key"
ASFF_GD_LOW = "nomatch_securityhub_guardduty_below_threshold"
V2_GD = "securityhub_v2_guardduty_access_key"
V2_GD_LOW = "nomatch_securityhub_v2_guardduty_below_threshold"
NOTHING_TO_DO = "no open finding has an"


def _key_ids(event: dict[str, Any], **kwargs: Any) -> list[str]:
    return [r.key_id for r in normalise(event, **kwargs) if isinstance(r, LeakedKey)]


def _asff(name: str = ASFF_GD, **finding: Any) -> dict[str, Any]:
    event = load_event(name)
    event["detail"]["findings"][0].update(finding)
    return event


def _v2(name: str = V2_GD, **finding: Any) -> dict[str, Any]:
    event = load_event(name)
    event["detail"]["findings"][0].update(finding)
    return event


def _rejected(event: dict[str, Any], **kwargs: Any) -> RejectedMessageError:
    with pytest.raises(RejectedMessageError) as caught:
        normalise(event, **kwargs)
    return caught.value


def test_default_threshold_is_the_templates() -> None:
    template = load_template(ROOT / "template.yaml")
    default = template["Parameters"]["GuardDutySeverityThreshold"]["Default"]
    assert float(default) == DEFAULT_GUARDDUTY_SEVERITY_THRESHOLD


# --- ASFF: GuardDuty's severity is Severity.Product ------------------------------------------


@pytest.mark.parametrize(
    ("product", "acted_on"), [(2.0, False), (3.9, False), (4, True), (4.0, True), (8, True)]
)
def test_guardduty_finding_is_held_to_the_threshold(product: float, acted_on: bool) -> None:
    event = _asff(Severity={"Product": product, "Label": "HIGH", "Normalized": 70})
    if acted_on:
        assert _key_ids(event) == [AKIA_0021]
    else:
        reason = _rejected(event).reason
        assert NOTHING_TO_DO in reason
        assert "below the GuardDuty severity threshold 4" in reason


def test_the_below_threshold_sample_is_nothing_to_do_not_an_invalid_item() -> None:
    error = _rejected(load_event(ASFF_GD_LOW))
    assert not isinstance(error, InvalidKeyIdError)
    assert error.reason == (
        "securityhub: no open finding has an AwsIamAccessKey resource "
        "(1 GuardDuty finding below the GuardDuty severity threshold 4)"
    )


def test_label_and_normalized_are_not_guarddutys_scale() -> None:
    # Normalized 40 and Label LOW (a real import of a severity-2 finding): Product decides.
    low = load_event(ASFF_GD_LOW)
    assert low["detail"]["findings"][0]["Severity"]["Normalized"] >= 4
    with pytest.raises(RejectedMessageError):
        normalise(low)
    high = _asff(Severity={"Product": 8, "Label": "LOW", "Normalized": 1})
    assert _key_ids(high) == [AKIA_0021]


def test_the_threshold_is_passed_in() -> None:
    low = load_event(ASFF_GD_LOW)
    assert _key_ids(low, guardduty_severity_threshold=2) == [ASIA_0028]
    assert "threshold 2.5" in _rejected(low, guardduty_severity_threshold=2.5).reason
    high = load_event(ASFF_GD)
    assert "threshold 8.5" in _rejected(high, guardduty_severity_threshold=8.5).reason


def test_guardduty_is_recognised_by_product_arn_alone() -> None:
    event = load_event(ASFF_GD_LOW)
    event["detail"]["findings"][0]["ProductName"] = "Something else"
    assert NOTHING_TO_DO in _rejected(event).reason
    event["detail"]["findings"][0]["ProductArn"] = (
        "arn:aws:securityhub:us-east-1::product/aws/inspector"
    )
    assert _key_ids(event) == [ASIA_0028]


@pytest.mark.parametrize("severity", [{}, {"Label": "HIGH"}, {"Product": "8"}, {"Product": True}])
def test_guardduty_finding_without_a_numeric_product_severity_is_rejected(
    severity: dict[str, Any],
) -> None:
    reason = _rejected(_asff(Severity=severity)).reason
    assert reason == "securityhub: GuardDuty finding without a numeric Severity.Product"


def test_below_threshold_finding_does_not_hold_back_others_and_is_not_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a custom action on a below-threshold GuardDuty finding and two above it
    event = load_event("securityhub_custom_action_multiple")
    event["detail"]["findings"].insert(0, load_event(ASFF_GD_LOW)["detail"]["findings"][0])
    # When normalised
    with caplog.at_level(logging.WARNING, logger="leak_responder.sources._common"):
        keys = _key_ids(event)
    # Then the others are reported, and the low one was not taken for a bad item
    assert keys == [AKIA_0023, ASIA_0024]
    assert caplog.text == ""


# --- ASFF: closed findings -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "field", "status"),
    [
        ("nomatch_securityhub_access_key_resolved", "Workflow", "RESOLVED"),
        ("nomatch_securityhub_access_key_suppressed", "Workflow", "SUPPRESSED"),
        ("nomatch_securityhub_compliance_passed", "Compliance", "PASSED"),
    ],
)
def test_resolved_suppressed_and_passed_findings_are_not_acted_on(
    name: str, field: str, status: str
) -> None:
    event = load_event(name)
    finding = event["detail"]["findings"][0]
    assert finding[field]["Status"] == status
    assert finding["RecordState"] == "ACTIVE"
    assert NOTHING_TO_DO in _rejected(event).reason


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Workflow", {"Status": "NEW"}),
        ("Workflow", {"Status": "NOTIFIED"}),
        ("Compliance", {"Status": "FAILED"}),
        ("Compliance", {"Status": "WARNING"}),
    ],
)
def test_open_findings_are_acted_on(field: str, value: dict[str, str]) -> None:
    assert _key_ids(_asff(**{field: value})) == [AKIA_0021]


# --- Findings Imported V2 (OCSF) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "floor"),
    [
        (0, 2), (1, 2), (3.9, 2),  # Low 1.0-3.9
        (4, 3), (4.5, 3), (6.9, 3),  # Medium 4.0-6.9
        (7, 4), (8.9, 4),  # High 7.0-8.9
        (9, 5), (10, 5),  # Critical 9.0-10.0
    ],
)  # fmt: skip
def test_ocsf_floor_is_the_level_the_threshold_falls_in(threshold: float, floor: int) -> None:
    assert ocsf_severity_floor(threshold) == floor


def test_v2_guardduty_finding_below_the_threshold_is_nothing_to_do() -> None:
    low = load_event(V2_GD_LOW)
    reason = _rejected(low).reason
    assert reason == (
        "securityhub: no open finding has an access key resource "
        "(1 GuardDuty finding below the GuardDuty severity threshold 4)"
    )
    # A threshold within GuardDuty's Low level lets the Low level through.
    assert _key_ids(low, guardduty_severity_threshold=3.5) == [ASIA_0052]


@pytest.mark.parametrize(
    ("severity_id", "acted_on"),
    [(1, False), (2, False), (3, True), (4, True), (5, True), (6, True)],
)
def test_v2_guardduty_levels_against_the_default_threshold(
    severity_id: int, acted_on: bool
) -> None:
    event = _v2(severity_id=severity_id)
    if acted_on:
        assert _key_ids(event) == [ASIA_0051]
    else:
        assert NOTHING_TO_DO in _rejected(event).reason


@pytest.mark.parametrize("severity_id", [None, 0, 99, "4", True])
def test_v2_guardduty_finding_without_a_level_is_rejected(severity_id: object) -> None:
    event = _v2(severity_id=severity_id)
    if severity_id is None:
        del event["detail"]["findings"][0]["severity_id"]
    assert _rejected(event).reason == (
        "securityhub: GuardDuty finding without a severity_id from 1 to 6"
    )


def test_v2_guardduty_is_recognised_by_product_uid_alone() -> None:
    event = load_event(V2_GD_LOW)
    event["detail"]["findings"][0]["metadata"]["product"]["name"] = "Other"
    assert NOTHING_TO_DO in _rejected(event).reason


@pytest.mark.parametrize(
    "finding",
    [
        {"status": "Resolved", "status_id": 4},
        {"status": "Suppressed", "status_id": 3},
        {"status": "Archived", "status_id": 5},
        {"status": "RESOLVED"},
        {"status_id": 4, "status": None},
        {"compliance": {"status": "Pass", "status_id": 1}},
    ],
)
def test_v2_closed_findings_are_not_acted_on(finding: dict[str, Any]) -> None:
    event = _v2(**finding)
    assert NOTHING_TO_DO in _rejected(event).reason


def test_v2_resolved_sample_is_not_acted_on() -> None:
    resolved = load_event("nomatch_securityhub_v2_access_key_resolved")
    assert NOTHING_TO_DO in _rejected(resolved).reason


@pytest.mark.parametrize(
    "finding",
    [
        {"status": "In Progress", "status_id": 2},
        {"compliance": {"status": "Fail", "status_id": 3}},
    ],
)
def test_v2_open_findings_are_acted_on(finding: dict[str, Any]) -> None:
    assert _key_ids(_v2(**finding)) == [ASIA_0051]


@pytest.mark.parametrize(
    "resource",
    [
        {"type": "AWS::IAM::AccessKey", "uid": f"AWS::IAM::AccessKey:{AKIA_0055}"},
        {"type": "AwsIamAccessKey", "uid": AKIA_0055},
        {"type": "AWS::IAM::AccessKey", "name": AKIA_0055},
        {"type": "AWS::IAM::AccessKey", "uid": "some-other-id", "name": AKIA_0055},
    ],
)
def test_v2_key_id_is_in_the_resource_uid_or_name(resource: dict[str, Any]) -> None:
    assert _key_ids(_v2(resources=[resource])) == [AKIA_0055]


def test_v2_finding_without_an_access_key_resource_is_rejected() -> None:
    event = _v2(resources=[{"type": "AWS::EC2::Instance", "uid": "i-0a1b2c3d4e5f60718"}])
    assert _rejected(event).reason == "securityhub: no open finding has an access key resource"


def test_v2_invalid_key_id_is_rejected_without_echoing_it() -> None:
    secretish = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"  # pragma: allowlist secret
    event = _v2(resources=[{"type": "AWS::IAM::AccessKey", "uid": secretish}])
    error = _rejected(event)
    assert isinstance(error, InvalidKeyIdError)
    assert secretish[:8] not in error.reason
    assert "value not shown" in error.reason


def test_v2_event_without_findings_is_rejected() -> None:
    event = load_event(V2_GD)
    event["detail"]["findings"] = []
    assert _rejected(event).reason == "securityhub: event has no findings"
