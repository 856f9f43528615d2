"""The Security Hub rule of template.yaml and the Security Hub normaliser decide alike.

Both hold a GuardDuty finding to GuardDutySeverityThreshold (ASFF: ``Severity.Product``,
GuardDuty's own number; OCSF "Findings Imported V2": the GuardDuty level the threshold falls
in), and both drop findings that are RESOLVED, SUPPRESSED or whose compliance check PASSED.
The rule is read from the template for each threshold, as CloudFormation would resolve it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, cast

import pytest
from moto.events.models import EventPattern

from leak_responder.domain.errors import RejectedMessageError
from leak_responder.domain.model import LeakedKey
from leak_responder.sources import normalise
from leak_sandbox.template import (
    event_rules,
    flatten_event,
    load_template,
    parameter_defaults,
    pseudo_parameters,
)
from leak_sandbox.testkit.lambda_shapes import lambda_context
from tests.handlers import load_handler
from tests.helpers import load_event
from tests.integration.conftest import HOME, Stack

ROOT = Path(__file__).resolve().parents[2]
RULE = "SecurityHubAccessKeyRule"
# As an operator may write them: CloudFormation hands the text over as given.
THRESHOLDS = ["0", "1", "2", "3.9", "4", "4.0", "4.5", "5", "6.9", "7", "7.5", "8.9", "9", "10"]
GUARDDUTY_SEVERITIES = [1.0, 2.0, 3.9, 4.0, 4.5, 5.0, 6.9, 7.0, 8.0, 8.9, 9.0, 10.0]
OCSF_LEVELS = [0, 1, 2, 3, 4, 5, 6, 99]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def _pattern(template: dict[str, Any], threshold: str | None = None) -> dict[str, Any]:
    refs = {**pseudo_parameters(), **parameter_defaults(template)}
    if threshold is not None:
        refs["GuardDutySeverityThreshold"] = threshold
    pattern: dict[str, Any] = event_rules(template, refs)[RULE]["EventPattern"]
    return pattern


def _routed(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    # moto's matcher, given EventBridge's view of arrays (see flatten_event).
    matcher = EventPattern.load(json.dumps(pattern))
    original = EventPattern.__dict__["_flatten_dict"]
    setattr(EventPattern, "_flatten_dict", staticmethod(flatten_event))  # noqa: B010
    try:
        return bool(matcher.matches_event(cast(Any, event)))
    finally:
        setattr(EventPattern, "_flatten_dict", original)  # noqa: B010


def _acted_on(event: dict[str, Any], threshold: str | None = None) -> bool:
    """Records, or the "nothing to do" rejection: never another reason."""
    kwargs = {} if threshold is None else {"guardduty_severity_threshold": float(threshold)}
    reason = ""
    try:
        return bool(normalise(copy.deepcopy(event), **kwargs))
    except RejectedMessageError as exc:
        reason = exc.reason
    assert "no open finding" in reason, reason
    return False


def _asff(product: float | None = None, **finding: Any) -> dict[str, Any]:
    event = load_event("securityhub_access_key")
    first = event["detail"]["findings"][0]
    if product is not None:
        first["Severity"]["Product"] = product
    for name, value in finding.items():
        if value is None:
            first.pop(name, None)
        else:
            first[name] = value
    return event


def _v2(severity_id: int | None = None, **finding: Any) -> dict[str, Any]:
    event = load_event("securityhub_v2_guardduty_access_key")
    first = event["detail"]["findings"][0]
    if severity_id is not None:
        first["severity_id"] = severity_id
    for name, value in finding.items():
        if value is None:
            first.pop(name, None)
        else:
            first[name] = value
    return event


# ------------------------------------------------------------------- severity threshold


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_asff_guardduty_findings_are_routed_exactly_when_acted_on(
    template: dict[str, Any], threshold: str
) -> None:
    pattern = _pattern(template, threshold)
    for severity in GUARDDUTY_SEVERITIES:
        event = _asff(severity)
        expected = severity >= float(threshold)
        assert _routed(pattern, event) is expected, (threshold, severity)
        assert _acted_on(event, threshold) is expected, (threshold, severity)


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_v2_guardduty_findings_are_routed_exactly_when_acted_on(
    template: dict[str, Any], threshold: str
) -> None:
    pattern = _pattern(template, threshold)
    routed = {level for level in OCSF_LEVELS if _routed(pattern, _v2(level))}
    acted = {level for level in OCSF_LEVELS if _normalised_level(_v2(level), threshold)}
    assert routed == acted, threshold
    # The levels acted on: from the one the threshold falls in (GuardDuty's Low 1.0-3.9,
    # Medium 4.0-6.9, High 7.0-8.9, Critical 9.0-10.0) to Fatal, never Unknown or Other.
    value = float(threshold)
    floor = 5 if value >= 9 else 4 if value >= 7 else 3 if value >= 4 else 2
    assert routed == set(range(floor, 7)), threshold


def _normalised_level(event: dict[str, Any], threshold: str) -> bool:
    try:
        return bool(normalise(event, guardduty_severity_threshold=float(threshold)))
    except RejectedMessageError:
        return False


@pytest.mark.parametrize("threshold", ["4", "9"])
def test_other_products_are_not_held_to_the_guardduty_threshold(
    template: dict[str, Any], threshold: str
) -> None:
    pattern = _pattern(template, threshold)
    asff = load_event("securityhub_other_product_low_severity")
    v2 = load_event("securityhub_v2_other_product_key_name")
    for event in (asff, v2):
        assert _routed(pattern, event)
        assert _acted_on(event, threshold)


def test_the_default_threshold_is_the_guardduty_rules(template: dict[str, Any]) -> None:
    # Given the stack's defaults, the below-threshold GuardDuty samples stay out, and the
    # GuardDuty rule uses the same parameter.
    pattern = _pattern(template)
    for name in (
        "nomatch_securityhub_guardduty_below_threshold",
        "nomatch_securityhub_v2_guardduty_below_threshold",
    ):
        assert not _routed(pattern, load_event(name)), name
        assert not _acted_on(load_event(name)), name
    guardduty = event_rules(template)["GuardDutyAccessKeyRule"]["EventPattern"]
    default = template["Parameters"]["GuardDutySeverityThreshold"]["Default"]
    assert guardduty["detail"]["severity"] == [{"numeric": [">=", default]}]


def test_the_responder_gets_the_threshold_parameter(template: dict[str, Any]) -> None:
    variables = template["Resources"]["ResponderFunction"]["Properties"]["Environment"]
    assert variables["Variables"]["GUARDDUTY_SEVERITY_THRESHOLD"] == {
        "Ref": "GuardDutySeverityThreshold"
    }


# ------------------------------------------------------------------- closed findings


@pytest.mark.parametrize(
    ("finding", "open_"),
    [
        ({"Workflow": {"Status": "NEW"}}, True),
        ({"Workflow": {"Status": "NOTIFIED"}}, True),
        ({"Workflow": {"Status": "RESOLVED"}}, False),
        ({"Workflow": {"Status": "SUPPRESSED"}}, False),
        ({"Workflow": None, "WorkflowState": None}, True),  # older findings have neither
        ({"Compliance": {"Status": "PASSED"}}, False),
        ({"Compliance": {"Status": "FAILED"}}, True),
        ({"Compliance": {"Status": "WARNING"}}, True),
        ({"Compliance": {"Status": "NOT_AVAILABLE"}}, True),
        ({"RecordState": "ARCHIVED"}, False),
    ],
)
def test_asff_closed_findings_are_neither_routed_nor_acted_on(
    template: dict[str, Any], finding: dict[str, Any], open_: bool
) -> None:
    event = _asff(**finding)
    assert _routed(_pattern(template), event) is open_
    assert _acted_on(event) is open_


@pytest.mark.parametrize(
    ("finding", "open_"),
    [
        ({"status": "New", "status_id": 1}, True),
        ({"status": "In Progress", "status_id": 2}, True),
        ({"status": "Suppressed", "status_id": 3}, False),
        ({"status": "Resolved", "status_id": 4}, False),
        ({"status": "Archived", "status_id": 5}, False),
        ({"status": None, "status_id": None}, True),
        ({"compliance": {"status": "Pass", "status_id": 1}}, False),
        ({"compliance": {"status": "Fail", "status_id": 3}}, True),
    ],
)
def test_v2_closed_findings_are_neither_routed_nor_acted_on(
    template: dict[str, Any], finding: dict[str, Any], open_: bool
) -> None:
    event = _v2(**finding)
    assert _routed(_pattern(template), event) is open_
    assert _acted_on(event) is open_


def test_v2_finding_without_an_access_key_is_not_routed(template: dict[str, Any]) -> None:
    event = _v2(resources=[{"type": "AWS::EC2::Instance", "uid": "i-0a1b2c3d4e5f60718"}])
    assert not _routed(_pattern(template), event)


# ------------------------------------------------------------------- bus to responder


@pytest.fixture
def eventbridge_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(EventPattern, "_flatten_dict", staticmethod(flatten_event))


def _put_and_receive(stack: Stack, event: dict[str, Any]) -> list[dict[str, Any]]:
    from leak_sandbox.worker import lambda_sqs_event

    entry = {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Resources": event.get("resources", []),
    }
    assert stack.client("events").put_events(Entries=[entry])["FailedEntryCount"] == 0
    sqs = stack.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=stack.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=1
    ).get("Messages", [])
    return list(lambda_sqs_event(messages, stack.queue_arn, "us-east-1")["Records"])


def test_a_v2_finding_on_the_bus_ends_with_the_key_inactive(
    stack: Stack, eventbridge_arrays: None
) -> None:
    # Given a key of ours, reported by GuardDuty through Security Hub's V2 (OCSF) events
    iam = stack.iam()
    iam.create_user(UserName="etl-runner")
    key_id = iam.create_access_key(UserName="etl-runner")["AccessKey"]["AccessKeyId"]
    event = load_event("securityhub_v2_guardduty_access_key")
    finding = event["detail"]["findings"][0]
    finding["resources"][0] = {"type": "AWS::IAM::AccessKey", "uid": key_id}
    finding["cloud"]["account"]["uid"] = HOME
    # When it is put on the default bus and the responder consumes the leak queue
    records = _put_and_receive(stack, event)
    assert len(records) == 1
    (report,) = normalise(records[0]["body"])
    assert isinstance(report, LeakedKey) and report.key_id == key_id
    handler = load_handler("responder")
    handler.responder_for.cache_clear()
    response = handler.lambda_handler({"Records": records}, lambda_context())
    # Then the key is Inactive and a replacement exists
    assert response == {"batchItemFailures": []}
    keys = iam.list_access_keys(UserName="etl-runner")["AccessKeyMetadata"]
    statuses = {k["AccessKeyId"]: k["Status"] for k in keys}
    assert statuses.pop(key_id) == "Inactive"
    assert list(statuses.values()) == ["Active"]


def test_the_responder_reads_the_threshold_from_the_template(stack: Stack) -> None:
    assert float(stack.env["GUARDDUTY_SEVERITY_THRESHOLD"]) == 4.0
